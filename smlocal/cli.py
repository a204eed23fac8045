"""`smlocal`: the one CLI. Each room registers its own commands; imports stay lazy so that
`smlocal --help` does not pay for torch or aws_cdk."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
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


_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_START = 'smlocal cloud start --detach; eval "$(smlocal cloud env)"'
_POINT = 'eval "$(smlocal cloud env)"'


def _answering_cloud() -> str | None:
    """The URL of the local cloud of this shell's state dir ($SMLOCAL_STATE_DIR or the
    default) when it answers, else None."""
    from localcloud import control

    record = control.running(control.state_dir())
    if record is not None and control.answers(int(record["port"]), timeout_s=1.0):
        return f"http://localhost:{record['port']}"
    return None


def _origin(url: str) -> str:
    """scheme://host:port of `url`, without a path or the password a proxy URL carries."""
    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else url


def access_message(problem: Exception, environ: Mapping[str, str] = os.environ) -> str | None:
    """One line naming why this shell cannot reach AWS or the local cloud (`problem`, from
    `smlocal.core.aws.access_problem`) and the fix; None when there is nothing to add."""
    from botocore.exceptions import ClientError, ConnectionError

    from localcloud.control import DEFAULT_PORT

    if isinstance(problem, ClientError):
        endpoint = environ.get("AWS_ENDPOINT_URL", "")
        code = problem.response["Error"]["Code"]
        if urlparse(endpoint).hostname not in _LOOPBACK:  # AWS's own refusal, with its reason
            who = _origin(endpoint) if endpoint else "AWS"
            reason = str(problem.response["Error"].get("Message") or "").rstrip(".")
            return (
                f"{who} refused this shell's key ({code}): {reason}; check the profile or "
                "AWS_ACCESS_KEY_ID"
            )
        cloud = _answering_cloud()
        where = f"the cloud on {cloud}" if cloud else "the cloud there (with its --state-dir)"
        return (
            f"{endpoint} does not know this shell's key ({code}), which another local cloud "
            f"issued; point this shell at {where}: {_POINT}"
        )
    cloud = _answering_cloud()
    if isinstance(problem, ConnectionError):
        proxy = problem.kwargs.get("proxy_url")
        url = _origin(proxy or problem.kwargs.get("endpoint_url") or "the endpoint")
        what = f"the proxy {url}" if proxy else url
        if cloud is not None and url == cloud:  # it answers, yet this call failed
            return f"cannot reach {what} ({type(problem).__name__})"
        if cloud is not None:
            return (
                f"cannot reach {what}: nothing answers there; the local cloud answers on "
                f"{cloud}: {_POINT}"
            )
        if urlparse(url).hostname in _LOOPBACK:
            return f"cannot reach {what}: no local cloud answers there ({_START})"
        return f"cannot reach {what}: nothing answers there; for the local cloud: {_START}"
    if cloud is not None:
        return f"no AWS credentials in this shell; the local cloud answers on {cloud}: {_POINT}"
    return (
        f"no AWS credentials, and no local cloud answers at http://localhost:{DEFAULT_PORT} "
        f"(for the local cloud: {_START}; for AWS: a profile or AWS_ACCESS_KEY_ID)"
    )


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)


def main() -> None:
    """Entry point: expected mistakes print one clear line and exit 2, without a traceback:
    a user's error, and a shell that cannot reach AWS or the local cloud (no credentials,
    nothing answering, a key the cloud does not know), whichever command met it."""
    try:
        app()
    except Exception as err:
        from smlocal.core.aws import access_problem

        problem = access_problem(err)
        message = access_message(problem) if problem is not None else None
        if message is not None:
            _fail(message)
        if isinstance(err, UserError):
            _fail(str(err))
        raise
