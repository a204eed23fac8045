"""The cloud commands (`cloud env`, `cloud stop`, `cloud status`, starts it refuses), without
starting a cloud (fast)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud import control
from smlocal.core.files import write_atomically

CLI = "from smlocal.cli import main; main()"


def test_env_prints_exports_a_shell_can_eval(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from smlocal.cli import main; main()",
            "cloud",
            "env",
            "-p",
            "4999",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("export ")
    pairs = dict(item.split("=", 1) for item in shlex.split(out)[1:])
    assert pairs["AWS_ENDPOINT_URL"] == "http://localhost:4999"
    assert pairs["CDK_DEFAULT_ACCOUNT"] == "123456789012"
    assert pairs["AWS_REGION"] == pairs["AWS_DEFAULT_REGION"] == "us-east-1"
    # The key the cloud of that state dir issues (made now, kept for its start), owner-only.
    key = json.loads((tmp_path / "credentials.json").read_text())
    assert pairs["AWS_ACCESS_KEY_ID"] == key["AccessKeyId"]
    assert pairs["AWS_SECRET_ACCESS_KEY"] == key["SecretAccessKey"]
    assert len(key["AccessKeyId"]) == 20 and len(key["SecretAccessKey"]) == 40
    assert (tmp_path / "credentials.json").stat().st_mode & 0o777 == 0o600


def test_stop_and_status_of_a_cloud_that_is_not_running(tmp_path: Path) -> None:
    assert control.stop(tmp_path) is None
    assert control.running(tmp_path) is None
    # A pid file left by a crash does not count as running.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_atomically(tmp_path / control.PID_FILE, f'{{"pid": {dead.pid}, "port": 1}}'.encode())
    assert control.running(tmp_path) is None
    assert control.stop(tmp_path) is None
    assert not (tmp_path / control.PID_FILE).exists()


def test_start_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(control.CloudError, match=f"port {port} is in use"):
            control.start_detached(tmp_path, port)


def test_start_refuses_a_second_cloud_on_the_same_state_dir(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        record = f'{{"pid": {sleeper.pid}, "port": 1, "endpoint_url": "http://localhost:1"}}'
        write_atomically(tmp_path / control.PID_FILE, record.encode())
        with pytest.raises(control.CloudError, match="already runs"):
            control.start_detached(tmp_path, 0)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert os.path.exists(tmp_path / control.PID_FILE)
