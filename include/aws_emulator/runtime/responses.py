"""InvokeEndpoint on the emulator: raw image bytes in, the served stand-in model's class probabilities out.

moto's runtime utf-8-decodes the body (a PNG crashes it) and answers from a queue of canned results; here the
body stays raw and the endpoint's own model answers, as the built-in algorithm's endpoint does.
"""

from __future__ import annotations

import json
import random
import time

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import JsonRESTError
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from aws_emulator import ic_algorithm
from aws_emulator.sagemaker import endpoint_metrics
from aws_emulator.sagemaker.models import RuntimeValidationError

IMAGE_CONTENT_TYPES = {"application/x-image", "image/png", "image/jpeg"}


class ModelError(JsonRESTError):
    """What a real endpoint returns when the container rejects the request (HTTP 424)."""

    code = 424

    def __init__(self, original_status: int, message: str, endpoint: str, account_id: str, region: str) -> None:
        full = (
            f'Received client error ({original_status}) from primary with message "{message}". See '
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:"
            f"group=/aws/sagemaker/Endpoints/{endpoint} in account {account_id} for more information."
        )
        super().__init__("ModelError", full)
        body = json.loads(self.description)
        body.update(
            {
                "OriginalStatusCode": original_status,
                "OriginalMessage": message,
                "LogStreamArn": f"arn:aws:logs:{region}:{account_id}:log-group:/aws/sagemaker/Endpoints/{endpoint}",
            }
        )
        self.description = json.dumps(body)


class ValidationError(JsonRESTError):
    """The runtime's own ValidationError shape (not SageMaker's ValidationException), HTTP 400: what
    ``runtime.exceptions.ValidationError`` catches on AWS."""

    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("ValidationError", message)


class EmulatorRuntimeResponse(SageMakerRuntimeResponse):
    use_raw_body = True  # image bytes are not text

    def invoke_endpoint(self) -> TYPE_RESPONSE:
        from moto.sagemaker import models

        endpoint_name = self.path.split("/")[2]
        backend = models.sagemaker_backends[self.current_account][self.region]
        try:
            variant, model, config = backend.served_by(
                endpoint_name, self.headers.get("X-Amzn-SageMaker-Target-Variant")
            )
        except RuntimeValidationError as err:
            raise ValidationError(str(err)) from None

        def published(status: int, latency_us: float = 0.0) -> None:
            endpoint_metrics.publish_invocation(
                self.current_account,
                self.region,
                endpoint=endpoint_name,
                variant=variant,
                config=config,
                model_latency_us=latency_us,
                status=status,
            )

        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in IMAGE_CONTENT_TYPES:
            published(415)
            raise ModelError(
                415,
                f"Content type {content_type or '(none)'} is not supported by this algorithm; "
                f"use application/x-image, image/png or image/jpeg.",
                endpoint_name,
                self.current_account,
                self.region,
            )
        behaviour = backend.config_behaviour.get(config) or {}
        if random.random() < behaviour.get("error_rate", 0.0):  # an injected bad model (control API)
            published(500)
            raise ModelError(
                500,
                "Internal server error (emulator fault injection: this endpoint config's model fails).",
                endpoint_name,
                self.current_account,
                self.region,
            )
        body = self.body if isinstance(self.body, (bytes, bytearray)) else str(self.body or "").encode()
        began = time.perf_counter()
        try:
            probabilities = model.predict(bytes(body))
        except ic_algorithm.InvalidModelInput as err:
            published(400)
            raise ModelError(
                400,
                f"Unable to decode the request body as an image: {err}",
                endpoint_name,
                self.current_account,
                self.region,
            ) from None
        latency_us = (time.perf_counter() - began) * 1e6 + behaviour.get("latency_ms", 0.0) * 1000.0
        published(200, latency_us)
        headers = {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": variant}
        answer = json.dumps(probabilities)
        backend.capture(endpoint_name, variant, content_type, bytes(body), answer)
        return 200, headers, answer
