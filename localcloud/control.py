"""Start, stop and inspect the local cloud process through its pid file (`server.json`)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from localcloud.gateway.authority import ensure_ca
from localcloud.gateway.bundle import TRUST_VARIABLES, write_bundle
from localcloud.gateway.guard import HEALTH_PATH
from localcloud.gateway.proxy import proxy_url
from localcloud.shared.credentials import ACCOUNT_ID, credentials
from localcloud.shared.privacy import open_private_log, private_state_dir
from localcloud.shared.processes import (
    PID_FILE,
    end_leftovers,
    pid_alive,
    read_record,
    running,
)
from smlocal.core.environments import PROJECT_ROOT
from smlocal.core.errors import UserError

DEFAULT_PORT = 4566
# Read by every command that finds a cloud, exported by `cloud env`. (Not the cloud's own mark
# on its processes, processes.STATE_DIR_ENV: a shell carrying that would be taken for a
# leftover of the cloud and ended.)
STATE_DIR_ENV = "SMLOCAL_STATE_DIR"
LOG_FILE = "server.log"
REGION = "us-east-1"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
# Beyond this a one-minute period lasts under 0.1 s: shorter than one evaluation pass under load.
MAX_CLOCK_SPEED = 600.0


class CloudError(UserError):
    """The local cloud cannot be started, found or stopped as asked."""


def _is_checkout(root: Path) -> bool:
    """Whether `root` is a source tree of this project (a clone, or an editable install of
    one): its pyproject.toml names the project. Installed into site-packages, the packages'
    parent holds no such file."""
    try:
        with open(root / "pyproject.toml", "rb") as f:
            return tomllib.load(f).get("project", {}).get("name") == "smlocal"
    except (OSError, tomllib.TOMLDecodeError):
        return False


def default_state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where a cloud lives unless told: `.smlocal/cloud` in the checkout smlocal runs from
    (every clone has its own cloud, whatever the current directory), else the user's state
    folder, `$XDG_STATE_HOME/smlocal/cloud` (`~/.local/state/smlocal/cloud`): never inside
    site-packages."""
    if _is_checkout(PROJECT_ROOT):
        return PROJECT_ROOT / ".smlocal" / "cloud"
    xdg = environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "smlocal" / "cloud"
    # (The XDG spec: a relative XDG_STATE_HOME is invalid and to be ignored.)
    home = Path(environ.get("HOME") or Path.home())
    return home / ".local" / "state" / "smlocal" / "cloud"


def state_dir(given: Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The state dir a command acts on: `given` (--state-dir), else $SMLOCAL_STATE_DIR, else
    `default_state_dir()`; absolute."""
    if given is None and environ.get(STATE_DIR_ENV):
        given = Path(environ[STATE_DIR_ENV]).expanduser()
    return Path(given or default_state_dir(environ)).resolve()


def answers(port: int, timeout_s: float = 2.0) -> bool:
    """Whether a local cloud answers on `port` (its health check, which needs no signature
    and tells nothing)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", HEALTH_PATH)
        return 200 <= conn.getresponse().status < 300
    except OSError:
        return False
    finally:
        conn.close()


def port_free(port: int) -> bool:
    """Whether the cloud could bind `port`: with SO_REUSEADDR, as its server does, so the
    connections a just-stopped cloud left in TIME_WAIT do not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_failure(status: int, log_path: Path) -> CloudError:
    """Why a cloud exited while starting: the one line it said when it refused to start
    (status 2, `error: ...`, e.g. a state dir it cannot use), else its log's last lines."""
    if status == 2:
        lines = _log_tail(log_path).splitlines()
        if lines and lines[-1].startswith("error: "):
            return CloudError(lines[-1].removeprefix("error: "))
    return CloudError(
        f"the local cloud exited with status {status} while starting; "
        f"{log_path}:\n{_log_tail(log_path)}"
    )


def _check_can_start(state_dir: Path, port: int) -> None:
    record = running(state_dir)
    if record is not None:
        raise CloudError(
            f"the local cloud of {state_dir} already runs on {record['endpoint_url']} "
            f"(pid {record['pid']}); `smlocal cloud stop` first"
        )
    if port and not port_free(port):
        raise CloudError(f"port {port} is in use; pick another with --port")


def check_origin(origin: str) -> str:
    """An origin as browsers send it (scheme://host[:port]), or a CloudError naming it."""
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise CloudError(
            f"--cors-origin must be an origin such as http://localhost:3000, got {origin!r}"
        )
    return origin.rstrip("/")


def start_detached(
    state_dir: Path,
    port: int,
    timeout_s: float = START_TIMEOUT_S,
    cors_origins: tuple[str, ...] = (),
    clock_speed: float = 1.0,
) -> dict:
    """Start `python -m localcloud serve` in its own session; return its record once it answers."""
    state_dir = Path(state_dir).resolve()
    origins = [check_origin(o) for o in cors_origins]
    speed = check_clock_speed(clock_speed)
    _check_can_start(state_dir, port)
    private_state_dir(state_dir)  # made 0700, or refused in one line if others can read it
    credentials(state_dir)  # made here, so that no client waits for the server to make them
    ensure_ca(state_dir)
    log_path = state_dir / LOG_FILE
    with open_private_log(log_path) as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localcloud",
                "serve",
                "--port",
                str(port),
                "--state-dir",
                str(state_dir),
                *[arg for origin in origins for arg in ("--cors-origin", origin)],
                "--clock-speed",
                repr(speed),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: it outlives this command, and `stop` can signal its whole group.
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise start_failure(proc.returncode, log_path)
        record = read_record(state_dir)
        if record is not None and record.get("pid") == proc.pid and answers(record["port"]):
            return record
        time.sleep(0.1)
    proc.terminate()
    raise CloudError(f"the local cloud did not answer within {timeout_s:g} s; see {log_path}")


def check_clock_speed(speed: float) -> float:
    """A clock speed the cloud can run at (> 0, at most MAX_CLOCK_SPEED), or a CloudError."""
    if not 0 < speed <= MAX_CLOCK_SPEED:
        raise CloudError(f"--clock-speed must be > 0 and <= {MAX_CLOCK_SPEED:g}, got {speed:g}")
    return float(speed)


def start_foreground(
    state_dir: Path, port: int, cors_origins: tuple[str, ...] = (), clock_speed: float = 1.0
) -> None:
    """Serve in this process until Ctrl-C / SIGTERM."""
    from localcloud.server import serve

    origins = tuple(check_origin(o) for o in cors_origins)
    speed = check_clock_speed(clock_speed)
    _check_can_start(Path(state_dir), port)
    serve(Path(state_dir), port, origins, speed)


def stop(state_dir: Path, timeout_s: float = STOP_TIMEOUT_S) -> dict[str, Any] | None:
    """SIGTERM the local cloud and wait for it (and its serving processes) to exit.

    Returns the record of what was stopped, None if nothing ran."""
    record = running(state_dir)
    if record is None:
        (Path(state_dir) / PID_FILE).unlink(missing_ok=True)  # stale after a crash
        end_leftovers(state_dir)  # what a killed cloud left running
        return None
    pid = int(record["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    # A detached cloud leads its own process group: whatever it left behind there goes too.
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    (Path(state_dir) / PID_FILE).unlink(missing_ok=True)
    end_leftovers(state_dir)
    return record


def environment(
    port: int, state_dir: Path, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """What a client (boto3, the CDK CLI, the SageMaker SDKs, the AWS CLI) needs to reach the
    local cloud of `state_dir`, for a shell whose environment is `environ`: its URL, the key it
    issued, the cloud as the HTTPS proxy (AWS's names served, other hosts relayed) and a CA
    bundle that trusts the cloud for AWS's names and what `environ` trusted for the rest."""
    state_dir = Path(state_dir).resolve()
    key = credentials(state_dir)
    url = f"http://localhost:{port}"
    proxy = proxy_url(port, state_dir)
    bundle = str(write_bundle(state_dir, environ))
    direct = "localhost,127.0.0.1,::1"
    return {
        "AWS_ENDPOINT_URL": url,
        # Both spellings: Python and curl prefer the lowercase one when a user already set it.
        "HTTPS_PROXY": proxy,
        "https_proxy": proxy,
        "NO_PROXY": direct,
        "no_proxy": direct,
        # Each client family reads its own variable; each replaces that client's default CAs.
        **{name: bundle for name in TRUST_VARIABLES},
        "AWS_ACCESS_KEY_ID": key.access_key_id,
        "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "CDK_DEFAULT_ACCOUNT": ACCOUNT_ID,
        "CDK_DEFAULT_REGION": REGION,
        "CDK_DISABLE_VERSION_CHECK": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        STATE_DIR_ENV: str(state_dir),
    }


def running_environment(state_dir: Path, port: int | None = None) -> dict[str, str]:
    """`environment` of the cloud of `state_dir` (on `port`, else where its pid file says, else
    the default port), or a CloudError when no cloud answers there."""
    if port is None:
        record = running(state_dir)
        port = int(record["port"]) if record else DEFAULT_PORT
    if not answers(port):
        where = "" if Path(state_dir) == default_state_dir() else f" --state-dir {state_dir}"
        raise CloudError(
            f"no local cloud answers on http://localhost:{port}; start one with "
            f"`smlocal cloud start --detach{where}`"
        )
    return environment(port, state_dir)


def client(service: str, port: int, state_dir: Path, region: str = REGION) -> Any:
    """A boto3 client for `service` on the local cloud at `port`, with its key."""
    import boto3

    key = credentials(state_dir)
    return boto3.client(
        service,
        endpoint_url=f"http://localhost:{port}",
        region_name=region,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
    )


def summary(port: int, state_dir: Path) -> list[str]:
    """One line per endpoint and per training job of the default account and region."""
    sagemaker = client("sagemaker", port, state_dir)
    lines = []
    for endpoint in sagemaker.list_endpoints(MaxResults=100)["Endpoints"]:
        lines.append(f"  endpoint {endpoint['EndpointName']}: {endpoint['EndpointStatus']}")
    for job in sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]:
        lines.append(f"  training job {job['TrainingJobName']}: {job['TrainingJobStatus']}")
    return lines or ["  no endpoints, no training jobs"]
