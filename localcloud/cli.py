"""`smlocal cloud start|stop|status|env`: the local cloud (AWS APIs on localhost)."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

cloud_app = typer.Typer(
    name="cloud",
    no_args_is_help=True,
    help="The local cloud: S3, IAM, STS, CloudFormation, SageMaker (training jobs and endpoints "
    "that really run), CloudWatch, Auto Scaling, SSM and ECR on http://localhost:PORT.",
)

_STATE_DIR_HELP = (
    "where the state and the pid file live [default: $SMLOCAL_STATE_DIR, else .smlocal/cloud "
    "in the checkout smlocal runs from, else $XDG_STATE_HOME/smlocal/cloud "
    "(~/.local/state/smlocal/cloud)]"
)


def _state_dir(state_dir: Path | None) -> Path:
    from localcloud.control import state_dir as resolve

    return resolve(state_dir)


@cloud_app.command("start")
def start(
    port: int = typer.Option(4566, "--port", "-p", help="port on 127.0.0.1 [default: 4566]"),
    state_dir: Path | None = typer.Option(None, "--state-dir", help=_STATE_DIR_HELP),
    detach: bool = typer.Option(
        False, "--detach", "-d", help="run in the background; return once it answers"
    ),
    cors_origin: list[str] = typer.Option(
        [],
        "--cors-origin",
        help="an origin (http://localhost:3000) whose pages may call the cloud with its keys; "
        "repeatable [default: none, CORS off]",
    ),
    clock_speed: float = typer.Option(
        1.0,
        "--clock-speed",
        help="run CloudWatch periods, alarm evaluation and autoscaling cooldowns N times "
        "faster (a 60 s period lasts 2 s at 30); timestamps stay wall-clock [default: 1]",
    ),
) -> None:
    """Serve the AWS APIs on http://localhost:PORT (state kept under --state-dir).

    Only requests signed with the keys it issued get in (`smlocal cloud env` prints them)."""
    from localcloud import control

    directory = _state_dir(state_dir)
    origins = tuple(cors_origin)
    if not detach:
        control.start_foreground(directory, port, origins, clock_speed)
        return
    record = control.start_detached(directory, port, cors_origins=origins, clock_speed=clock_speed)
    typer.echo(f"local cloud serving on {record['endpoint_url']} (pid {record['pid']})")
    where = "" if directory == control.default_state_dir() else f" --state-dir {directory}"
    typer.echo(f'point clients at it: eval "$(smlocal cloud env{where})"')


@cloud_app.command("stop")
def stop(
    state_dir: Path | None = typer.Option(None, "--state-dir", help=_STATE_DIR_HELP),
) -> None:
    """Stop the local cloud, its training jobs and its endpoints' serving processes."""
    from localcloud import control

    record = control.stop(_state_dir(state_dir))
    if record is None:
        typer.echo("the local cloud is not running")
    else:
        typer.echo(f"stopped the local cloud on {record['endpoint_url']} (pid {record['pid']})")


@cloud_app.command("status")
def status(
    state_dir: Path | None = typer.Option(None, "--state-dir", help=_STATE_DIR_HELP),
) -> None:
    """Whether the local cloud runs, where, and its endpoints and training jobs."""
    from localcloud import control

    directory = _state_dir(state_dir)
    record = control.running(directory)
    if record is None:
        typer.echo(f"the local cloud of {directory} is not running")
        raise typer.Exit(1)
    healthy = control.answers(record["port"])
    speed = float(record.get("clock_speed", 1.0))
    typer.echo(
        f"local cloud on {record['endpoint_url']} (pid {record['pid']}, state {directory}"
        + (f", clock {speed:g}x" if speed != 1 else "")
        + "): "
        + ("answering" if healthy else "NOT answering")
    )
    if not healthy:
        raise typer.Exit(1)
    for line in control.summary(record["port"], directory):
        typer.echo(line)


@cloud_app.command("env")
def env(
    state_dir: Path | None = typer.Option(None, "--state-dir", help=_STATE_DIR_HELP),
    port: int | None = typer.Option(
        None, "--port", "-p", help="[default: the running cloud's port, else 4566]"
    ),
) -> None:
    """Print `export …` lines for clients: eval "$(smlocal cloud env)" (the cloud's URL, the
    key it issued, the cloud as HTTPS proxy with its CA bundle, SMLOCAL_STATE_DIR); exit 2 when
    no cloud answers."""
    from localcloud import control

    variables = control.running_environment(_state_dir(state_dir), port)
    typer.echo("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in variables.items()))


def register(app: typer.Typer) -> None:
    """Add this room's commands to `app` (imports inside commands stay lazy)."""
    app.add_typer(cloud_app, name="cloud")
