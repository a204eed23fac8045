"""One serving process (`python -m inference.server`) and its in-flight request count.

The local cloud never parses a model itself: it downloads `model.tar.gz` into the work dir
(`fetch_model`), unpacks it there, starts the project's inference server on a Unix socket in
the instance's work dir, waits for `GET /ping`, and forwards invocations to it.

Only the cloud reaches a serving process: it listens on no TCP port (nothing for another user,
a port scan or a DNS-rebinding page to reach), and its socket is created mode 0600 inside the
state dir, so the kernel lets no other user connect. Every request therefore passes the
gateway (signature, IAM, limits), and its metrics and data capture are the cloud's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.dataplane.wire import Connection, Disconnected
from smlocal.core.s3uri import split_s3_uri
from training.hosts import spawn

# SageMaker gives a container this long to download its model and answer /ping.
STARTUP_TIMEOUT_S = 180.0
# A real-time endpoint's container must answer an invocation within 60 s.
INVOKE_TIMEOUT_S = 60.0
_FAILURE_REASON_MAX = 1024  # DescribeEndpoint.FailureReason's length limit
SOCKET_NAME = "serve.sock"  # in the instance's work dir
ARCHIVE_NAME = ".model.tar.gz"  # a model's download, in its work dir until it is unpacked
_DOWNLOAD_CHUNK = 1024 * 1024


class NotReached(OSError):
    """The serving process refused the connection: the request never reached the model."""


class StartError(Exception):
    """The model could not be served; the message becomes the endpoint's FailureReason."""


def fetch_model(s3: Any, url: str, workdir: Path) -> Path:
    """The model at `url` (a `model.tar.gz`), read with `s3` (a client acting as the model's
    role) into a file of `workdir` a chunk at a time, so no archive sits in memory, unpacked
    into `workdir/model` (the container's /opt/ml/model); the archive file is removed.
    StartError with the reason when it cannot be read or unpacked."""
    try:
        bucket, key = split_s3_uri(url, key_required=True)
    except ValueError:
        raise StartError(f"ModelDataUrl {url} is not an s3://bucket/key URL") from None
    archive = workdir / ARCHIVE_NAME
    try:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            with contextlib.closing(body), open(archive, "wb") as out:
                for chunk in body.iter_chunks(_DOWNLOAD_CHUNK):
                    out.write(chunk)
        except Exception as err:  # RoleError, or botocore's ClientError: S3's code and message
            raise StartError(f"could not download the model data {url}: {err}") from None
        return unpack_model(archive, workdir, url)
    finally:
        archive.unlink(missing_ok=True)


def unpack_model(archive: Path | bytes, target: Path, url: str) -> Path:
    """Extract the `model.tar.gz` read from `url` (its file, or its bytes) into `target/model`
    (the container's /opt/ml/model); a refused archive leaves nothing there."""
    from smlocal.core import archives

    model_dir = target / "model"
    try:
        archives.extract(archive, model_dir)
    except archives.ArchiveError as err:
        raise StartError(f"the model data {url} cannot be unpacked: {err}") from None
    return model_dir


def serving_python(model_dir: Path, overlay_cache: Path) -> str:
    """The interpreter to serve with: an overlay's when the model has `code/requirements.txt`,
    installed as SageMaker's inference toolkit installs it when the container starts
    (`training.requirements`); StartError with pip's reason if it cannot be installed."""
    from training.requirements import FILENAME, ensure_overlay
    from training.scriptmode import FetchError

    requirements = model_dir / "code" / FILENAME
    if not requirements.is_file():
        return sys.executable
    try:
        return str(ensure_overlay(requirements, overlay_cache, cwd=requirements.parent))
    except FetchError as err:
        raise StartError(clip_reason(str(err))) from None


def _tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)


def clip_reason(reason: str) -> str:
    return reason if len(reason) <= _FAILURE_REASON_MAX else reason[: _FAILURE_REASON_MAX - 1] + "…"


@dataclass
class ServingProcess:
    """A started `inference.server`; `inflight` counts requests forwarded to it right now.
    `address` is its Unix socket."""

    proc: subprocess.Popen[bytes]
    address: Path
    workdir: Path
    log_path: Path
    inflight: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    # Kept-alive connections to the server, idle between requests: a new TCP connection per call
    # (and a new connection task on the server's side) was the largest cost of the cloud's hop.
    _idle: list[Connection] = field(default_factory=list)
    _idle_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(
        cls,
        model_dir: Path,
        workdir: Path,
        *,
        workers: int,
        serverless: bool,
        environment: dict[str, str],
        timeout_s: float = STARTUP_TIMEOUT_S,
        overlay_cache: Path | None = None,
    ) -> ServingProcess:
        """Start the server and wait until /ping answers 200; StartError (process gone) if not.
        A `code/requirements.txt` is installed first, in an overlay cached under
        `overlay_cache` (default: the work dir's own)."""
        python = serving_python(model_dir, overlay_cache or workdir / "overlays")
        address = workdir / SOCKET_NAME
        log_path = workdir / "serve.log"
        env = {**os.environ, **environment, "PYTHONUNBUFFERED": "1"}
        # The model must not reach the cloud by accident through the user's endpoint settings.
        env.pop("AWS_ENDPOINT_URL", None)
        command = [
            python,
            "-m",
            "inference.server",
            "--model-dir",
            str(model_dir),
            "--uds",
            str(address),
            "--workers",
            str(workers),
        ]
        if serverless:
            command.append("--serverless")
        with open(log_path, "ab") as log:
            # Its own process group, and SIGTERM (drain, end the workers) when the cloud dies.
            proc = spawn(
                command,
                death_signal=signal.SIGTERM,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        serving = cls(proc=proc, address=address, workdir=workdir, log_path=log_path)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                detail = _tail(log_path) or "no output"
                raise StartError(
                    clip_reason(f"the serving process exited with status {code}: {detail}")
                )
            if serving.ping():
                return serving
            time.sleep(0.1)
        serving.kill()
        raise StartError(f"the model did not answer GET /ping within {timeout_s:g} s")

    def ping(self) -> bool:
        try:
            conn = Connection(self.address, 2)
        except OSError:
            return False  # not listening yet
        try:
            return conn.request("GET", "/ping", b"", {}, 2)[0] == 200
        except OSError:
            return False
        finally:
            conn.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def died(self, within_s: float) -> bool:
        """Whether the process has ended, or ends within `within_s` (it may be exiting)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(within_s)
        return not self.alive()

    def enter(self) -> None:
        with self._cond:
            self.inflight += 1

    def leave(self) -> None:
        with self._cond:
            self.inflight -= 1
            if self.inflight == 0:
                self._cond.notify_all()

    def invoke(
        self, body: bytes, headers: dict[str, str], timeout_s: float = INVOKE_TIMEOUT_S
    ) -> tuple[int, dict[str, str], bytes]:
        """POST /invocations; (status, headers, body). NotReached when no connection could be
        made (nothing was sent), another OSError when the process did not answer."""
        while True:  # a kept-alive connection first; the server may have closed it idle
            with self._idle_lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            try:
                return self._exchange(conn, body, headers, timeout_s)
            except Disconnected:
                # Closed before any byte of an answer: the server ended an idle keep-alive
                # connection, and so never read this request. Try the next one, then a new one.
                continue
        try:
            conn = Connection(self.address, timeout_s)
        except OSError as err:
            raise NotReached(str(err)) from None
        return self._exchange(conn, body, headers, timeout_s)

    def _exchange(
        self, conn: Connection, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> tuple[int, dict[str, str], bytes]:
        status, answer_headers, answer, reusable = conn.request(
            "POST", "/invocations", body, headers, timeout_s
        )
        if reusable:
            with self._idle_lock:
                self._idle.append(conn)
        return status, answer_headers, answer

    def _close_idle(self) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def retire(self, drain_timeout_s: float = INVOKE_TIMEOUT_S + 5) -> None:
        """Wait until no forwarded request is in flight, then stop (SIGTERM drains)."""
        with self._cond:
            self._cond.wait_for(lambda: self.inflight == 0, timeout=drain_timeout_s)
        self.stop()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._close_idle()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout_s)
        self.kill()  # what is left of its group, if anything

    def kill(self) -> None:
        self._close_idle()
        # The whole group: `--workers N` forks worker processes that must not outlive it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        # A killed server leaves its socket file; the next one at this path replaces it anyway.
        with contextlib.suppress(FileNotFoundError):
            self.address.unlink()
