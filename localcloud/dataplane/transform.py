"""Batch transform jobs that really transform: CreateTransformJob serves the job's model in a
transient serving process (`serving.ServingProcess`) and streams every object under the input
prefix through it, writing `<key>.out` under `S3OutputPath`, as SageMaker does.

Supported: `SplitType` None / Line, `CompressionType` None / Gzip, `BatchStrategy`
SingleRecord / MultiRecord (records packed up to `MaxPayloadInMB`), `AssembleWith` None / Line,
`Accept`, `DataProcessing` (`InputFilter` / `OutputFilter` as a JSONPath subset: `$`, `.name`,
`['name']`, `['a','b']`, `[i]`, `[i,j]`, `[i:j]`; `JoinSource` Input for JSON and CSV records). The
request checks (`check`) refuse the rest before anything is recorded. Records are sent one
request at a time (`MaxConcurrentTransforms` is recorded). The job's lines go to CloudWatch Logs
`/aws/sagemaker/TransformJobs`, stream `<job>/<host>-<epoch>`; `StopTransformJob` kills the
serving process, so a request in flight ends with it, and the job ends Stopped.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.dataplane.batch import (
    BatchJobs,
    JobError,
    Key,
    list_keys,
    put_logs,
    relative,
    split_uri,
)
from localcloud.dataplane.serving import ServingProcess, StartError, clip_reason, fetch_model
from localcloud.shared.clock import Clock
from localcloud.shared.errors import SageMakerValidation
from smlocal.core.archives import ArchiveError, inside

log = logging.getLogger("localcloud.dataplane.transform")

LOG_GROUP = "/aws/sagemaker/TransformJobs"
HOST = "i-transform-1"  # the one "instance": SageMaker names streams after instance ids
_DEFAULT_PAYLOAD_MB = 6
# ModelClientConfig's defaults, as botocore's model documents them.
_INVOCATION_TIMEOUT_S = 600
_INVOCATION_RETRIES = 3
_TOKEN = re.compile(
    r"\.([A-Za-z_][\w-]*)|\[('[^']*'(?:\s*,\s*'[^']*')*)\]|\[(\d+(?:\s*,\s*\d+)*|-?\d*:-?\d*)\]"
)

TransformError = JobError


class Stopped(Exception):
    """StopTransformJob was called."""


def select(value: Any, path: str | None) -> Any:
    """`value` filtered by a JSONPath of the subset SageMaker's examples use."""
    if not path or path.strip() == "$":
        return value
    path = path.strip()
    if not path.startswith("$"):
        raise TransformError(f"filter {path!r} is not a JSONPath (it must start with $)")
    rest, out = path[1:], value
    while rest:
        match = _TOKEN.match(rest)
        if match is None:
            raise TransformError(f"filter {path!r}: unsupported JSONPath at {rest!r}")
        name, quoted, index = match.groups()
        try:
            if name is not None:
                out = out[name]
            elif quoted is not None:
                keys = [k.strip().strip("'") for k in quoted.split(",")]
                out = out[keys[0]] if len(keys) == 1 else {k: out[k] for k in keys}
            elif ":" in index:
                start, _, stop = index.partition(":")
                out = out[int(start) if start else None : int(stop) if stop else None]
            elif "," in index:
                out = [out[int(i)] for i in index.split(",")]
            else:
                out = out[int(index)]
        except (KeyError, IndexError, TypeError) as err:
            raise TransformError(f"filter {path!r} does not apply to a record: {err}") from None
        rest = rest[match.end() :]
    return out


def _is_csv(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "text/csv"


def _filter_record(record: bytes, path: str | None, content_type: str | None) -> bytes:
    if not path or path.strip() == "$":
        return record
    text = record.decode("utf-8").strip()
    if _is_csv(content_type):
        picked = select(text.split(","), path)
        return (",".join(picked) if isinstance(picked, list) else str(picked)).encode()
    try:
        parsed = json.loads(text)
    except ValueError:
        raise TransformError(f"a record is not JSON, so {path!r} cannot filter it") from None
    return json.dumps(select(parsed, path)).encode()


def _join(source: bytes, output: bytes, content_type: str | None) -> bytes:
    """JoinSource Input: the input record with its output (JSON: under SageMakerOutput)."""
    if _is_csv(content_type):
        return source.rstrip(b"\r\n") + b"," + output.strip()
    try:
        parsed, result = json.loads(source), json.loads(output)
    except ValueError:
        raise TransformError("JoinSource Input needs JSON or CSV records and output") from None
    if isinstance(parsed, dict):
        return json.dumps({**parsed, "SageMakerOutput": result}).encode()
    if isinstance(parsed, list):
        return json.dumps([*parsed, result]).encode()
    raise TransformError("JoinSource Input needs JSON objects or arrays as records")


def records(body: bytes, split_type: str) -> list[bytes]:
    """An object's records: the whole body (None) or its non-empty lines (Line)."""
    if split_type == "Line":
        return [line for line in body.splitlines() if line.strip()]
    return [body]


def batches(items: list[bytes], strategy: str, max_bytes: int) -> Iterator[list[bytes]]:
    """SingleRecord: one record a request; MultiRecord: as many as fit in `max_bytes`."""
    batch: list[bytes] = []
    size = 0
    for item in items:
        if len(item) > max_bytes:
            raise TransformError(
                f"a record of {len(item)} bytes is larger than MaxPayloadInMB "
                f"({max_bytes // (1024 * 1024)} MB)"
            )
        if batch and (strategy != "MultiRecord" or size + len(item) + 1 > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += len(item) + 1
    if batch:
        yield batch


def check(request: dict[str, Any], backend: Any) -> None:
    """Refuse what this local cloud does not run, before moto records the job."""
    data = request["TransformInput"]["DataSource"]["S3DataSource"]
    if data.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise NotImplementedError(f"S3DataType {data['S3DataType']} is not run, only S3Prefix")
    split = request["TransformInput"].get("SplitType", "None")
    if split not in ("None", "Line"):
        raise NotImplementedError(f"SplitType {split} is not run, only None and Line")
    model_name = request["ModelName"]
    if model_name not in backend._models:
        raise SageMakerValidation(f"Could not find model '{model_name}'.")
    if not model_data(backend._models[model_name])[0]:
        raise SageMakerValidation(f"model {model_name} has no ModelDataUrl to serve")


def model_data(model: Any) -> tuple[str | None, dict[str, str]]:
    """(ModelDataUrl, Environment) of a model record's first container."""
    container = model.primary_container or (model.containers or [{}])[0]
    url = container.get("ModelDataUrl") or (
        container.get("ModelDataSource", {}).get("S3DataSource", {}).get("S3Uri")
    )
    return url, dict(container.get("Environment") or {})


class TransformJobs(BatchJobs):
    """Every transform job this local cloud runs (all accounts and regions)."""

    kind = "transform"
    prefix = "transform_job"
    records = "transform_jobs"
    end_field = "transform_end_time"

    def __init__(
        self, state_dir: Path, endpoint_url: str, store: Any, clock: Clock | None = None
    ) -> None:
        super().__init__(state_dir, endpoint_url, store, clock)
        self.root = self.state_dir / "transform-jobs"
        # The serving process of each running job: Stop ends it mid-request.
        self._serving: dict[Key, ServingProcess] = {}

    def start(self, backend: Any, job: Any, request: dict[str, Any]) -> None:
        """Run a job moto just recorded (called inside the CreateTransformJob request)."""
        key = self.key(backend, job)
        try:
            work_dir = inside(self.root, *key)
        except ArchiveError as err:
            del backend.transform_jobs[job.transform_job_name]
            raise SageMakerValidation(str(err)) from None
        model = backend._models[job.model_name]
        url, environment = model_data(model)
        job.transform_start_time = datetime.now(UTC)
        # The job acts as its model's execution role, as on SageMaker.
        role = str(model.execution_role_arn or "")
        self._begin(job, self._run, key, work_dir, url, environment, role)

    def _stopping(self, key: Key) -> None:
        # The request in flight ends with its process: the job ends Stopped now, not after it.
        with self._lock:
            serving = self._serving.get(key)
        if serving is not None:
            serving.kill()

    def _log(self, key: Key, stream: str, lines: list[str]) -> None:
        put_logs(self._store, key[0], key[1], LOG_GROUP, stream, lines)

    def _run(
        self,
        key: Key,
        job: Any,
        stop: threading.Event,
        work_dir: Path,
        url: str,
        environment: dict[str, str],
        role_arn: str,
    ) -> None:
        stream = f"{key[2]}/{HOST}-{int(time.time())}"
        serving: ServingProcess | None = None
        status, reason = "Completed", None
        try:
            shutil.rmtree(work_dir, ignore_errors=True)
            work_dir.mkdir(parents=True)
            s3 = self._s3(key, role_arn, "transform-job")
            model_dir = fetch_model(s3, url, work_dir)
            env = {**environment, **(job.environment or {})}
            serving = ServingProcess.start(
                model_dir, work_dir, workers=1, serverless=False, environment=env
            )
            with self._lock:
                self._serving[key] = serving
            if stop.is_set():  # stopped while the model loaded
                raise Stopped
            self._log(key, stream, [f"model {url} serving for {key[2]}"])
            for line in self._transform(key, job, s3, serving, stop):
                self._log(key, stream, [line])
        except Stopped:
            status = "Stopped"
        except (TransformError, StartError) as err:
            # A stop kills the serving process: the request it cut short is no failure.
            stopped = stop.is_set()
            status, reason = ("Stopped", None) if stopped else ("Failed", clip_reason(str(err)))
        except Exception as err:  # the job fails with why; the cloud keeps serving
            log.exception("transform job %s failed", key[2])
            status, reason = "Failed", clip_reason(f"{type(err).__name__}: {err}")
        finally:
            with self._lock:
                self._serving.pop(key, None)
            if serving is not None:
                # A job that did not complete may have a request still running: no drain.
                if status == "Completed":
                    serving.stop()
                else:
                    serving.kill()
                tail = serving.log_path.read_text(errors="replace").splitlines()[-200:]
                if tail:
                    self._log(key, stream, [line for line in tail if line.strip()] or ["-"])
            if reason:
                self._log(key, stream, [f"transform job failed: {reason}"])
            # The instance goes, as on AWS: its copy of the model is not kept.
            shutil.rmtree(work_dir, ignore_errors=True)
            self._end(key, job, status, reason)

    def _transform(
        self, key: Key, job: Any, s3: Any, serving: ServingProcess, stop: threading.Event
    ) -> Iterator[str]:
        """Every object under the input prefix through the model; yields a log line each."""
        transform_input = job.transform_input
        source = transform_input["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, prefix = split_uri(source)
        out_bucket, out_prefix = split_uri(job.transform_output["S3OutputPath"])
        content_type = transform_input.get("ContentType")
        accept = job.transform_output.get("Accept")
        assemble = job.transform_output.get("AssembleWith", "None")
        split = transform_input.get("SplitType", "None")
        strategy = job.batch_strategy or ("MultiRecord" if split == "Line" else "SingleRecord")
        max_mb = job.max_payload_in_mb if job.max_payload_in_mb is not None else _DEFAULT_PAYLOAD_MB
        # MaxPayloadInMB 0 means no limit (for streaming); one object is the most a request takes.
        max_bytes = int(max_mb) * 1024 * 1024 or 1 << 62
        client_config = job.model_client_config or {}
        timeout = float(client_config.get("InvocationsTimeoutInSeconds", _INVOCATION_TIMEOUT_S))
        attempts = 1 + int(client_config.get("InvocationsMaxRetries", _INVOCATION_RETRIES))
        processing = job.data_processing or {}
        input_filter = processing.get("InputFilter")
        output_filter = processing.get("OutputFilter")
        join = processing.get("JoinSource", "None") == "Input"
        headers = {"Content-Type": content_type or "application/octet-stream"}
        if accept:
            headers["Accept"] = accept
        keys = list_keys(s3, source)
        if not keys:
            raise TransformError(f"no object under the input {source}")
        for object_key in keys:
            body = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
            if transform_input.get("CompressionType") == "Gzip":
                body = gzip.decompress(body)
            raw = records(body, split)
            sent = [_filter_record(r, input_filter, content_type) for r in raw]
            outputs: list[bytes] = []
            originals = iter(raw)
            for batch in batches(sent, strategy, max_bytes):
                if stop.is_set():
                    raise Stopped
                request = (b"\n".join(batch), headers, object_key)
                answer = self._invoke(serving, *request, timeout, attempts, stop)
                if join or output_filter or (split == "Line" and assemble == "Line"):
                    parts = (
                        [answer]
                        if len(batch) == 1
                        else [p for p in answer.splitlines() if p.strip()]
                    )
                    if len(parts) != len(batch):
                        raise TransformError(
                            f"the model answered {len(parts)} lines for {len(batch)} records "
                            f"of {object_key}; records cannot be matched to their output"
                        )
                    for part in parts:
                        original = next(originals)
                        part = part.strip()
                        if join:
                            part = _join(original, part, content_type)
                        outputs.append(_filter_record(part, output_filter, accept))
                else:
                    outputs.append(answer)
            glue = b"\n" if assemble == "Line" else b""
            data = glue.join(o.rstrip(b"\n") if glue else o for o in outputs) + glue
            below = relative(object_key, prefix)
            target = f"{out_prefix.rstrip('/')}/{below}.out".lstrip("/")
            s3.put_object(Bucket=out_bucket, Key=target, Body=data)
            yield f"{object_key}: {len(raw)} record(s) → s3://{out_bucket}/{target}"

    def _invoke(
        self,
        serving: ServingProcess,
        body: bytes,
        headers: dict[str, str],
        object_key: str,
        timeout: float,
        attempts: int,
        stop: threading.Event,
    ) -> bytes:
        """One request, within `ModelClientConfig`'s timeout (cloud seconds), retried on a
        timeout as many times as it allows."""
        for _ in range(attempts):
            if stop.is_set():
                raise Stopped
            try:
                status, _, answer = serving.invoke(body, headers, self.clock.real(timeout))
                break
            except TimeoutError:
                continue
            except OSError as err:
                raise TransformError(f"the model did not answer for {object_key}: {err}") from None
        else:
            raise TransformError(
                f"the model did not answer for {object_key} within InvocationsTimeoutInSeconds "
                f"({timeout:g} s), {attempts} attempt(s)"
            )
        if status != 200:
            detail = answer[:300].decode("utf-8", "replace")
            raise TransformError(f"the model answered {status} for {object_key}: {detail}")
        return answer
