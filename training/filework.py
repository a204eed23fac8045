"""File work of a training job (unpacking, copying, linking, packing) in a helper process.

A thread that unpacks or copies cannot be interrupted; a process can be killed at once when the
job is stopped or out of time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.hosts import spawn
from training.interrupts import Interrupted
from training.scriptmode import FetchError, fetch_prefix, fetch_sourcedir, link_tree, pack_dir

# What the helper process can do: name -> function of str arguments.
_FILE_WORK: dict[str, Callable[..., Any]] = {
    "fetch_sourcedir": lambda uri, dest: fetch_sourcedir(uri, Path(dest), None),
    "fetch_prefix": lambda uri, dest: fetch_prefix(uri, Path(dest), None),
    "link_tree": lambda src, dest: link_tree(Path(src), Path(dest)),
    "pack_dir": lambda directory, archive: pack_dir(Path(directory), Path(archive)),
}
_FILE_WORK_ENTRY = "from training.filework import file_work_main; file_work_main()"
_FETCH_ERROR_EXIT = 3

# `files(("pack_dir", [directory, archive]), …)`: the results of the calls, in order.
FileWork = Callable[..., list[Any]]


def file_work_main() -> None:
    """The helper process: run the `[[name, [args]], …]` read from stdin, print the results as
    JSON; a FetchError is its message on stderr and exit status 3."""
    calls = json.load(sys.stdin)
    try:
        results = [_FILE_WORK[name](*args) for name, args in calls]
    except FetchError as err:
        sys.stderr.write(str(err))
        sys.exit(_FETCH_ERROR_EXIT)
    json.dump(results, sys.stdout)


def run_file_work(
    calls: tuple[tuple[str, list[str]], ...],
    *,
    python: str,
    cwd: Path,
    interrupted: threading.Event,
) -> list[Any]:
    """Do `calls` in one helper process, killed at once (`Interrupted`) when `interrupted` is
    set; a FetchError in the helper is raised here with its message."""
    cwd.mkdir(parents=True, exist_ok=True)
    proc = spawn(
        [python, "-c", _FILE_WORK_ENTRY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )
    payload: bytes | None = json.dumps(calls).encode()
    while True:
        try:
            out, err = proc.communicate(payload, timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            payload = None  # sent; communicate() goes on where it was
            if interrupted.is_set():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise Interrupted from None
    message = err.decode(errors="replace").strip()
    if proc.returncode == _FETCH_ERROR_EXIT:
        raise FetchError(message)
    if proc.returncode != 0:
        raise RuntimeError(f"file work {[c[0] for c in calls]} failed: {message[-500:]}")
    return json.loads(out)
