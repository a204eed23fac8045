"""`smlocal`: the one CLI. Each room registers its own commands; imports stay lazy so that
`smlocal --help` does not pay for torch or aws_cdk."""

from __future__ import annotations

import sys
from typing import Any, NoReturn
from urllib.parse import urlparse

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


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"smlocal {version('smlocal')}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """SageMaker infrastructure as code, on AWS or on the local cloud."""


def _flags_take_no_placeholder() -> None:
    """typer labels every option with its type in `--help`, flags too (`--wait <bool>`), though a
    flag takes no value: a flag shows none, as click's own help does."""
    from typer.core import TyperOption

    labelled = TyperOption.display_type_rich
    if getattr(labelled, "_smlocal", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag and self.metavar is None:
            return None
        return labelled(self, ctx)

    display_type_rich._smlocal = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _register() -> None:
    from inference.cli import register as register_inference
    from localcloud.cli import register as register_cloud
    from smlocal.commands import register as register_project
    from smlocal.gitops.cli import register as register_gitops
    from training.cli import register as register_training

    for register in (register_project, register_training, register_inference, register_cloud):
        register(app)
    register_gitops(app)


_flags_take_no_placeholder()
_register()


def unreachable_message(url: str) -> str:
    """What to say when nothing answers at an AWS endpoint URL."""
    message = f"cannot reach {url}: nothing answers there"
    if urlparse(url).hostname in ("localhost", "127.0.0.1", "::1"):
        message += (
            "; start the local cloud with `smlocal cloud start --detach` and point clients "
            'at it with `eval "$(smlocal cloud env)"`'
        )
    return message


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)


def main() -> None:
    """Entry point: expected mistakes print one clear line and exit 2, without a traceback."""
    try:
        app()
    except UserError as err:
        _fail(str(err))
    except Exception as err:
        from botocore.exceptions import EndpointConnectionError

        if not isinstance(err, EndpointConnectionError):
            raise
        _fail(unreachable_message(err.kwargs["endpoint_url"]))
