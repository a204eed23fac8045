"""What the batch jobs (transform, processing) share: an S3 client on the cloud itself, their
lines into CloudWatch Logs, and `s3://` URIs taken apart."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("localcloud.dataplane.batch")


class JobError(Exception):
    """The job fails; the message becomes its FailureReason."""


def s3_client(state_dir: Path, endpoint_url: str, account: str, region: str) -> Any:
    """A boto3 S3 client on this cloud, acting in `account` with the cloud's own key."""
    import boto3

    from localcloud.shared.credentials import credentials

    key = credentials(state_dir)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
    )

    def add_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    client.meta.events.register("before-sign.s3", add_account)
    return client


def put_logs(
    store: Any, account: str, region: str, group: str, stream: str, lines: list[str]
) -> None:
    """Append `lines` to a log stream (created with its group if new: with no lines, only
    that); best effort."""
    from moto.logs.models import logs_backends

    now = int(time.time() * 1000)
    events = [{"timestamp": now, "message": line or " "} for line in lines]
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


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key)."""
    if not uri.startswith("s3://"):
        raise JobError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


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
    """Moves a job's log lines to CloudWatch Logs in batches, on one thread, so a process's
    output reader never waits for the cloud's state lock (a full pipe would stall the job)."""

    def __init__(self, store: Any, account: str, region: str, group: str) -> None:
        self._args = (store, account, region, group)
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._drain, name=f"logs-{group}", daemon=True)
        self._thread.start()

    def put(self, stream: str, line: str) -> None:
        self._queue.put((stream, line))

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _drain(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1000:
                    batch.append(self._queue.get_nowait())
            by_stream: dict[str, list[str]] = {}
            for item in batch:
                if item is not None:
                    by_stream.setdefault(item[0], []).append(item[1])
            for stream, lines in by_stream.items():
                put_logs(*self._args, stream, lines)
            if None in batch:
                return
