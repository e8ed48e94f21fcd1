"""Plugs the emulator's backends into moto, the way moto registers its own: one BackendDict per service.

moto looks a service's backends up by attribute (``moto.<service>.<name>_backends``) and its URLs
in the ``urls`` module beside the backend class; replacing the attribute with a BackendDict of our subclass is
all it takes. Idempotent.
"""

from __future__ import annotations

from moto.core.base_backend import BackendDict

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    import moto.cloudwatch
    import moto.cloudwatch.models
    import moto.cloudwatch.responses
    import moto.iam
    import moto.iam.models
    import moto.iam.responses
    import moto.sagemaker
    import moto.sagemaker.models
    import moto.sagemakerruntime
    import moto.sagemakerruntime.models
    import moto.servicequotas
    import moto.servicequotas.models

    from aws_emulator.cloudwatch.models import EmulatorCloudWatchBackend
    from aws_emulator.iam.models import EmulatorIamBackend
    from aws_emulator.quotas.models import EmulatorServiceQuotasBackend
    from aws_emulator.runtime.models import EmulatorRuntimeBackend
    from aws_emulator.sagemaker.models import EmulatorSageMakerBackend

    replacements = [
        (moto.cloudwatch, "cloudwatch_backends", BackendDict(EmulatorCloudWatchBackend, "cloudwatch")),
        (moto.sagemaker, "sagemaker_backends", BackendDict(EmulatorSageMakerBackend, "sagemaker")),
        (moto.sagemakerruntime, "sagemakerruntime_backends", BackendDict(EmulatorRuntimeBackend, "sagemaker-runtime")),
        (moto.servicequotas, "servicequotas_backends", BackendDict(EmulatorServiceQuotasBackend, "service-quotas")),
        (
            moto.iam,
            "iam_backends",
            BackendDict(
                EmulatorIamBackend, "iam", use_boto3_regions=False, additional_regions=moto.iam.models.PARTITION_NAMES
            ),
        ),
    ]
    for package, attribute, backends in replacements:
        # moto.backends.get_backend() reads the package attribute; moto's own code reads the models module's.
        setattr(package, attribute, backends)
        setattr(package.models, attribute, backends)
    moto.cloudwatch.responses.cloudwatch_backends = moto.cloudwatch.cloudwatch_backends  # bound at its import
    moto.iam.responses.iam_backends = moto.iam.iam_backends  # bound at its import (moto's other IAM responses)
    _installed = True
