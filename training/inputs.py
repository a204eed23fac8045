"""The download phase of a local training job: the sourcedir and the input channels, laid out
in each host's `/opt/ml` tree.

Two contracts: v2 script mode (the `sagemaker_program` / `sagemaker_submit_directory`
hyperparameters: a sourcedir unpacked into `code/`), and the container entrypoint of the
SageMaker Python SDK v3's `ModelTrainer` (`AlgorithmSpecification.ContainerEntrypoint`: the code
and the SDK's driver scripts arrive as the channels `code` and `sm_drivers`, and the drivers name
`/opt/ml` literally, so each host gets its own copy of them with that prefix mapped to its tree).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from training.filework import FileWork
from training.hosts import HostProcess
from training.interrupts import Interrupted
from training.scriptmode import FetchError, decode_hyperparameters, fetch_prefix, split_s3


def prepare_inputs(
    request: Mapping[str, Any],
    *,
    work_dir: Path,
    hosts: Sequence[HostProcess],
    s3: Any,
    files: FileWork,
) -> tuple[dict[str, Any], str]:
    """Fetch the sourcedir and the channels once under `work_dir/shared`, link them into every
    host's tree; the decoded hyperparameters and the entry point. FetchError for what is missing
    or unreadable (the job fails with a ClientError)."""
    hyperparameters = decode_hyperparameters(request.get("HyperParameters", {}))
    if is_container_entrypoint(request):
        _fetch_channels(request, work_dir=work_dir, hosts=hosts, s3=s3, files=files, work=[])
        for host in hosts:
            localize_drivers(host.root / "input" / "data" / DRIVERS_CHANNEL, host.root)
        return hyperparameters, ""
    program = hyperparameters.get("sagemaker_program")
    submit_dir = hyperparameters.get("sagemaker_submit_directory")
    if not program or not submit_dir:
        raise FetchError(
            "hyperparameters sagemaker_program and sagemaker_submit_directory are required "
            "for script mode"
        )
    shared = work_dir / "shared"
    source = str(submit_dir)
    archive = work_dir / "download" / "sourcedir.tar.gz"
    if source.startswith("s3://"):
        # Downloaded here (each chunk checks for a stop), unpacked by the helper process.
        bucket, key = split_s3(source)
        archive.parent.mkdir(parents=True, exist_ok=True)
        try:
            s3.download_file(bucket, key, str(archive))
        except Interrupted:
            raise
        except Exception as err:
            raise FetchError(f"cannot read sourcedir {source}: {err}") from err
    # One helper process does all the file work: unpack, copy local inputs, link the trees.
    unpack = str(archive) if source.startswith("s3://") else source
    work: list[tuple[str, list[str]]] = [("fetch_sourcedir", [unpack, str(shared / "code")])]
    for host in hosts:
        work.append(("link_tree", [str(shared / "code"), str(host.root / "code")]))
    try:
        _fetch_channels(request, work_dir=work_dir, hosts=hosts, s3=s3, files=files, work=work)
    except FetchError as err:
        raise FetchError(str(err).replace(str(archive), source)) from None
    if not (shared / "code" / str(program)).is_file():
        raise FetchError(f"entry point {program!r} is not in the sourcedir {submit_dir}")
    return hyperparameters, str(program)


DRIVERS_CHANNEL = "sm_drivers"
_OPT_ML = re.compile(r"/opt/ml(?![\w.-])")  # the folder itself, not /opt/mlflow


def is_container_entrypoint(request: Mapping[str, Any]) -> bool:
    """Whether the job runs its image's entrypoint as the request sets it (SDK v3's
    `ModelTrainer`) rather than v2 script mode."""
    return bool(request.get("AlgorithmSpecification", {}).get("ContainerEntrypoint"))


def map_opt_ml(text: str, root: Path) -> str:
    """`/opt/ml/...` in `text` as the same path under a host's tree."""
    return _OPT_ML.sub(lambda _match: str(root), text)


def localize_drivers(drivers: Path, root: Path) -> None:
    """Give a host its own copy of the SDK's driver scripts, `/opt/ml` mapped to its tree (the
    channel's files are hard links shared by every host: each rewritten file is replaced, not
    written through)."""
    if not drivers.is_dir():
        return
    for path in sorted(drivers.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # not a text file: nothing names a path in it
        mapped = map_opt_ml(text, root)
        if mapped != text:
            mode = path.stat().st_mode
            path.unlink()
            path.write_text(mapped, encoding="utf-8")
            path.chmod(mode)


def _fetch_channels(
    request: Mapping[str, Any],
    *,
    work_dir: Path,
    hosts: Sequence[HostProcess],
    s3: Any,
    files: FileWork,
    work: list[tuple[str, list[str]]],
) -> None:
    """Fetch every input channel once under `work_dir/shared/data` and link it into each
    host's `input/data`, with the file work already queued in `work`."""
    shared = work_dir / "shared"
    for channel in request.get("InputDataConfig", []):
        source_data = channel["DataSource"].get("S3DataSource", {})
        if source_data.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise FetchError(
                f"channel {channel['ChannelName']!r}: only S3DataType S3Prefix is supported "
                f"locally, got {source_data.get('S3DataType')!r}"
            )
        uri, dest = source_data["S3Uri"], shared / "data" / channel["ChannelName"]
        if uri.startswith("s3://"):
            fetch_prefix(uri, dest, s3)
        else:
            work.append(("fetch_prefix", [uri, str(dest)]))
    # Hard links: each host sees its own /opt/ml tree without copying the data.
    for host in hosts:
        if request.get("InputDataConfig"):
            data = [str(shared / "data"), str(host.root / "input" / "data")]
            work.append(("link_tree", data))
    if work:
        files(*work)
