"""Worker processes find this package, not the user's `code/inference.py`, from any directory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers.models import build_model_dir
from tests.helpers.ports import free_port


def test_several_workers_start_outside_the_repository(tmp_path: Path) -> None:
    # Run from a directory that is not the repository root: the package is then found through
    # the editable install, after sys.path, where the script's directory (which holds an
    # inference.py of its own) must not shadow it in the workers.
    model_dir = build_model_dir(tmp_path / "model")
    port = free_port()
    command = [sys.executable, "-m", "inference.server", "--model-dir", str(model_dir)]
    command += ["--port", str(port), "--workers", "2"]
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"server exited: {process.stdout.read()[-2000:]}"
            assert time.monotonic() < deadline, "server not ready within 60 s"
            try:
                if httpx.get(url + "/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        body = json.dumps([[0] * 784]).encode()
        statuses = {httpx.post(url + "/invocations", content=body).status_code for _ in range(20)}
        assert statuses == {200}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0
