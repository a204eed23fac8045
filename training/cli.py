"""CLI commands of this room, registered on the `smlocal` app."""

from __future__ import annotations

from pathlib import Path

import typer

data_app = typer.Typer(no_args_is_help=True, help="Training data in the MNIST IDX format.")


@data_app.command("prepare")
def data_prepare(
    out: Path = typer.Option(Path("data/mnist"), "--out", help="Output folder [data/mnist]"),
    source: str = typer.Option(
        "digits",
        "--source",
        help="digits: scikit-learn's digits upscaled to 28×28 (no network); "
        "mnist: download real MNIST, falling back to digits [digits]",
    ),
) -> None:
    """Write an MNIST-format training channel (4 IDX files) into --out."""
    from training.data import prepare

    prepare(out, source)  # type: ignore[arg-type]  # prepare validates the value


def register(app: typer.Typer) -> None:
    """Add this room's commands to `app` (imports inside commands stay lazy)."""
    app.add_typer(data_app, name="data")
