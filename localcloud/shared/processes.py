"""The processes of a local cloud: its pid file, whether it lives, and what a cloud killed
without its clean stop left running (found by the mark every process it starts inherits)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

PID_FILE = "server.json"
# The cloud puts its state dir into its environment: every process it starts, and their
# children, inherit it, so a restart or `cloud stop` can find what a killed cloud left behind.
STATE_DIR_ENV = "SMLOCAL_CLOUD_STATE_DIR"


def read_record(state_dir: Path) -> dict[str, Any] | None:
    """The pid file of a local cloud under `state_dir`, if there is one."""
    try:
        return json.loads((Path(state_dir) / PID_FILE).read_text())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) no longer serves.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _marked(entry: Path) -> str | None:
    """The state dir named in a process's environment by the cloud that started it, if any."""
    prefix = f"{STATE_DIR_ENV}=".encode()
    for item in (entry / "environ").read_bytes().split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def _scan(directory: Path) -> list[tuple[int, bool]]:
    """(pid, marked) of the live processes that belong to a cloud of `directory`: its command
    line or working directory lies under it, or its environment says a cloud of it started it
    (children inherit that, so the workers of a serving process and a script's children count)."""
    found, needle = [], str(directory)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            marker = _marked(entry)
        except OSError:
            continue
        if state == "Z":
            continue
        marked = marker is not None and (marker == needle or marker.startswith(needle + "/"))
        if marked or needle in cmdline or cwd.startswith(needle):
            found.append((int(entry.name), marked))
    return found


def processes_under(directory: Path) -> list[int]:
    """Live pids that a cloud with `directory` as (or under its) state dir runs: its server,
    training hosts, serving processes and their children."""
    return [pid for pid, _ in _scan(directory)]


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def end_leftovers(state_dir: Path, timeout_s: float = 5.0) -> list[int]:
    """End the processes a cloud of `state_dir` started and left running (after a `kill -9`, the
    children of its children): SIGTERM, SIGKILL after `timeout_s`. Only processes whose
    environment carries the cloud's mark are ended, never this process or its ancestors, and
    nothing while a live cloud owns `state_dir`. Returns the pids that were signalled."""
    spare = _ancestors()
    record = running(state_dir)
    if record is not None and int(record["pid"]) not in spare:
        return []  # a live cloud owns the state dir: they are its processes, not leftovers
    state_dir = Path(state_dir).resolve()
    pids = [pid for pid, marked in _scan(state_dir) if marked and pid not in spare]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in [p for p in pids if pid_alive(p)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout_s
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
    return pids


def running(state_dir: Path) -> dict[str, Any] | None:
    """The record of the local cloud of `state_dir` if its process is alive, else None."""
    record = read_record(state_dir)
    if record is None or not pid_alive(int(record["pid"])):
        return None
    return record
