"""A served model: a real `python -m inference.server` process on a free port, stopped by the
test, and starlette's TestClient for the app in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx

from tests.helpers import ROOT
from tests.helpers.ports import free_port

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["Served", "TestClient"]


class Served:
    """A `python -m inference.server` process on a free port, stopped by the test."""

    def __init__(self, model_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "inference.server", "--model-dir", str(model_dir)]
        command += ["--port", str(self.port), *args]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, within_s: float = 60.0) -> Served:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/ping", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server not ready within {within_s} s: {self.output()}")

    def output(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stdout.read() if self.process.stdout else ""

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
