"""The upload phase of a local training job: host 1's model directory as `model.tar.gz` (and
its output data, if any, as `output.tar.gz`) under `<S3OutputPath>/<job>/output/`, each with
its SHA-256 checksum stored on the object."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training.filework import FileWork
from training.hosts import HostProcess
from training.interrupts import Interrupted
from training.scriptmode import FetchError, split_s3


def upload_outputs(
    request: Mapping[str, Any],
    *,
    job_name: str,
    work_dir: Path,
    host: HostProcess,
    s3: Any,
    files: FileWork,
) -> tuple[str, str]:
    """Pack and upload `host`'s model (and output data); the model's S3 URL and hex SHA-256."""
    bucket, prefix = split_s3(request["OutputDataConfig"]["S3OutputPath"])
    base = f"{prefix.rstrip('/')}/{job_name}/output".lstrip("/")
    model_tar, output_tar = work_dir / "model.tar.gz", work_dir / "output.tar.gz"
    output_data = host.root / "output" / "data"
    work = [("pack_dir", [str(host.root / "model"), str(model_tar)])]
    if any(output_data.iterdir()):
        work.append(("pack_dir", [str(output_data), str(output_tar)]))
    digests = files(*work)
    _put(s3, bucket, f"{base}/model.tar.gz", model_tar, digests[0])
    if len(digests) > 1:
        _put(s3, bucket, f"{base}/output.tar.gz", output_tar, digests[1])
    return f"s3://{bucket}/{base}/model.tar.gz", digests[0]


def _put(s3: Any, bucket: str, key: str, path: Path, sha256_hex: str) -> None:
    checksum = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
    try:
        with path.open("rb") as body:
            # S3 verifies the checksum on receipt and stores it, for `smlocal pin` to check.
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
    except Interrupted:
        raise
    except Exception as err:
        raise FetchError(f"cannot upload s3://{bucket}/{key}: {err}") from err
