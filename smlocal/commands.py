"""Project-level CLI commands (validate, status, promotion), registered on the `smlocal` app."""

from __future__ import annotations

from pathlib import Path

import typer


def validate(
    directory: Path = typer.Option(None, "--dir", help="Manifests folder [default: environments/]"),
) -> None:
    """Validate every environment manifest, alone and together; exit 2 on the first bad one."""
    from rich.console import Console

    from smlocal.manifest import load_all

    console = Console()
    for name, env in load_all(directory).items():
        pin = env.model.model_data_url or "no model pinned"
        console.print(
            f"[green]ok[/] {name}: {env.endpoint_kind} in {env.account}/{env.region}, {pin}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add the project-level commands to `app` (imports inside commands stay lazy)."""
    app.command("validate")(validate)
