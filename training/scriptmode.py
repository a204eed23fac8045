"""The SageMaker training toolkit's script-mode contract, laid out on this machine.

For each host: an `/opt/ml`-style tree (`input/config/*.json`, `input/data/<channel>/`,
`model/`, `output/data/`, `code/`), the `SM_*` environment and the `--key value` arguments that
the toolkit gives a user script. Inputs come from S3 through the client given (any endpoint
URL) or from local paths (`file://…` or plain).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from smlocal.core import archives, folders
from smlocal.core.archives import ArchiveError
from smlocal.core.s3uri import split_s3_uri


class FetchError(Exception):
    """An input (sourcedir, channel) that cannot be fetched; becomes the job's FailureReason."""


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key), the key as written (`?` and `#` are part of it);
    FetchError naming the URI when it is not one (it becomes the job's FailureReason)."""
    try:
        return split_s3_uri(uri)
    except ValueError as err:
        raise FetchError(str(err)) from None


def local_path(uri: str) -> Path | None:
    """The path of a `file://` URI or a plain path; None for `s3://`."""
    if uri.startswith("s3://"):
        return None
    return Path(urlparse(uri).path if uri.startswith("file://") else uri)


def _copy(path: Path, dest: Path, what: str) -> None:
    """A user's local file copied in with its mode narrowed by the umask, never widened."""
    try:
        folders.copy_file(path, dest)
    except (ArchiveError, OSError) as err:
        raise FetchError(f"{what}: {getattr(err, 'strerror', None) or err}") from None


def fetch_prefix(uri: str, dest: Path, s3_client: Any) -> int:
    """Copy every object under an S3 prefix (or a local file/folder) into `dest`; file count."""
    dest.mkdir(parents=True, exist_ok=True)
    path = local_path(uri)
    if path is not None:
        if path.is_dir():
            try:
                return folders.copy_tree(path, dest)
            except ArchiveError as err:
                raise FetchError(f"channel {uri}: {err}") from None
        if path.is_file():
            _copy(path, dest / path.name, f"channel {uri}")
            return 1
        raise FetchError(f"no such file or folder: {uri}")
    bucket, prefix = split_s3(uri)
    # Keys below the prefix as a folder keep their path under it; other keys that merely start
    # with the prefix (`data/mnist-old/x` for `data/mnist`) keep theirs under its parent.
    folder = prefix if prefix.endswith("/") or not prefix else prefix + "/"
    parent = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix.rstrip("/") else ""
    count = 0
    try:
        for page in s3_client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue
                rel = key[len(folder) :] if key.startswith(folder) else key[len(parent) :]
                what = f"key s3://{bucket}/{key} with relative path"
                try:
                    target = archives.safe_join(dest, rel, what=what)
                except ArchiveError as err:
                    raise FetchError(f"channel {uri}: {err}") from None
                target.parent.mkdir(parents=True, exist_ok=True)
                s3_client.download_file(bucket, key, str(target))
                count += 1
    except FetchError:
        raise
    except Exception as err:  # botocore raises ClientError and several transport errors
        raise FetchError(f"cannot read {uri}: {err}") from err
    if count == 0:
        raise FetchError(f"no objects under {uri}")
    return count


def fetch_sourcedir(uri: str, dest: Path, s3_client: Any) -> None:
    """Unpack `sourcedir.tar.gz` (S3 or local) or copy a local folder into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    path = local_path(uri)
    if path is not None and path.is_dir():
        try:
            folders.copy_tree(path, dest)
        except ArchiveError as err:
            raise FetchError(f"sourcedir {uri}: {err}") from None
        return
    archive = dest.parent / "sourcedir.tar.gz"
    if path is not None:
        if not path.is_file():
            raise FetchError(f"no such sourcedir: {uri}")
        _copy(path, archive, f"sourcedir {uri}")
    else:
        bucket, key = split_s3(uri)
        try:
            s3_client.download_file(bucket, key, str(archive))
        except Exception as err:
            raise FetchError(f"cannot read sourcedir {uri}: {err}") from err
    try:
        archives.extract(archive, dest)
    except ArchiveError as err:
        raise FetchError(f"sourcedir {uri} cannot be unpacked: {err}") from None


def decode_hyperparameters(raw: Mapping[str, str]) -> dict[str, Any]:
    """JSON-decode each value as the toolkit does; a value that is not JSON stays a string."""
    decoded = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except (TypeError, ValueError):
            decoded[key] = value
    return decoded


def user_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """`--key value` for every hyperparameter except the toolkit's own `sagemaker_*`."""
    args = []
    for key, value in hyperparameters.items():
        if key.startswith("sagemaker_"):
            continue
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        args += [f"--{key}", text]
    return args


def _env_key(name: str) -> str:
    return name.upper().replace("-", "_")


def host_environment(
    *,
    root: Path,
    request: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
    hosts: list[str],
    current_host: str,
    num_cpus: int,
    num_gpus: int,
    master_port: int,
) -> dict[str, str]:
    """Write the host's `input/config/*.json` and return its `SM_*` environment."""
    from training.checkpoints import local_dir  # it builds on this module

    channels = [c["ChannelName"] for c in request.get("InputDataConfig", [])]
    hps = {k: v for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    program = str(hyperparameters.get("sagemaker_program", ""))
    config_dir = root / "input" / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    instance_type = request["ResourceConfig"]["InstanceType"]
    resource_config = {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": instance_type,
                "hosts": hosts,
            }
        ],
        "network_interface_name": "lo",
    }
    input_data_config = {
        c["ChannelName"]: {
            "TrainingInputMode": c.get("InputMode", "File"),
            "S3DistributionType": c["DataSource"]
            .get("S3DataSource", {})
            .get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": c.get("RecordWrapperType", "None"),
        }
        for c in request.get("InputDataConfig", [])
    }
    files = {
        "hyperparameters.json": dict(request.get("HyperParameters", {})),
        "resourceconfig.json": resource_config,
        "inputdataconfig.json": input_data_config,
    }
    for name, content in files.items():
        (config_dir / name).write_text(json.dumps(content, indent=2))
    dirs = {
        "SM_INPUT_DIR": root / "input",
        "SM_INPUT_CONFIG_DIR": config_dir,
        "SM_MODEL_DIR": root / "model",
        "SM_OUTPUT_DIR": root / "output",
        "SM_OUTPUT_DATA_DIR": root / "output" / "data",
        "SM_OUTPUT_INTERMEDIATE_DIR": root / "output" / "intermediate",
        "SM_CHECKPOINT_DIR": local_dir(root, request),  # CheckpointConfig.LocalPath, mapped
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    args = user_args(hyperparameters)
    env = {key: str(value) for key, value in dirs.items()}
    env |= {f"SM_CHANNEL_{_env_key(c)}": str(root / "input" / "data" / c) for c in channels}
    env |= {
        f"SM_HP_{_env_key(k)}": v if isinstance(v, str) else json.dumps(v) for k, v in hps.items()
    }
    env |= {
        "SM_HOSTS": json.dumps(hosts),
        "SM_CURRENT_HOST": current_host,
        "SM_NETWORK_INTERFACE_NAME": "lo",
        "SM_NUM_CPUS": str(num_cpus),
        "SM_NUM_GPUS": str(num_gpus),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(hps),
        "SM_USER_ARGS": json.dumps(args),
        "SM_USER_ENTRY_POINT": program,
        "SM_MODULE_NAME": program.rsplit(".", 1)[0],
        "SM_MODULE_DIR": str(hyperparameters.get("sagemaker_submit_directory", "")),
        "SM_LOG_LEVEL": str(hyperparameters.get("sagemaker_container_log_level", 20)),
        "SM_FRAMEWORK_PARAMS": "{}",
        "SM_INPUT_DATA_CONFIG": json.dumps(input_data_config),
        "SM_RESOURCE_CONFIG": json.dumps(resource_config),
        "SM_CURRENT_INSTANCE_TYPE": request["ResourceConfig"]["InstanceType"],
        "SM_IS_MASTER": str(current_host == hosts[0]).lower(),
        "SM_MASTER_ADDR": hosts[0],
        "MASTER_ADDR": hosts[0],
        "MASTER_PORT": str(master_port),
        "TRAINING_JOB_NAME": request["TrainingJobName"],
    }
    training_env = {
        k.removeprefix("SM_").lower(): _maybe_json(v) for k, v in env.items() if k.startswith("SM_")
    }
    training_env |= {"hyperparameters": hps, "job_name": request["TrainingJobName"]}
    env["SM_TRAINING_ENV"] = json.dumps(training_env)
    return env


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def link_tree(src: Path, dest: Path) -> None:
    """Copy a folder as hard links (a real copy across file systems): each host gets its own
    tree without duplicating the data."""

    # The inputs were bounded when fetched; links cost no space, so no cap here.
    folders.copy_tree(src, dest, link=True, max_bytes=sys.maxsize, max_files=sys.maxsize)


def pack_dir(directory: Path, archive: Path) -> str:
    """tar.gz of a folder's contents (paths relative to it); returns the archive's SHA-256."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    digest = hashlib.sha256()
    with archive.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
