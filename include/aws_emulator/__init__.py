"""A local AWS emulator for this project: moto's server, extended where moto is thin for SageMaker work.

It speaks the real AWS wire protocols for S3, SageMaker, SageMaker Runtime, CloudWatch Logs, STS, IAM and Service
Quotas on 127.0.0.1, so the DAGs run unchanged against it with only the Airflow connection's ``endpoint_url``.

Training jobs for the built-in image-classification image really train a small numpy STAND-IN model
(:mod:`aws_emulator.ic_algorithm`). It is not the SageMaker algorithm (no ResNet, no MXNet): it honours the
algorithm's contract (channels, .lst files, hyperparameters, artifacts, checkpoints) so the pipeline's code paths
are real, and its accuracy says nothing about the real algorithm's.

Batch transform jobs (:mod:`aws_emulator.sagemaker.transform`) run the same stand-in over S3 objects and write the
algorithm's ``.out`` format; their predictions equal the stand-in endpoint's on the same images, and are the
stand-in's, not the real algorithm's. CloudWatch (:mod:`aws_emulator.cloudwatch`) keeps custom metrics with AWS's
documented limits, evaluates alarms from the data, and receives endpoints' ``Invocations`` per variant.

Never imported by DAG code; never shipped to MWAA.
"""
