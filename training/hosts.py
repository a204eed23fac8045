"""The processes of a local training job: one per host, each in its own process group, its
stdout and stderr read line by line, its exit recorded; and how to end them all.

`spawn` starts a child that dies with this process (the local cloud's serving processes use it
too), so a `kill -9` of the cloud leaves no training host or model server behind.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

STDERR_TAIL = 8

LineSink = Callable[["HostProcess", str, bool], None]


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
# PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process: every
# child is forked from this one long-lived thread, never from a request's or a job's thread.
_spawner = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="spawner")


def _die_with(parent: int, sig: signal.Signals) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec: two syscalls, no locks
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def spawn(
    command: list[str], *, death_signal: signal.Signals = signal.SIGKILL, **popen: Any
) -> subprocess.Popen[bytes]:
    """`subprocess.Popen(command, **popen)` in a new process group, sent `death_signal` when this
    process dies (by any signal, `kill -9` too; Linux). Its own children are not covered: end
    them through its group (`os.killpg`)."""
    popen.setdefault("start_new_session", True)
    preexec = _die_with(os.getpid(), death_signal)
    return _spawner.submit(subprocess.Popen, command, preexec_fn=preexec, **popen).result()


def describe_exit(code: int) -> str:
    """`exited with code 1` / `was killed by SIGKILL`."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class HostProcess:
    """One host (`algo-N` at `127.0.0.N`) of a job, and the process that plays it."""

    def __init__(self, name: str, address: str, root: Path) -> None:
        self.name, self.address, self.root = name, address, root
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self.exited_at = 0.0
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._readers: list[threading.Thread] = []
        self._reaper: threading.Thread | None = None

    def launch(
        self,
        command: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        on_line: LineSink,
        on_exit: Callable[[], None],
    ) -> None:
        """Start the process: `on_line(host, line, is_stderr)` sees each line, then `on_exit()`."""
        self.proc = spawn(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # own process group: killpg reaches its children too
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, False, on_line)),
            threading.Thread(target=self._read, args=(self.proc.stderr, True, on_line)),
        ]
        self._reaper = threading.Thread(target=self._reap, args=(on_exit,))
        for t in (*self._readers, self._reaper):
            t.daemon = True
            t.start()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _read(self, stream: IO[bytes], is_stderr: bool, on_line: LineSink) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if is_stderr:
                self.stderr_tail.append(line)
            on_line(self, line, is_stderr)
        stream.close()

    def _reap(self, on_exit: Callable[[], None]) -> None:
        assert self.proc is not None
        code = self.proc.wait()
        self.exited_at = time.monotonic()
        self.exit_code = code
        on_exit()

    def join_output(self, timeout: float = 5.0) -> None:
        """Wait until every line the process wrote has been read (its pipes closed)."""
        for t in self._readers:
            t.join(timeout)

    def failure(self) -> str:
        """FailureReason for this host's exit, with its last stderr lines."""
        assert self.exit_code is not None
        tail = "\n".join(self.stderr_tail)
        return (
            f"AlgorithmError: ExecuteUserScriptError: host {self.name} ({self.address}) "
            f"{describe_exit(self.exit_code)}" + (f"; last stderr lines:\n{tail}" if tail else "")
        )


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def end_all(hosts: Iterable[HostProcess], grace: float) -> None:
    """SIGTERM every host's group, SIGKILL what is left after `grace` s, and reap them all."""
    live = [h for h in hosts if h.proc is not None]
    if grace > 0:
        for h in live:
            if h.proc.poll() is None:  # type: ignore[union-attr]
                _signal_group(h.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + grace
        for h in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                h.proc.wait(timeout=max(0.0, deadline - time.monotonic()))  # type: ignore[union-attr]
    for h in live:
        # Even when the leader has exited, children it left in its group must go too.
        _signal_group(h.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        h.proc.wait()  # type: ignore[union-attr]
