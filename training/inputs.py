"""The download phase of a local training job: the sourcedir and the input channels, laid out
in each host's `/opt/ml` tree."""

from __future__ import annotations

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
    work = [("fetch_sourcedir", [unpack, str(shared / "code")])]
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
        work.append(("link_tree", [str(shared / "code"), str(host.root / "code")]))
        if request.get("InputDataConfig"):
            data = [str(shared / "data"), str(host.root / "input" / "data")]
            work.append(("link_tree", data))
    try:
        files(*work)
    except FetchError as err:
        raise FetchError(str(err).replace(str(archive), source)) from None
    if not (shared / "code" / str(program)).is_file():
        raise FetchError(f"entry point {program!r} is not in the sourcedir {submit_dir}")
    return hyperparameters, str(program)
