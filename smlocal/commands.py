"""Project-level CLI commands (validate, status, promotion), registered on the `smlocal` app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from smlocal.core.options import EnvDir, EnvName

if TYPE_CHECKING:
    from rich.console import Console

    from smlocal.core.manifest import Environment


def validate(
    directory: EnvDir = None,
) -> None:
    """Validate every environment manifest, alone and together; exit 2 on the first bad one."""
    from rich.console import Console

    from smlocal.core.environments import load_all

    console = Console()
    for name, env in load_all(directory).items():
        pin = env.model.model_data_url or "no model pinned"
        console.print(
            f"[green]ok[/] {name}: {env.endpoint_kind} in {env.account}/{env.region}, {pin}",
            highlight=False,
        )


def status(
    env: EnvName,
    directory: EnvDir = None,
) -> None:
    """Compare what is deployed for an environment with its manifest: in sync, or what drifted.

    Exits 0 when in sync, 1 when something drifted or nothing is deployed.
    """
    from rich.console import Console
    from rich.markup import escape

    from smlocal.core.environments import load
    from smlocal.status import compare, desired_settings

    environment = load(env, directory)
    result = compare(environment)
    # One line per setting, soft-wrapped: model URLs, image URIs and ARNs stay whole in a narrow
    # terminal (it wraps them; no newline inside one), so they can be copied.
    console = Console(soft_wrap=True)
    _report_registry(console, environment)
    if result.deployed and result.endpoint_name:
        _report_idle(console, environment, result.endpoint_name)
    if not result.deployed:
        console.print(f"[yellow]{env}: not deployed[/]: {result.reason}", highlight=False)
        if result.kept_bucket:
            console.print(f"[yellow]kept[/]: {result.kept_bucket}", highlight=False)
        raise typer.Exit(1)
    console.print(
        f"[bold]{env}[/]: endpoint {result.endpoint_name} ({result.endpoint_status})",
        highlight=False,
    )
    drifted = {d.field for d in result.drift}
    wanted = desired_settings(environment)
    for key in list(wanted) + [k for k in result.actual if k not in wanted]:
        desired, deployed = wanted.get(key), result.actual.get(key)
        shown = desired if desired == deployed else f"manifest {desired} | deployed {deployed}"
        name = f"[red]{key}[/]" if key in drifted else key
        console.print(f"  {name}: {escape(str(shown))}", highlight=False)
    console.print(f"endpoint config: {result.endpoint_config_name}", highlight=False)
    if result.in_sync:
        console.print(f"[green]{env} is in sync with its manifest[/]")
        return
    if result.endpoint_status != "InService":
        console.print(f"[red]endpoint is {result.endpoint_status}, not InService[/]")
    for d in result.drift:
        console.print(
            f"[red]drift[/] {d.field}: manifest {d.desired!r}, deployed {d.deployed!r}",
            highlight=False,
        )
    raise typer.Exit(1)


def _report_registry(console: Console, environment: Environment) -> None:
    """Where the model registry disagrees with git (a warning: git is the source of truth)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from smlocal.core import aws
    from smlocal.core.registry import disagreements

    try:
        problems = disagreements(aws.client("sagemaker", environment), environment)
    except (ClientError, BotoCoreError) as err:
        problems = [f"registry: cannot be read ({err})"]
    for problem in problems:
        console.print(f"[yellow]{problem}[/] (git is the source of truth)", highlight=False)


def _report_idle(console: Console, environment: Environment, endpoint: str) -> None:
    """Flag an endpoint idle past the manifest's `cost.idle_limit_hours` (billed until deleted)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from smlocal.core import aws
    from smlocal.gitops.cost import idle_for, utc_now

    try:
        line = idle_for(
            environment,
            endpoint,
            aws.client("cloudwatch", environment),
            aws.client("sagemaker", environment),
            utc_now(),
        )
    except (ClientError, BotoCoreError) as err:
        line = f"idle: cannot be checked ({err})"
    if line:
        console.print(f"[yellow]{line}[/]", highlight=False)


def demo(
    keep_pin: bool = typer.Option(
        False, "--keep-pin", help="Leave the demo's model pin in environments/dev.yaml"
    ),
    epochs: int = typer.Option(5, "--epochs", help="Training epochs"),
    instance_count: int = typer.Option(2, "--instance-count", help="Training instances (hosts)"),
) -> None:
    """The main job end to end on the local cloud: train, pin, cdk deploy, predict, destroy.

    Starts its own local cloud (free port, temporary state) and stops it at the end; on failure
    it names the step and the reason, then destroys the stacks and reverts the pin.
    """
    from smlocal.demo import run_demo

    run_demo(epochs=epochs, instance_count=instance_count, keep_pin=keep_pin)


def register(app: typer.Typer) -> None:
    """Add the project-level commands to `app` (imports inside commands stay lazy)."""
    app.command("validate")(validate)
    app.command("status")(status)
    app.command("demo")(demo)
