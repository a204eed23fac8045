"""What the batch jobs (transform, processing, tuning) share: their lifecycle (`BatchJobs`: a
thread and a stop event per job, Stop, restart recovery, the cloud's stop), their lines into
CloudWatch Logs, and `s3://` URIs taken apart."""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from localcloud.dataplane.sessions import RoleError, Sessions, role_client
from localcloud.shared.clock import Clock
from localcloud.shared.errors import SageMakerValidation
from smlocal.core.archives import ArchiveError, inside
from smlocal.core.s3uri import split_s3_uri

log = logging.getLogger("localcloud.dataplane.batch")
T = TypeVar("T")


class JobError(Exception):
    """The job fails; the message becomes its FailureReason."""


Key = tuple[str, str, str]  # account, region, job name

ACTIVE = ("InProgress", "Stopping")


def discard_work_dir(root: Path, key: Key) -> None:
    """Remove the work dir `root/<account>/<region>/<name>` of a job a restart cut short: its
    instances' copies of the inputs, code and model (the job's thread would have, had it
    ended)."""
    with contextlib.suppress(ArchiveError):  # a name no job could have had: no folder either
        shutil.rmtree(inside(root, *key), ignore_errors=True)


def take_batch(waiting: queue.Queue[Any], most: int = 1000) -> list[Any]:
    """The next item of `waiting` (blocking) and up to `most` - 1 more that are already there:
    a writer thread makes one call for what queued up while its last call ran."""
    batch = [waiting.get()]
    with contextlib.suppress(queue.Empty):
        while len(batch) < most:
            batch.append(waiting.get_nowait())
    return batch


class QueueWriter(Generic[T]):
    """Items `put` from any thread, written by `write_batch` on one thread of its own, a call
    per batch of what queued up meanwhile (`take_batch`), so a job's threads never wait for
    the cloud's state lock. Best effort: a failed write is logged and the items dropped."""

    def __init__(self, name: str, write_batch: Callable[[list[T]], None]) -> None:
        self._name = name
        self._write_batch = write_batch
        self._queue: queue.Queue[T | None] = queue.Queue()
        self._thread = threading.Thread(target=self._drain, name=name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        self._queue.put(item)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _drain(self) -> None:
        while True:
            batch = take_batch(self._queue)
            items = [item for item in batch if item is not None]
            if items:
                try:
                    self._write_batch(items)
                except Exception:  # best effort: a job's outcome must not depend on it
                    log.exception("%s: could not write %d items", self._name, len(items))
            if None in batch:
                return


class BatchJobs:
    """Every job of one kind this local cloud runs (all accounts and regions): each runs on
    its own thread with a stop event; Stop sets the event, the job's thread ends it.

    A kind names moto's record fields (`<prefix>_name`, `<prefix>_status`, `end_field`), its
    backend dict (`records`) and how AWS words it (`kind`); `start` records the job InProgress
    and runs `_run(key, job, stop, *args)` on a thread, which ends with `_end`."""

    kind: ClassVar[str]  # as AWS's messages word it: "transform", "hyperparameter tuning"
    prefix: ClassVar[str]  # moto's field prefix: "transform_job"
    records: ClassVar[str]  # moto's backend dict: "transform_jobs"
    end_field: ClassVar[str]  # moto's end time field: "transform_end_time"
    stop_all_timeout_s: ClassVar[float] = 20.0

    def __init__(
        self, state_dir: Path, endpoint_url: str, store: Any, clock: Clock | None = None
    ) -> None:
        self.state_dir = Path(state_dir)
        self.endpoint_url = endpoint_url
        self.clock = clock or Clock()
        self._store = store
        self.sessions: Sessions | None = None  # handed in by `localcloud.patches`
        # Where a kind with work dirs keeps them (`<root>/<account>/<region>/<job>`).
        self.root: Path | None = None
        self._stops: dict[Key, threading.Event] = {}
        self._threads: dict[Key, threading.Thread] = {}
        self._lock = threading.Lock()

    def key(self, backend: Any, job: Any) -> Key:
        return (backend.account_id, backend.region_name, getattr(job, f"{self.prefix}_name"))

    def status(self, job: Any) -> str | None:
        return getattr(job, f"{self.prefix}_status", None)

    def start(self, backend: Any, job: Any, request: dict[str, Any]) -> None:
        """Run a job moto just recorded (called inside its Create request)."""
        raise NotImplementedError

    def _s3(self, key: Key, role_arn: str, kind: str) -> Any:
        """S3 as the job's role (SageMaker's session of it, for this job); JobError when
        SageMaker cannot assume it."""
        try:
            return role_client(self.sessions, "s3", self.endpoint_url, key, role_arn, kind)
        except RoleError as err:
            raise JobError(f"ClientError: {err}") from None

    def _set_status(self, job: Any, status: str) -> None:
        setattr(job, f"{self.prefix}_status", status)
        job.last_modified_time = datetime.now(UTC)

    def _begin(self, job: Any, target: Callable[..., None], key: Key, *args: Any) -> None:
        """Record the job InProgress and run `target(key, job, stop, *args)` on its thread."""
        job.failure_reason = None
        setattr(job, self.end_field, None)
        self._set_status(job, "InProgress")
        stop = threading.Event()
        thread = threading.Thread(
            target=target,
            args=(key, job, stop, *args),
            name=f"{self.prefix}-{key[2]}",
            daemon=True,
        )
        with self._lock:
            self._stops[key] = stop
            self._threads[key] = thread
        thread.start()

    def _end(self, key: Key, job: Any, status: str, reason: str | None) -> None:
        """The job's last change: its status, why, when; then it is on disk."""
        job.failure_reason = reason
        setattr(job, self.end_field, datetime.now(UTC))
        self._set_status(job, status)
        with self._lock:
            self._stops.pop(key, None)
            self._threads.pop(key, None)
        self._store.flush()

    def stop(self, backend: Any, job: Any) -> None:
        """Stop<Kind>Job: returns at once; the job goes Stopping → Stopped."""
        key = self.key(backend, job)
        with self._lock:
            stop = self._stops.get(key)
        if stop is None or self.status(job) not in ACTIVE:
            raise SageMakerValidation(
                f"The {self.kind} job {key[2]} is {self.status(job)}; "
                "only an InProgress job can be stopped."
            )
        self._set_status(job, "Stopping")
        stop.set()
        self._stopping(key)

    def _stopping(self, key: Key) -> None:
        """What a kind does at once on Stop, beyond the event (nothing by default)."""

    def recover(self, backends: Any) -> None:
        """After a restart nothing runs the jobs that were in progress: they failed, and what
        their work dirs held goes."""
        for _account, _region, backend in backends.iter_backends():
            for job in getattr(backend, self.records).values():
                if self.status(job) in ACTIVE:
                    if self.root is not None:
                        discard_work_dir(self.root, self.key(backend, job))
                    job.failure_reason = "the local cloud restarted while the job ran"
                    setattr(job, self.end_field, datetime.now(UTC))
                    self._set_status(job, "Failed")

    def stop_all(self, timeout_s: float | None = None) -> None:
        """Stop every running job and wait for its thread (the cloud is stopping)."""
        with self._lock:
            keys = list(self._stops)
            stops = list(self._stops.values())
            threads = list(self._threads.values())
        for stop in stops:
            stop.set()
        for key in keys:
            self._stopping(key)
        deadline = time.monotonic() + (timeout_s or self.stop_all_timeout_s)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def put_logs(
    store: Any,
    account: str,
    region: str,
    group: str,
    stream: str,
    lines: list[str],
    times_ms: list[int] | None = None,
) -> None:
    """Append `lines` to a log stream (created with its group if new: with no lines, only
    that), each at its time in `times_ms` (default: now); an empty line is logged as " "
    (CloudWatch Logs takes no empty message); best effort."""
    from moto.logs.models import logs_backends

    times = times_ms or [now_ms()] * len(lines)
    events = [
        {"timestamp": t, "message": line or " "} for line, t in zip(lines, times, strict=True)
    ]
    try:
        with store.changing():
            backend = logs_backends[account][region]
            if group not in backend.groups:
                backend.create_log_group(group, {})
            if stream not in backend.groups[group].streams:
                backend.create_log_stream(group, stream)
            if events:
                backend.put_log_events(group, stream, events)
    except Exception:  # logs are best effort; a job's outcome must not depend on them
        log.exception("could not write logs to %s", group)


def now_ms() -> int:
    """Now as CloudWatch Logs stamps an event: milliseconds since the epoch."""
    return int(time.time() * 1000)


LogLine = tuple[str, str, str, str, int]  # account, region, stream, line, time (ms)


def write_log_lines(store: Any, group: str, lines: list[LogLine]) -> None:
    """A `QueueWriter`'s batch of log lines into `group`: one `put_logs` per stream."""
    by_stream: dict[tuple[str, str, str], tuple[list[str], list[int]]] = {}
    for account, region, stream, line, ts in lines:
        texts, times = by_stream.setdefault((account, region, stream), ([], []))
        texts.append(line)
        times.append(ts)
    for (account, region, stream), (texts, times) in by_stream.items():
        put_logs(store, account, region, group, stream, texts, times)


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key); JobError (the job fails) for anything else."""
    try:
        return split_s3_uri(uri)
    except ValueError as err:
        raise JobError(str(err)) from None


def list_keys(s3: Any, uri: str) -> list[str]:
    """Every object key under an S3 prefix URI, sorted."""
    bucket, prefix = split_uri(uri)
    return sorted(
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    )


def relative(key: str, prefix: str) -> str:
    """The key below the prefix (an object named by the prefix itself: its name)."""
    return key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]


class LogQueue:
    """One job's log lines into `group`, written on a `QueueWriter`'s thread, so a process's
    output reader never waits for the cloud's state lock (a full pipe would stall the job)."""

    def __init__(self, store: Any, account: str, region: str, group: str) -> None:
        self._where = (account, region)
        self._writer: QueueWriter[LogLine] = QueueWriter(
            f"logs-{group}", partial(write_log_lines, store, group)
        )

    def put(self, stream: str, line: str) -> None:
        self._writer.put((*self._where, stream, line, now_ms()))

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        self._writer.close(timeout_s)
