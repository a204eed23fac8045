"""A `requirements.txt` beside the entry point, installed as SageMaker's toolkits install it
(`pip install -r requirements.txt` in the code folder before the script runs), but into an
overlay environment that leaves this project's environment untouched.

The overlay is a virtual environment (`python -m venv --without-pip`) whose site-packages holds
what the requirements add, followed by this interpreter's own site-packages (a `.pth` file):
what the project already has (torch, numpy) is found there and not installed again, and a
version the requirements pin differently shadows it in the overlay alone (pip never uninstalls
outside the environment it installs into). Overlays are built once per content (SHA-256 of the
requirements file and this interpreter) under a cache folder, under a lock, and published by
a rename, so concurrent jobs share one; a failed build leaves nothing behind. pip runs with no
retries: without a reachable index the job fails at once with pip's own one-line reason.

`uv` is used in place of pip when it is on the PATH (`uv pip install --python`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import venv
from pathlib import Path
from typing import Any

from training.hosts import spawn
from training.interrupts import Interrupted
from training.scriptmode import FetchError

FILENAME = "requirements.txt"


class RequirementsError(FetchError):
    """The requirements could not be installed (a job fails with the toolkit's
    InstallRequirementsError, an endpoint with this message)."""


_READY = ".smlocal-ready"


def digest(requirements: Path, python: str = sys.executable) -> str:
    """What identifies an overlay: the requirements' bytes and the interpreter under them."""
    h = hashlib.sha256(requirements.read_bytes())
    h.update(b"\0" + os.fsencode(os.path.realpath(python)) + b"\0" + os.fsencode(_site()))
    return h.hexdigest()[:32]


def _site() -> str:
    return sysconfig.get_paths()["purelib"]


def overlay_python(overlay: Path) -> Path:
    return overlay / "bin" / "python"


def ensure_overlay(
    requirements: Path,
    cache: Path,
    *,
    cwd: Path,
    interrupted: threading.Event | None = None,
) -> Path:
    """The interpreter of the overlay for `requirements` (built under `cache` if not there yet,
    pip running in `cwd`). RequirementsError with pip's reason when the install fails; Interrupted
    (the build killed) when `interrupted` is set meanwhile."""
    cache.mkdir(parents=True, exist_ok=True)
    overlay = cache / digest(requirements)
    if (overlay / _READY).is_file():
        return overlay_python(overlay)
    with (cache / f"{overlay.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent job building the same overlay
        if (overlay / _READY).is_file():
            return overlay_python(overlay)
        building = cache / f"{overlay.name}.building"
        shutil.rmtree(building, ignore_errors=True)
        try:
            _build(requirements, building, cwd=cwd, interrupted=interrupted)
            (building / _READY).write_text(str(requirements.resolve()))
            building.rename(overlay)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return overlay_python(overlay)


class _Overlay(venv.EnvBuilder):
    """A venv without activation scripts: an overlay is run by its interpreter's path, never
    activated, and venv would copy the scripts' own modes (0644) past the cloud's umask."""

    def setup_scripts(self, context: Any) -> None:
        pass


def _build(
    requirements: Path, target: Path, *, cwd: Path, interrupted: threading.Event | None
) -> None:
    # The venv's interpreter is the base one; this environment's packages come through a .pth.
    _Overlay(with_pip=False, symlinks=True).create(target)
    python = overlay_python(target)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # `addsitedir`, not a bare path line: the project's own .pth files are processed too.
    Path(purelib, "_smlocal_project.pth").write_text(f"import site; site.addsitedir({_site()!r})\n")
    uv = shutil.which("uv")
    if uv:
        command = [uv, "pip", "install", "--python", str(python), "-r", str(requirements)]
    else:
        command = [
            str(python),
            "-m",
            "pip",
            "install",
            "-vvv",  # the only level at which pip says that it could not reach its index
            "--retries",
            "0",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
            str(requirements),
        ]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = spawn(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while True:
        try:
            out, _ = proc.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if interrupted is not None and interrupted.is_set():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise Interrupted from None
    if proc.returncode != 0:
        raise RequirementsError(
            f"{FILENAME} could not be installed: {_reason(out.decode(errors='replace'))}"
        )


_OFFLINE = ("connection error:", "Failed to establish a new connection")


def _reason(output: str) -> str:
    """pip's (or uv's) last error line, the one that says why, and whether the index was out
    of reach (pip then only says that no version matched)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR:", "error:", "×"))]
    chosen = errors[-1] if errors else (lines[-1] if lines else "no output")
    reason = chosen.removeprefix("ERROR:").removeprefix("error:").strip()[:400]
    if any(marker in output for marker in _OFFLINE):
        reason += " (the package index could not be reached)"
    return reason
