"""The cloud commands and the pieces under persistence, without starting a cloud (fast)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud import control
from smlocal.core.files import write_atomically

CLI = "from smlocal.cli import main; main()"


def test_env_fails_in_one_line_when_no_cloud_answers(tmp_path: Path) -> None:
    # (The exports of a running cloud: tests/sdk/test_sdk.py, which starts one.)
    port = _silent_port()
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
    from smlocal.core.environments import PROJECT_ROOT

    code = "from localcloud.cli import _state_dir; print(_state_dir(None))"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop(control.STATE_DIR_ENV, None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == str(PROJECT_ROOT / ".smlocal" / "cloud"), out.stderr


def test_outside_a_checkout_the_default_is_the_users_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smlocal.core.environments import PROJECT_ROOT

    assert control._is_checkout(PROJECT_ROOT)  # this clone (an editable install is one too)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "another"\n')
    assert not control._is_checkout(tmp_path)
    site = tmp_path / "site-packages"  # where pip puts the packages: no pyproject.toml
    monkeypatch.setattr(control, "PROJECT_ROOT", site)
    home = tmp_path / "home"
    default = home / ".local" / "state" / "smlocal" / "cloud"
    assert control.default_state_dir({"HOME": str(home)}) == default
    # XDG_STATE_HOME when it is absolute (a relative one is invalid, the spec says: ignored).
    xdg = {"HOME": str(home), "XDG_STATE_HOME": str(tmp_path / "state")}
    assert control.default_state_dir(xdg) == tmp_path / "state" / "smlocal" / "cloud"
    assert control.default_state_dir({"HOME": str(home), "XDG_STATE_HOME": "rel"}) == default
    # --state-dir, else SMLOCAL_STATE_DIR, else the default.
    chosen = {"HOME": str(home), control.STATE_DIR_ENV: str(tmp_path / "chosen")}
    assert control.state_dir(None, chosen) == tmp_path / "chosen"
    assert control.state_dir(tmp_path / "flag", chosen) == tmp_path / "flag"


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("status", "the local cloud of {dir} is not running"),
        ("env", "start one with `smlocal cloud start --detach --state-dir {dir}`"),
        ("stop", "the local cloud is not running"),
    ],
)
def test_every_cloud_command_finds_the_state_dir_in_smlocal_state_dir(
    tmp_path: Path, command: str, says: str
) -> None:
    # A pid file a crashed cloud left there: `stop` clears the state dir it was pointed at.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_atomically(tmp_path / control.PID_FILE, f'{{"pid": {dead.pid}, "port": 1}}'.encode())
    env = {**os.environ, control.STATE_DIR_ENV: str(tmp_path)}
    args = ["cloud", command] + (["-p", str(_silent_port())] if command == "env" else [])
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args], env=env, capture_output=True, text=True
    )
    assert says.format(dir=tmp_path) in done.stdout + done.stderr
    if command == "stop":
        assert not (tmp_path / control.PID_FILE).exists()


def _silent_port() -> int:
    return control.DEFAULT_PORT + 1 if control.answers(control.DEFAULT_PORT) else 4999


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


def test_a_cloud_that_refuses_to_start_says_why_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text("not json")  # a state dir it cannot use
    (tmp_path / "credentials.json").chmod(0o600)  # private, so the credentials are what fails
    done = subprocess.run(
        [sys.executable, "-m", "localcloud", "serve", "--port", "0", "--state-dir", tmp_path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {tmp_path}/credentials.json: not the local cloud's credentials; "
        "delete it to make new ones"
    ]
    # `cloud start --detach` relays that line, and only that line, from the cloud's log.
    log = tmp_path / "server.log"
    log.write_text("starting\n" + done.stderr)
    assert str(control.start_failure(2, log)) == done.stderr.strip().removeprefix("error: ")
    assert "status 1 while starting" in str(control.start_failure(1, log))
