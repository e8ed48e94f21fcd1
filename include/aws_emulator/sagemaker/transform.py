"""Batch transform jobs on the emulator, run for real with the image-classification stand-in model.

moto 5.2.5 stores a transform job as ``Completed`` the moment it is created, reads nothing and writes nothing, and
has no StopTransformJob. Here a job is checked as CreateTransformJob documents it (before anything is created),
then a thread walks it through SageMaker's states — ``InProgress`` → ``Completed``, or ``Failed`` with a
``FailureReason``, or ``Stopping`` → ``Stopped`` — loading the model's artifact as the algorithm's container does
and writing, for every input object, ``<S3OutputPath>/<path under the input prefix>.out``.

The image-classification algorithm's batch transform contract, as the emulator applies it:

* ``ContentType`` ``application/x-image`` (or ``image/png``/``image/jpeg``) with ``SplitType`` ``None``: each
  object is one image; its ``.out`` holds the class-probability list as JSON (``[p0, ..., p9]``), or
  ``{"prediction": [...]}`` with ``Accept: application/jsonlines``. ``BatchStrategy`` has no effect without a
  split, as the API reference says.
* ``ContentType`` ``application/x-recordio`` with ``SplitType`` ``RecordIO``: each MXNet RecordIO record (an
  IRHeader and an encoded image) is one inference; the ``.out`` holds one answer per record, a newline after each
  with ``AssembleWith: Line``. ``SingleRecord`` and ``MultiRecord`` give the same answers (mini-batches only change
  the number of HTTP calls inside the instance).
* anything else (a split of images by lines, a join with the input, an input/output filter on images, an Accept
  the algorithm does not produce) fails the job with a ``ClientError`` reason, as the container's 4xx would.

Billing on AWS runs from ``TransformStartTime`` to ``TransformEndTime`` (instances x that time); the emulator
sets both, so a cost is derivable per job as for training's ``BillableTimeInSeconds``.
"""

from __future__ import annotations

import gzip
import json
import logging
import struct
import threading
import time
import zlib
from datetime import UTC, datetime
from typing import Any, Protocol

from moto.core.utils import utcnow
from moto.sagemaker.models import FakeTransformJob

from aws_emulator import ic_algorithm
from aws_emulator.quotas.models import quota_value, transform_quota_name
from aws_emulator.sagemaker.contract import IC_REPOSITORY, is_image_classification
from aws_emulator.sagemaker.exceptions import ResourceInUseException, ValidationError, quota_exceeded
from aws_emulator.settings import SETTINGS
from aws_emulator.storage import LogWriter, S3Store, split_s3_uri


class TransformBackend(Protocol):
    """What a transform run needs of the SageMaker backend (models.py hands itself down; no import back)."""

    account_id: str
    region_name: str
    _models: dict[str, Any]
    transform_jobs: dict[str, Any]


log = logging.getLogger(__name__)

TERMINAL = ("Completed", "Failed", "Stopped")
HOLD_POLL_SECONDS = 0.02  # how often a held job looks whether Settings.hold_transform_jobs was cleared
IMAGE_TYPES = ("application/x-image", "image/png", "image/jpeg")
RECORDIO = "application/x-recordio"
ACCEPTS = ("application/json", "application/jsonlines")
# "Both CPU (such as C4) and GPU (P2, P3, G4dn, or G5) instances can be used for inference" (the algorithm's doc);
# the CPU families the doc and the SDK's examples use for this algorithm's inference.
IC_INFERENCE_FAMILIES = ("ml.c4.", "ml.c5.", "ml.m4.", "ml.m5.", "ml.p2.", "ml.p3.", "ml.g4dn.", "ml.g5.")
MAX_PAYLOAD_MB = 100
DEFAULT_PAYLOAD_MB = 6
RECORDIO_MAGIC = 0xCED7230A
_IR_HEADER = struct.Struct("<IfQQ")


class JobFailure(Exception):
    """Ends the job as Failed with this reason."""


class TransformLogWriter(LogWriter):
    GROUP = "/aws/sagemaker/TransformJobs"


# -- the request, checked before anything is created ------------------------------------------------------------
def _transform_arn(name: str, account_id: str, region: str) -> str:
    return FakeTransformJob.arn_formatter(name, account_id, region)


def validate_request(backend: TransformBackend, request: dict[str, Any]) -> None:
    """What CreateTransformJob refuses (the service model's shapes were checked already by the response layer)."""
    name = request["TransformJobName"]
    if name in backend.transform_jobs:
        arn = _transform_arn(name, backend.account_id, backend.region_name)
        raise ResourceInUseException(
            message=f"Job name must be unique within an AWS account and region, and a job with this name already "
            f"exists ({arn})"
        )
    model_name = request["ModelName"]
    if model_name not in backend._models:
        from moto.sagemaker.utils import arn_formatter

        arn = arn_formatter("model", model_name, backend.account_id, backend.region_name)
        raise ValidationError(message=f'Could not find model "{arn}".')
    resources = request["TransformResources"]
    instance_type = resources["InstanceType"]
    model = backend._models[model_name]
    container = model.primary_container or (model.containers[0] if model.containers else {})
    if is_image_classification(container.get("Image", "")) and not instance_type.startswith(IC_INFERENCE_FAMILIES):
        raise ValidationError(
            message=f"Instance type {instance_type} is not supported by algorithm {IC_REPOSITORY} for batch "
            "transform; use a CPU (ml.c4, ml.c5, ml.m4, ml.m5) or GPU (ml.p2, ml.p3, ml.g4dn, ml.g5) instance type."
        )
    if int(resources["InstanceCount"]) > 100:
        raise ValidationError(message="TransformResources.InstanceCount must be at most 100.")
    quota = transform_quota_name(instance_type)
    limit = quota_value(quota)
    in_use = sum(
        int(job.transform_resources.get("InstanceCount", 1))
        for job in backend.transform_jobs.values()
        if job.transform_job_status not in TERMINAL and job.transform_resources.get("InstanceType") == instance_type
    )
    if in_use + int(resources["InstanceCount"]) > limit:
        raise quota_exceeded(quota, limit, in_use, int(resources["InstanceCount"]))
    payload = request.get("MaxPayloadInMB")
    concurrent = request.get("MaxConcurrentTransforms")
    if payload is not None:
        if int(payload) > MAX_PAYLOAD_MB:
            raise ValidationError(message=f"MaxPayloadInMB must be at most {MAX_PAYLOAD_MB} MB; got {payload}.")
        if int(payload) == 0:
            raise ValidationError(
                message="MaxPayloadInMB 0 (HTTP chunked encoding) is not supported by Amazon SageMaker built-in "
                f"algorithms ({IC_REPOSITORY}); set a size of 1 to {MAX_PAYLOAD_MB} MB."
            )
    if concurrent and int(concurrent) * int(payload or DEFAULT_PAYLOAD_MB) > MAX_PAYLOAD_MB:
        raise ValidationError(
            message=f"MaxConcurrentTransforms * MaxPayloadInMB must be at most {MAX_PAYLOAD_MB} MB; got "
            f"{concurrent} * {payload or DEFAULT_PAYLOAD_MB} = {int(concurrent) * int(payload or DEFAULT_PAYLOAD_MB)}."
        )
    source = request["TransformInput"]["DataSource"]["S3DataSource"]
    if source["S3DataType"] not in ("S3Prefix", "ManifestFile"):
        raise ValidationError(
            message=f"S3DataType {source['S3DataType']} is not compatible with batch transform; use S3Prefix or "
            "ManifestFile."
        )
    for field, uri in (
        ("TransformInput.DataSource.S3DataSource.S3Uri", source["S3Uri"]),
        ("TransformOutput.S3OutputPath", request["TransformOutput"]["S3OutputPath"]),
        *(
            [("DataCaptureConfig.DestinationS3Uri", request["DataCaptureConfig"]["DestinationS3Uri"])]
            if request.get("DataCaptureConfig")
            else []
        ),
    ):
        try:
            split_s3_uri(uri)
        except ValueError:
            raise ValidationError(message=f"{field} must be an s3:// URI; got {uri!r}.") from None
    for tag in request.get("Tags") or []:
        if tag["Key"].lower().startswith("aws:"):
            raise ValidationError(
                message=f"Tag key {tag['Key']!r} uses the reserved prefix 'aws:', which is for AWS use only."
            )
    keys = [tag["Key"] for tag in request.get("Tags") or []]
    if len(keys) != len(set(keys)):
        raise ValidationError(message="Tag keys must be unique per resource; the request repeats a key.")


# -- MXNet RecordIO ---------------------------------------------------------------------------------------------
def recordio_records(data: bytes) -> list[bytes]:
    """The payloads of an MXNet RecordIO file (magic, flag+length word, payload padded to 4 bytes)."""
    records, offset = [], 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise JobFailure("ClientError: the RecordIO input ends inside a record header.")
        magic, word = struct.unpack_from("<II", data, offset)
        if magic != RECORDIO_MAGIC:
            raise JobFailure(f"ClientError: invalid RecordIO magic number at byte {offset}; is the input RecordIO?")
        length = word & ((1 << 29) - 1)
        start = offset + 8
        if start + length > len(data):
            raise JobFailure("ClientError: the RecordIO input ends inside a record.")
        records.append(data[start : start + length])
        offset = start + length + (-length % 4)
    return records


def recordio_image(record: bytes) -> bytes:
    """The encoded image of one ``im2rec`` record: an IRHeader, ``flag`` extra float labels, then the image."""
    if len(record) < _IR_HEADER.size:
        raise ic_algorithm.InvalidModelInput("record shorter than its IRHeader")
    flag = _IR_HEADER.unpack_from(record)[0]
    return record[_IR_HEADER.size + 4 * flag :]


def pack_recordio(images: list[bytes], labels: list[float] | None = None) -> bytes:
    """An MXNet RecordIO file of the given encoded images (what ``im2rec`` writes); for tests and tools."""
    out = bytearray()
    for i, image in enumerate(images):
        payload = _IR_HEADER.pack(0, float((labels or [0.0] * len(images))[i]), i, 0) + image
        out += struct.pack("<II", RECORDIO_MAGIC, len(payload)) + payload + b"\0" * (-len(payload) % 4)
    return bytes(out)


# -- one job's life ---------------------------------------------------------------------------------------------
class TransformRun:
    """Drives one FakeTransformJob from InProgress to Completed, Failed or Stopped in a background thread."""

    def __init__(self, backend: TransformBackend, job: FakeTransformJob) -> None:
        self.backend = backend
        self.job = job
        self.s3 = S3Store(backend.account_id, backend.region_name)
        self._stop = threading.Event()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"transform-{job.transform_job_name}", daemon=True)
        self.logs: TransformLogWriter | None = None
        # taken at create time, so "the next job" is the next one created, whichever thread runs first
        self.injected_failure = SETTINGS.take_transform_failure()

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _log(self, message: str) -> None:
        if self.logs is not None:
            self.logs.write(message)

    def _finish(self, status: str, reason: str | None = None) -> None:
        if self._cancelled.is_set():
            return
        now = utcnow()
        if self.job.transform_start_time is None:
            self.job.transform_start_time = now
        self.job.transform_end_time = now
        self.job.failure_reason = reason[:1024] if reason else None
        self.job.transform_job_status = status
        self.job.last_modified_time = now

    def _run(self) -> None:
        try:
            self._work()
        except JobFailure as err:
            self._log(str(err))
            self._finish("Failed", str(err))
        except _Stopped:
            # the instances let go of the job as long as they took to start: Stopping is seen meanwhile
            threading.Event().wait(SETTINGS.snapshot().starting_seconds)
            self._finish("Stopped")
        except Exception as err:  # a bug in the emulator must end the job, not hang it
            log.exception("transform job %s crashed", self.job.transform_job_name)
            self._finish("Failed", f"InternalServerError: the emulator failed: {err}")

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise _Stopped

    def _work(self) -> None:
        settings = SETTINGS.snapshot()
        if self._stop.wait(settings.starting_seconds):  # instances start
            raise _Stopped
        while SETTINGS.snapshot().hold_transform_jobs:  # still starting until the control API lets them go
            if self._stop.wait(HOLD_POLL_SECONDS):
                raise _Stopped
        job = self.job
        self.job.transform_start_time = utcnow()  # billing starts once instances run
        self.logs = TransformLogWriter(
            self.backend.account_id,
            self.backend.region_name,
            job.transform_job_name,
            int(job.transform_resources.get("InstanceCount", 1)),
        )
        self._log(f"[emulator] {ic_algorithm.STAND_IN_NOTICE}")
        if self.injected_failure is not None:
            raise JobFailure(self.injected_failure)
        model = self._load_model()
        inputs = self._inputs()
        spec = _Spec.of(job)
        for uri, relative in inputs:
            self._check_stop()
            started = time.perf_counter()
            body = self._answer(model, spec, uri, self._read(uri, spec))
            self._check_stop()
            self.s3.write(self._output_uri(relative), body)
            self._log(f"{relative}: transformed in {1000 * (time.perf_counter() - started):.1f} ms")
        if self._stop.wait(settings.uploading_seconds):
            raise _Stopped
        self._finish("Completed")

    def _load_model(self) -> ic_algorithm.StandInModel:
        model = self.backend._models.get(self.job.model_name)
        if model is None:
            raise JobFailure(f"ClientError: the model {self.job.model_name} was deleted before the job started.")
        container = model.primary_container or (model.containers[0] if model.containers else {})
        image = container.get("Image", "")
        if not is_image_classification(image):
            raise JobFailure(
                f"AlgorithmError: the local emulator runs only the {IC_REPOSITORY} stand-in model, not {image!r}."
            )
        data_url = container.get("ModelDataUrl", "")
        try:
            return ic_algorithm.load_model(self.s3.read(data_url))
        except KeyError:
            raise JobFailure(f"ClientError: Failed to download model data from {data_url}: no such object.") from None
        except ic_algorithm.AlgorithmError as err:
            raise JobFailure(f"AlgorithmError: the model at {data_url} could not be loaded: {err}") from None

    def _inputs(self) -> list[tuple[str, str]]:
        """(object URI, path relative to the input prefix) of every object the job transforms."""
        source = self.job.transform_input["DataSource"]["S3DataSource"]
        uri = source["S3Uri"]
        if source["S3DataType"] == "ManifestFile":
            return self._manifest(uri)
        bucket, prefix = split_s3_uri(uri)
        keys = self.s3.keys_under(uri)
        if not keys:
            raise JobFailure(
                f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure '
                "that the bucket exists in the selected region, that objects exist under that S3 prefix, and that "
                "the role has s3:ListBucket permissions."
            )
        base = prefix if prefix.endswith("/") or not prefix else prefix.rsplit("/", 1)[0] + "/"
        if prefix and not prefix.endswith("/") and any(k.startswith(prefix + "/") for k in keys):
            base = prefix + "/"  # s3://b/holdout (a folder): keep the paths below it
        return [(f"s3://{bucket}/{key}", key[len(base) :] if key.startswith(base) else key) for key in keys]

    def _manifest(self, uri: str) -> list[tuple[str, str]]:
        try:
            entries = json.loads(self.s3.read(uri))
            root = entries[0]["prefix"]
            files = [str(e) for e in entries[1:]]
        except KeyError:
            raise JobFailure(f"ClientError: the manifest file {uri} does not exist.") from None
        except (ValueError, TypeError, IndexError):
            raise JobFailure(
                f'ClientError: the manifest {uri} is not a JSON list of {{"prefix": ...}} and relative paths.'
            ) from None
        out = []
        for relative in files:
            object_uri = root.rstrip("/") + "/" + relative.lstrip("/")
            if not self.s3.object_exists(object_uri):
                raise JobFailure(f"ClientError: the manifest lists {object_uri}, which does not exist.")
            out.append((object_uri, relative.lstrip("/")))
        return out

    def _read(self, uri: str, spec: _Spec) -> bytes:
        data = self.s3.read(uri)
        if spec.compression == "Gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                raise JobFailure(f"ClientError: {uri} is not gzip data (CompressionType is Gzip).") from None
        return data

    def _answer(self, model: ic_algorithm.StandInModel, spec: _Spec, uri: str, data: bytes) -> bytes:
        if spec.content_type == RECORDIO:
            if spec.split != "RecordIO":
                raise JobFailure(
                    f"ClientError: {uri}: application/x-recordio input needs SplitType RecordIO (got "
                    f"{spec.split}); the algorithm answers one record per inference."
                )
            images = [recordio_image(record) for record in recordio_records(data)]
        else:
            if spec.split != "None":
                raise JobFailure(
                    f"ClientError: {uri}: SplitType {spec.split} cuts an {spec.content_type} object into pieces "
                    "that are not images; use SplitType None (each object is one image)."
                )
            images = [data]
        answers = []
        for index, image in enumerate(images):
            if len(image) > spec.max_payload_bytes:
                raise JobFailure(
                    f"ClientError: {uri}: a record of {len(image)} bytes exceeds MaxPayloadInMB "
                    f"({spec.max_payload_bytes // 2**20} MB)."
                )
            try:
                probabilities = model.predict(image)
            except ic_algorithm.InvalidModelInput as err:
                where = f" (record {index})" if spec.content_type == RECORDIO else ""
                raise JobFailure(
                    f"ClientError: {uri}{where}: the algorithm could not decode the input as an image: {err}"
                ) from None
            answers.append(
                json.dumps({"prediction": probabilities} if spec.accept == "application/jsonlines" else probabilities)
            )
        separator = "\n" if spec.assemble == "Line" else ""
        return "".join(answer + separator for answer in answers).encode()

    def _output_uri(self, relative: str) -> str:
        return self.job.transform_output["S3OutputPath"].rstrip("/") + "/" + relative + ".out"


class _Stopped(Exception):
    pass


class _Spec:
    """The job's input/output settings, checked against what the algorithm supports when the job starts."""

    def __init__(self, job: FakeTransformJob) -> None:
        transform_input, output = job.transform_input, job.transform_output
        self.content_type = (transform_input.get("ContentType") or "application/x-image").split(";")[0].strip()
        self.split = transform_input.get("SplitType") or "None"
        self.compression = transform_input.get("CompressionType") or "None"
        self.accept = (output.get("Accept") or "application/json").split(";")[0].strip()
        self.assemble = output.get("AssembleWith") or "None"
        self.max_payload_bytes = int(job.max_payload_in_mb or DEFAULT_PAYLOAD_MB) * 2**20
        processing = job.data_processing or {}
        if self.content_type not in (*IMAGE_TYPES, RECORDIO):
            raise JobFailure(
                f"ClientError: ContentType {self.content_type} is not supported by the {IC_REPOSITORY} algorithm; "
                f"use {', '.join(IMAGE_TYPES)} or {RECORDIO}."
            )
        if self.accept not in ACCEPTS:
            raise JobFailure(
                f"ClientError: Accept {self.accept} is not supported by the {IC_REPOSITORY} algorithm; use "
                f"{' or '.join(ACCEPTS)}."
            )
        if processing.get("JoinSource", "None") == "Input":
            raise JobFailure(
                "ClientError: DataProcessing.JoinSource Input joins the input with the output for JSON, JSON Lines "
                f"or CSV input only; {self.content_type} cannot be joined. Leave JoinSource None."
            )
        for key in ("InputFilter", "OutputFilter"):
            if processing.get(key, "$") != "$":
                raise JobFailure(
                    f"ClientError: DataProcessing.{key} {processing[key]!r} filters JSON or CSV records; "
                    f"{self.content_type} input can only use the default '$'."
                )

    @classmethod
    def of(cls, job: FakeTransformJob) -> _Spec:
        return cls(job)


# -- describe and list ------------------------------------------------------------------------------------------
_REQUEST_MEMBERS = {
    "model_name": "ModelName",
    "max_concurrent_transforms": "MaxConcurrentTransforms",
    "model_client_config": "ModelClientConfig",
    "max_payload_in_mb": "MaxPayloadInMB",
    "batch_strategy": "BatchStrategy",
    "environment": "Environment",
    "transform_input": "TransformInput",
    "transform_output": "TransformOutput",
    "data_capture_config": "DataCaptureConfig",
    "transform_resources": "TransformResources",
    "data_processing": "DataProcessing",
    "experiment_config": "ExperimentConfig",
}


def describe(job: FakeTransformJob) -> dict[str, Any]:
    """DescribeTransformJob as AWS answers it: only what was set, with the defaults AWS fills in."""
    response: dict[str, Any] = {
        "TransformJobName": job.transform_job_name,
        "TransformJobArn": job.arn,
        "TransformJobStatus": job.transform_job_status,
        "CreationTime": job.creation_time,
    }
    for attribute, member in _REQUEST_MEMBERS.items():
        value = getattr(job, attribute, None)
        if value not in (None, {}, []):
            response[member] = value
    response.setdefault("MaxConcurrentTransforms", 1)
    response.setdefault("MaxPayloadInMB", DEFAULT_PAYLOAD_MB)
    transform_input = response["TransformInput"]
    transform_input.setdefault("CompressionType", "None")
    transform_input.setdefault("SplitType", "None")
    response["TransformOutput"].setdefault("AssembleWith", "None")
    for key in ("TransformStartTime", "TransformEndTime", "LastModifiedTime"):
        value = getattr(job, _snake(key), None)
        if value is not None:
            response[key] = value
    if job.failure_reason:
        response["FailureReason"] = job.failure_reason
    return response


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def summary(job: FakeTransformJob) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TransformJobName": job.transform_job_name,
        "TransformJobArn": job.arn,
        "CreationTime": job.creation_time,
        "TransformJobStatus": job.transform_job_status,
    }
    if job.transform_end_time is not None:
        out["TransformEndTime"] = job.transform_end_time
    if job.last_modified_time is not None:
        out["LastModifiedTime"] = job.last_modified_time
    if job.failure_reason:
        out["FailureReason"] = job.failure_reason
    return out


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(float(value), tz=UTC).replace(tzinfo=None)  # JSON protocol: epoch seconds


def list_jobs(jobs: list[FakeTransformJob], params: dict[str, Any]) -> dict[str, Any]:
    """ListTransformJobs: the filters, SortBy (default CreationTime), SortOrder (default Descending), MaxResults
    (default 10), NextToken — what a waiter, an operator's name check and a reaper page through."""
    selected = list(jobs)
    if params.get("NameContains"):
        selected = [j for j in selected if params["NameContains"] in j.transform_job_name]
    if params.get("StatusEquals"):
        selected = [j for j in selected if j.transform_job_status == params["StatusEquals"]]
    bounds = (
        ("CreationTimeAfter", "creation_time", lambda v, b: v > b),
        ("CreationTimeBefore", "creation_time", lambda v, b: v < b),
        ("LastModifiedTimeAfter", "last_modified_time", lambda v, b: v > b),
        ("LastModifiedTimeBefore", "last_modified_time", lambda v, b: v < b),
    )
    for key, attribute, keep in bounds:
        bound = _as_datetime(params.get(key))
        if bound is not None:
            selected = [j for j in selected if keep(_naive(getattr(j, attribute)), _naive(bound))]
    sort_key = {
        "Name": lambda j: j.transform_job_name,
        "CreationTime": lambda j: j.creation_time,
        "Status": lambda j: j.transform_job_status,
    }[params.get("SortBy") or "CreationTime"]
    selected.sort(key=sort_key, reverse=(params.get("SortOrder") or "Descending") == "Descending")
    try:
        start = int(params.get("NextToken") or 0)
    except ValueError:
        raise ValidationError(message="Invalid pagination token: NextToken was not returned by this API.") from None
    size = int(params.get("MaxResults") or 10)
    page: dict[str, Any] = {"TransformJobSummaries": [summary(j) for j in selected[start : start + size]]}
    if start + size < len(selected):
        page["NextToken"] = str(start + size)
    return page


def _naive(value: datetime) -> datetime:
    """moto's times are naive UTC."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


# -- the backend's side (mixed into EmulatorSageMakerBackend) ----------------------------------------------------
class TransformJobsMixin:
    """CreateTransformJob, DescribeTransformJob, ListTransformJobs and StopTransformJob over moto's storage
    (``transform_jobs``, so AddTags/ListTags on the job's ARN work as for moto's other resources)."""

    transform_jobs: dict[str, FakeTransformJob]
    account_id: str
    region_name: str

    @property
    def transform_runs(self) -> dict[str, TransformRun]:
        runs = self.__dict__.get("_transform_runs")
        if runs is None:
            runs = self.__dict__["_transform_runs"] = {}
        return runs

    def cancel_transform_runs(self) -> None:
        for run in list(self.transform_runs.values()):
            run.cancel()
        self.transform_runs.clear()

    def start_transform_job(self, request: dict[str, Any]) -> FakeTransformJob:
        validate_request(self, request)  # type: ignore[arg-type]
        job = FakeTransformJob(
            account_id=self.account_id,
            region_name=self.region_name,
            transform_job_name=request["TransformJobName"],
            model_name=request["ModelName"],
            max_concurrent_transforms=request.get("MaxConcurrentTransforms"),
            model_client_config=request.get("ModelClientConfig"),
            max_payload_in_mb=request.get("MaxPayloadInMB"),
            batch_strategy=request.get("BatchStrategy"),
            environment=request.get("Environment"),
            transform_input=request["TransformInput"],
            transform_output=request["TransformOutput"],
            data_capture_config=request.get("DataCaptureConfig"),
            transform_resources=request["TransformResources"],
            data_processing=request.get("DataProcessing"),
            tags=list(request.get("Tags") or []),
            experiment_config=request.get("ExperimentConfig"),
        )
        job.transform_job_status = "InProgress"
        job.failure_reason = None
        job.transform_start_time = job.transform_end_time = None
        self.transform_jobs[job.transform_job_name] = job
        run = TransformRun(self, job)  # type: ignore[arg-type]
        self.transform_runs[job.transform_job_name] = run
        run.start()
        return job

    def _transform_job(self, name: str) -> FakeTransformJob:
        job = self.transform_jobs.get(name)
        if job is None:
            arn = _transform_arn(name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find transform job '{arn}'.")
        return job

    def describe_transform_job(self, transform_job_name: str) -> dict[str, Any]:
        return describe(self._transform_job(transform_job_name))

    def list_transform_jobs_page(self, params: dict[str, Any]) -> dict[str, Any]:
        return list_jobs(list(self.transform_jobs.values()), params)

    def stop_transform_job(self, name: str) -> None:
        """Stopping at once, Stopped when the instances have let go; a job that has ended cannot be stopped."""
        job = self._transform_job(name)
        if job.transform_job_status in TERMINAL:
            raise ValidationError(
                message=f"The transform job {name} is in status {job.transform_job_status} and cannot be stopped."
            )
        if job.transform_job_status == "InProgress":
            job.transform_job_status = "Stopping"
            job.last_modified_time = utcnow()
            run = self.transform_runs.get(name)
            if run is not None:
                run.request_stop()
