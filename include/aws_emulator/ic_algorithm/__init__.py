"""A small, honest STAND-IN for the SageMaker built-in image-classification algorithm (MLE on AWS, chapter 6).

This is NOT the SageMaker algorithm. The real one trains a ResNet with MXNet on GPUs; this package trains a numpy
softmax regression over pixel and blurred-pixel features on the CPU, in milliseconds. What it does reproduce is the
algorithm's *contract*, so that the emulator's training jobs and endpoints exercise the pipeline's real code paths:

* hyperparameters (names, defaults, documented ranges; ``num_classes`` and ``num_training_samples`` required),
* the four image-format channels (``train``, ``validation``, ``train_lst``, ``validation_lst``) and the ``.lst``
  format, plus the optional ``model`` channel for incremental training,
* the failures a user can cause (``ClientError: ...`` FailureReasons naming the field, file or line at fault),
* the model.tar.gz layout (symbol JSON, ``.params``, ``model-shapes.json``; every file says it is a stand-in),
* per-epoch checkpoints for managed spot training, and resuming from them,
* inference: one PNG/JPEG in, a list of per-class probabilities out.

Its accuracy says nothing about the real algorithm's. No pickle is used anywhere (``.npz`` with
``allow_pickle=False`` and JSON), and nothing here talks to AWS.

Modules: :mod:`.contract` (hyperparameters, channels, .lst), :mod:`.images` (decode, crop, resize),
:mod:`.model` (the classifier, artifact layout, inference), :mod:`.optimizers` (sgd/nag/adam/rmsprop, lr schedule),
:mod:`.trainer` (epoch loop, checkpoints, warm start), :mod:`.serialization` (deterministic npz/tar.gz/JSON).
"""

from .contract import JobConfig, parse_hyperparameters
from .errors import AlgorithmError, InvalidModelInput, ModelLoadError
from .model import STAND_IN_NOTICE, StandInModel, load_model
from .trainer import EpochReport, TrainResult, train

__all__ = [
    "STAND_IN_NOTICE",
    "AlgorithmError",
    "EpochReport",
    "InvalidModelInput",
    "JobConfig",
    "ModelLoadError",
    "StandInModel",
    "TrainResult",
    "load_model",
    "parse_hyperparameters",
    "train",
]
