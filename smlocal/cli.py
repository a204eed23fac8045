"""`smlocal`: the one CLI. Each room registers its own commands; imports stay lazy so that
`smlocal --help` does not pay for torch or aws_cdk."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from smlocal.core.errors import UserError

app = typer.Typer(
    name="smlocal",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="SageMaker infrastructure as code, on AWS or on the local cloud.",
)


@app.callback()
def _root() -> None:
    """SageMaker infrastructure as code, on AWS or on the local cloud."""


def _register() -> None:
    from inference.cli import register as register_inference
    from localcloud.cli import register as register_cloud
    from smlocal.commands import register as register_project
    from smlocal.gitops.cli import register as register_gitops
    from training.cli import register as register_training

    for register in (register_project, register_training, register_inference, register_cloud):
        register(app)
    register_gitops(app)


_register()


def main() -> None:
    """Entry point: expected mistakes print one clear line and exit 2, without a traceback."""
    try:
        app()
    except UserError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
