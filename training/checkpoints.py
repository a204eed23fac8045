"""Checkpoints of a local training job, synced as SageMaker syncs them (`CheckpointConfig`):
every object under `S3Uri` is copied into each host's `LocalPath` before the script starts (a
resumed job finds its last checkpoint), and what the script writes there is uploaded as is (no
archive) while the job runs, within about a second of being written, and once more when the
hosts have ended, whatever the outcome. Nothing is deleted on either side, as on SageMaker.

`LocalPath` (default `/opt/ml/checkpoints`) lives in the host's `/opt/ml` tree here: a path
under `/opt/ml` keeps its place in `work_dir/algo-N/`, any other absolute path goes under
`work_dir/algo-N/fs/`. The script finds it in `SM_CHECKPOINT_DIR` (set by this executor only;
SageMaker's toolkit sets no variable, the script is given `LocalPath`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from smlocal.core import archives
from smlocal.core.archives import ArchiveError
from training.interrupts import Interrupted
from training.scriptmode import FetchError, split_s3

log = logging.getLogger("training.checkpoints")

DEFAULT_LOCAL_PATH = "/opt/ml/checkpoints"
OPT_ML = PurePosixPath("/opt/ml")
SYNC_INTERVAL_S = 0.5


def local_dir(root: Path, request: Mapping[str, Any]) -> Path:
    """Where a host rooted at `root` (its `/opt/ml`) keeps its checkpoints."""
    config = request.get("CheckpointConfig") or {}
    local = PurePosixPath(config.get("LocalPath") or DEFAULT_LOCAL_PATH)
    try:
        rel = local.relative_to(OPT_ML)
    except ValueError:
        rel = PurePosixPath("fs", *local.parts[1:]) if local.is_absolute() else local
    try:
        return archives.safe_join(root, str(rel), what="CheckpointConfig.LocalPath")
    except ArchiveError as err:
        raise FetchError(str(err)) from None


def _prefix(uri: str) -> tuple[str, str]:
    bucket, prefix = split_s3(uri)
    return bucket, (prefix.rstrip("/") + "/") if prefix else ""


def download(request: Mapping[str, Any], dirs: Sequence[Path], s3: Any) -> int:
    """Copy every object under `CheckpointConfig.S3Uri` into each of `dirs`; object count."""
    config = request.get("CheckpointConfig") or {}
    if not config.get("S3Uri"):
        return 0
    bucket, prefix = _prefix(config["S3Uri"])
    count = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue
                for directory in dirs:
                    target = archives.safe_join(
                        directory, key[len(prefix) :], what=f"checkpoint s3://{bucket}/{key}"
                    )
                    target.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, key, str(target))
                count += 1
    except ArchiveError as err:
        raise FetchError(str(err)) from None
    except (FetchError, Interrupted):
        raise
    except Exception as err:
        raise FetchError(f"cannot read checkpoints {config['S3Uri']}: {err}") from err
    return count


class CheckpointSync:
    """Uploads what appears or changes in the hosts' checkpoint folders, from a thread that
    scans them every `interval` seconds (`start`), and a last time on `finish`."""

    def __init__(
        self, request: Mapping[str, Any], dirs: Sequence[Path], s3: Any, interval: float
    ) -> None:
        config = request.get("CheckpointConfig") or {}
        self.enabled = bool(config.get("S3Uri"))
        self._bucket, self._prefix = _prefix(config["S3Uri"]) if self.enabled else ("", "")
        self._dirs = list(dirs)
        self._s3 = s3
        self._interval = interval
        self._seen: dict[Path, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.uploaded = 0

    def start(self) -> None:
        """Scan the folders now and then every `interval` seconds, until `finish`."""
        if not self.enabled:
            return
        self._seen = {path: mark for path, mark in self._files()}  # the downloaded ones
        self._thread = threading.Thread(target=self._watch, name="checkpoints", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Stop watching and upload what changed since the last scan (the hosts have ended)."""
        if not self.enabled:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sync()

    def _files(self) -> list[tuple[Path, tuple[int, int]]]:
        found = []
        for directory in self._dirs:
            if not directory.is_dir():
                continue
            for path in directory.rglob("*"):
                try:
                    stat = path.stat()
                except OSError:  # removed while we looked
                    continue
                if path.is_file():
                    found.append((path, (stat.st_size, stat.st_mtime_ns)))
        return found

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            self.sync()

    def sync(self) -> None:
        """Upload every file new or changed since it was last uploaded (or downloaded)."""
        with self._lock:
            for path, mark in self._files():
                if self._seen.get(path) == mark:
                    continue
                directory = next(d for d in self._dirs if path.is_relative_to(d))
                key = self._prefix + path.relative_to(directory).as_posix()
                try:
                    self._s3.upload_file(str(path), self._bucket, key)
                except Exception as err:  # a partial file, a gone file: the next scan retries
                    log.warning("checkpoint %s not uploaded yet: %s", path, err)
                    continue
                self._seen[path] = mark
                self.uploaded += 1
