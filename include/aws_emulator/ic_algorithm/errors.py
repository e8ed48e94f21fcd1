"""Exceptions raised by the stand-in image-classification algorithm.

``str(AlgorithmError)`` is meant to be used verbatim as a training job's ``FailureReason``. It follows SageMaker's
convention for built-in algorithms:

* ``ClientError: ...`` when the job's own input is at fault (hyperparameters, channels, .lst files, images, base model),
* ``AlgorithmError: ...`` when the job is fine but this stand-in cannot do what the real algorithm would
  (for example RecordIO input or ``multi_label=1``), so the emulator's limits are never blamed on the user.
"""

from __future__ import annotations

__all__ = ["AlgorithmError", "InvalidModelInput", "ModelLoadError", "client_error", "stand_in_limitation"]


class AlgorithmError(Exception):
    """The training job fails; ``str(e)`` is its FailureReason."""


class ModelLoadError(AlgorithmError):
    """A model.tar.gz is not an artifact of this stand-in, or it is corrupt."""


class InvalidModelInput(Exception):
    """An inference request body is not a decodable PNG/JPEG image (the endpoint answers with a ModelError)."""


def client_error(message: str) -> AlgorithmError:
    return AlgorithmError(f"ClientError: {message}")


def stand_in_limitation(message: str) -> AlgorithmError:
    return AlgorithmError(
        f"AlgorithmError: {message} (a limitation of the aws_emulator stand-in, not of the SageMaker algorithm)"
    )
