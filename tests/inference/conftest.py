"""Fixtures: a model directory built from an untrained, seeded Net (no training needed), the
ASGI app in-process for speed, and a really served process for the contract."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import inference.inference as model_script
from inference.handlers import load
from inference.server import create_app

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


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def client(model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(load(model_dir)), raise_server_exceptions=False) as test_client:
        yield test_client


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


@pytest.fixture(scope="session")
def served(model_dir: Path) -> Iterator[Served]:
    server = Served(model_dir).wait_ready()
    yield server
    server.stop()
