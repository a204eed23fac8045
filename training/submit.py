"""Submit the MNIST training job of an environment, wait for it, and stream its logs.

Everything goes through boto3, so `AWS_ENDPOINT_URL` sends it to the local cloud instead of
AWS with no special case here.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from smlocal.core.errors import UserError
from smlocal.core.manifest import Environment
from training.scriptmode import split_s3
from training.sourcedir import pack_sourcedir
from training.spec import TrainingOptions, job_name, spec_for_environment

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")


class SubmitError(UserError):
    """A training submission that cannot go ahead."""


@dataclass(frozen=True)
class Submitted:
    job_name: str
    request: dict[str, Any]


def upload_file(
    s3: Any, path: Path, bucket: str, key: str, *, console: Console | None = None
) -> str:
    """Upload one file with a progress bar and a stored SHA-256 checksum; returns its URI."""
    console = console or Console(stderr=True)
    size = path.stat().st_size
    with Progress(
        TextColumn("[bold]upload[/] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as progress:
        task = progress.add_task(f"{path.name} → s3://{bucket}/{key}", total=size)
        s3.upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs={"ChecksumAlgorithm": "SHA256"},
            Callback=lambda sent: progress.advance(task, sent),
        )
    return f"s3://{bucket}/{key}"


def upload_data(s3: Any, directory: Path, bucket: str, prefix: str, console: Console) -> str:
    """Upload the files of a local data folder, its subfolders too (torchvision's
    `MNIST/raw/`), under `prefix/`; returns the s3:// prefix."""
    files = sorted(p for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else []
    if not files:
        raise SubmitError(
            f"data folder {directory} is empty or missing; run `smlocal data prepare "
            f"--out {directory}` or pass --data s3://…"
        )
    for path in files:
        key = f"{prefix}/{path.relative_to(directory).as_posix()}"
        upload_file(s3, path, bucket, key, console=console)
    return f"s3://{bucket}/{prefix}/"


def submit(
    env: Environment,
    *,
    sagemaker: Any,
    s3: Any,
    data: str = "data/mnist",
    options: TrainingOptions,
    job: str | None = None,
    console: Console | None = None,
) -> Submitted:
    """Upload the sourcedir (and a local data folder), then CreateTrainingJob."""
    from botocore.exceptions import BotoCoreError, ClientError

    console = console or Console(stderr=True)
    job = job or job_name("mnist")
    bucket = env.bucket_name
    try:
        if data.startswith("s3://"):
            data_uri = data
        else:
            directory = Path(data)
            if not directory.is_dir():
                raise SubmitError(
                    f"data folder {directory} does not exist; run `smlocal data prepare "
                    f"--out {directory}` or pass --data s3://…"
                )
            data_uri = upload_data(s3, directory, bucket, "data/mnist", console)
        spec = spec_for_environment(env, job=job, data_uri=data_uri, options=options)
        with tempfile.TemporaryDirectory() as tmp:
            archive = pack_sourcedir(Path(tmp) / "sourcedir.tar.gz")
            src_bucket, src_key = split_s3(spec.sourcedir_uri)
            upload_file(s3, archive, src_bucket, src_key, console=console)
        request = spec.to_request()
        sagemaker.create_training_job(**request)
    except (ClientError, BotoCoreError) as err:
        raise SubmitError(
            f"cannot submit training job {job} in {env.name} (bucket {bucket}): {err}"
        ) from None
    console.print(
        f"submitted training job [bold]{job}[/] ({options.instance_count}× {options.instance_type})"
    )
    return Submitted(job, request)


def _host_of(stream: str, job: str) -> str:
    """`<job>/algo-1-1700000000` → `algo-1`."""
    name = stream.removeprefix(f"{job}/")
    head, _, tail = name.rpartition("-")
    return head if tail.isdigit() and head else name


class LogTail:
    """Follows the CloudWatch log streams of one training job (one per host)."""

    def __init__(self, logs: Any, job: str) -> None:
        self._logs, self._job = logs, job
        self._tokens: dict[str, str | None] = {}

    def poll(self) -> list[tuple[str, str]]:
        """New (host, line) pairs since the last call; none while the group does not exist."""
        from botocore.exceptions import ClientError

        out: list[tuple[str, str]] = []
        try:
            streams = self._logs.describe_log_streams(
                logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self._job}/"
            ).get("logStreams", [])
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return out
            raise
        for stream in sorted(s["logStreamName"] for s in streams):
            while True:
                kwargs: dict[str, Any] = {
                    "logGroupName": LOG_GROUP,
                    "logStreamName": stream,
                    "startFromHead": True,
                }
                if self._tokens.get(stream):
                    kwargs["nextToken"] = self._tokens[stream]
                page = self._logs.get_log_events(**kwargs)
                events = page.get("events", [])
                out += [(_host_of(stream, self._job), e["message"]) for e in events]
                token = page.get("nextForwardToken")
                done = not events or token == self._tokens.get(stream)
                self._tokens[stream] = token
                if done:
                    break
        return out


def _print_log(console: Console, host: str, line: str) -> None:
    console.print(f"[dim]\\[{host}][/] {escape(line)}", highlight=False)


def wait_for_job(
    sagemaker: Any,
    logs: Any,
    job: str,
    *,
    console: Console | None = None,
    poll_sec: float = 5.0,
) -> dict[str, Any]:
    """Poll DescribeTrainingJob with a live status line, printing the job's logs as they come;
    returns the final description."""
    console = console or Console(stderr=True)
    tail = LogTail(logs, job)
    with console.status(f"{job}: submitted") as status:
        while True:
            job_desc = sagemaker.describe_training_job(TrainingJobName=job)
            for host, line in tail.poll():
                _print_log(console, host, line)
            state = job_desc["TrainingJobStatus"]
            status.update(f"{job}: {state} / {job_desc.get('SecondaryStatus', '')}")
            if state in TERMINAL:
                for host, line in tail.poll():  # the last lines, written before the end
                    _print_log(console, host, line)
                return job_desc
            time.sleep(poll_sec)
