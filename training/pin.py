"""Pin a completed training job's model into an environment manifest.

The pin is the only bridge from training to the stacks, so it is written only for a job that
Completed and whose artifact, streamed from S3, matches the checksum stored with the object.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smlocal.core.environments import load, manifest_path
from smlocal.core.errors import UserError
from smlocal.core.manifest import ModelPin
from smlocal.core.pins import write_pin
from training.scriptmode import split_s3

_CHUNK = 1 << 20


class PinError(UserError):
    """A job or artifact that must not be pinned."""


def _crc32_b64(data_crc: int) -> str:
    return base64.b64encode(data_crc.to_bytes(4, "big")).decode()


def verify_artifact(s3_client: Any, uri: str) -> str:
    """Stream `uri`, check it against its stored checksum; returns its SHA-256 (hex).

    SHA-256 is what the local executor stores; SHA-1 and CRC32 (what S3 clients store by
    default) are checked too. Anything else, or no checksum at all, is refused.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3(uri)
    sha256, sha1, crc = hashlib.sha256(), hashlib.sha1(), 0
    try:
        response = s3_client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        for chunk in response["Body"].iter_chunks(_CHUNK):
            sha256.update(chunk)
            sha1.update(chunk)
            crc = zlib.crc32(chunk, crc)
    except ClientError as err:
        raise PinError(f"cannot read artifact {uri}: {err}") from None
    except BotoCoreError as err:  # botocore's own checksum validation fails here
        raise PinError(f"artifact {uri} does not match its stored checksum ({err})") from None
    computed: dict[str, Callable[[], str]] = {
        "ChecksumSHA256": lambda: base64.b64encode(sha256.digest()).decode(),
        "ChecksumSHA1": lambda: base64.b64encode(sha1.digest()).decode(),
        "ChecksumCRC32": lambda: _crc32_b64(crc),
    }
    stored = {k: v for k, v in response.items() if k.startswith("Checksum") and k != "ChecksumType"}
    usable = [k for k in computed if k in stored and "-" not in stored[k]]
    if not usable:
        raise PinError(
            f"artifact {uri} has no full-object SHA-256, SHA-1 or CRC32 checksum stored "
            f"(found {sorted(stored) or 'none'}); upload it with ChecksumAlgorithm=SHA256"
        )
    algorithm = usable[0]
    if computed[algorithm]() != stored[algorithm]:
        raise PinError(
            f"artifact {uri} does not match its stored checksum: {algorithm} is "
            f"{stored[algorithm]}, the downloaded bytes give {computed[algorithm]()}"
        )
    return sha256.hexdigest()


def pin_training_job(
    env_name: str,
    job_name: str,
    *,
    sagemaker_client: Any,
    s3_client: Any,
    envdir: Path | None = None,
    now: datetime | None = None,
) -> ModelPin:
    """DescribeTrainingJob, then `pin_description`: the model of a Completed job into
    `<envdir>/<env>.yaml`; returns the new pin."""
    from botocore.exceptions import ClientError

    try:
        job = sagemaker_client.describe_training_job(TrainingJobName=job_name)
    except ClientError as err:
        raise PinError(f"cannot describe training job {job_name!r}: {err}") from None
    return pin_description(env_name, job, s3_client=s3_client, envdir=envdir, now=now)


def pin_description(
    env_name: str,
    job: Mapping[str, Any],
    *,
    s3_client: Any,
    envdir: Path | None = None,
    now: datetime | None = None,
) -> ModelPin:
    """Pin the job a DescribeTrainingJob response describes (refused unless it Completed and
    its artifact matches its stored checksum); the manifest is untouched on any refusal."""
    load(env_name, envdir)  # the manifest must be valid before it is rewritten
    job_name = job["TrainingJobName"]
    status = job["TrainingJobStatus"]
    if status != "Completed":
        reason = f" ({job['FailureReason']})" if job.get("FailureReason") else ""
        raise PinError(
            f"training job {job_name} is {status}{reason}; only a Completed job can be pinned"
        )
    uri = job.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    if not uri:
        raise PinError(f"training job {job_name} is Completed but reports no model artifact")
    sha = verify_artifact(s3_client, uri)
    pin = ModelPin(
        model_data_url=uri,
        sha256=sha,
        training_job=job_name,
        metrics={m["MetricName"]: float(m["Value"]) for m in job.get("FinalMetricDataList", [])},
        image=job.get("AlgorithmSpecification", {}).get("TrainingImage"),
        pinned_at=(now or datetime.now(UTC)).replace(microsecond=0),
    )
    write_pin(manifest_path(env_name, envdir), pin)
    return pin
