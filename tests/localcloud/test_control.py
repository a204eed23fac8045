"""The cloud commands and the pieces under persistence, without starting a cloud (fast)."""

from __future__ import annotations

import io
import os
import pickle
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


def test_env_fails_in_one_line_when_no_cloud_answers(tmp_path: Path) -> None:
    # (The exports of a running cloud: tests/sdk/test_sdk.py, which starts one.)
    port = control.DEFAULT_PORT + 1 if control.answers(control.DEFAULT_PORT) else 4999
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CLI,
            "cloud",
            "env",
            "-p",
            str(port),
            "--state-dir",
            tmp_path,
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"no local cloud answers on http://localhost:{port}" in done.stderr


def test_the_default_state_dir_is_the_projects_wherever_a_command_runs(tmp_path: Path) -> None:
    from smlocal.core.manifest import PROJECT_ROOT

    code = "from localcloud.cli import _state_dir; print(_state_dir(None))"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == str(PROJECT_ROOT / ".smlocal" / "cloud"), out.stderr


def test_a_port_in_time_wait_is_free_to_start_on(tmp_path: Path) -> None:
    import socket

    from werkzeug.serving import make_server

    # A connection the listening side closes first leaves its port in TIME_WAIT, as a stopped
    # cloud's connections do.
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()
        assert client.recv(1) == b""
        client.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # without SO_REUSEADDR the port is still taken
    assert control.port_free(port)
    server = make_server("127.0.0.1", port, lambda environ, start_response: [])
    server.server_close()


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
