"""The cloud commands and the pieces under persistence, without starting a cloud (fast)."""

from __future__ import annotations

import io
import json
import os
import pickle
import shlex
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import pytest

from localcloud import control
from localcloud.gateway.persisting import is_mutating
from localcloud.shared.locks import SharedExclusiveLock
from localcloud.shared.pickling import dumps
from smlocal.core.files import write_atomically

CLI = "from smlocal.cli import main; main()"


def environ(method: str, path: str = "/", *, body: bytes = b"", **headers: str) -> dict:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    env.update(headers)
    return env


@pytest.mark.parametrize(
    ("env", "mutating"),
    [
        (environ("GET", "/bucket/key"), False),
        (environ("HEAD", "/bucket/key"), False),
        (environ("PUT", "/bucket/key", body=b"data"), True),
        (environ("DELETE", "/bucket/key"), True),
        (environ("POST", "/", HTTP_X_AMZ_TARGET="SageMaker.DescribeEndpoint"), False),
        (environ("POST", "/", HTTP_X_AMZ_TARGET="SageMaker.CreateEndpoint"), True),
        (environ("POST", "/", HTTP_X_AMZ_TARGET="Logs_20140328.PutLogEvents"), True),
        (environ("POST", "/endpoints/e/invocations", body=b"[1]"), False),
        (
            environ(
                "POST",
                body=b"Action=GetCallerIdentity&Version=2011-06-15",
                CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8",
            ),
            False,
        ),
        (
            environ(
                "POST",
                body=b"Action=CreateStack&StackName=s",
                CONTENT_TYPE="application/x-www-form-urlencoded",
            ),
            True,
        ),
    ],
)
def test_is_mutating(env: dict, mutating: bool) -> None:
    body = env["wsgi.input"].getvalue()
    assert is_mutating(env) is mutating
    assert env["wsgi.input"].read() == body  # the body is still there for moto


def test_exclusive_waits_for_shared_holders_and_shared_is_reentrant() -> None:
    lock = SharedExclusiveLock()
    order: list[str] = []
    with lock.shared():
        writer = threading.Thread(target=lambda: lock.exclusive().__enter__() or order.append("w"))
        writer.start()
        writer.join(0.2)
        assert writer.is_alive()  # blocked by the shared holder
        with lock.shared():  # re-entrant while a writer waits: no deadlock
            order.append("r")
    writer.join(5)
    assert order == ["r", "w"]


def test_write_atomically_replaces_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "state" / "file"
    write_atomically(path, b"one")
    write_atomically(path, b"two")
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file"]  # no temp file left


def test_dumps_handles_lambda_factories_and_locks() -> None:
    tags = defaultdict(lambda: defaultdict(dict))
    tags["arn"]["key"] = "value"
    restored = pickle.loads(dumps({"tags": tags, "lock": threading.RLock()}))
    assert restored["tags"]["arn"] == {"key": "value"}
    assert restored["tags"]["other"]["x"] == {}  # still a defaultdict of defaultdicts
    assert restored["lock"].acquire(blocking=False)


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
