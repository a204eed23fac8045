"""Helpers for the inference tests: a model directory from an untrained, seeded Net (no training
needed) and a really served `python -m inference.server` process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import torch

import inference.inference as model_script

ROOT = Path(__file__).resolve().parents[2]


def build_model_dir(directory: Path, script: str | None = None, seed: int = 0) -> Path:
    """model.pth (state_dict of a seeded Net) + code/inference.py (ours, or `script`)."""
    code = directory / "code"
    code.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.save(model_script.Net().state_dict(), directory / "model.pth")
    if script is None:
        shutil.copy(model_script.__file__, code / "inference.py")
    else:
        (code / "inference.py").write_text(textwrap.dedent(script))
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
