"""`smlocal promote | rollback | history | diff`: GitOps promotion commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from smlocal.core.options import EnvDir

if TYPE_CHECKING:
    from smlocal.gitops.promote import PinChange


class _RichReporter:
    """Messages as lines, transfers as rich progress bars (bytes, rate, time left)."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, soft_wrap=True)

    def info(self, message: str) -> None:
        self.console.print(f"[cyan]·[/] {message}", highlight=False)

    def transfer(self, description: str, total: int) -> AbstractContextManager:
        return self._bar(description, total)

    @contextmanager
    def _bar(self, description: str, total: int) -> Iterator:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (
            "{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(description, total=total or None)
            yield lambda n: bar.advance(task, n)


def _confirm(yes: bool) -> Callable[[str], bool]:
    def ask(question: str) -> bool:
        return yes or typer.confirm(question, default=False)

    return ask


def _diff_syntax(diff: str) -> object:
    from rich.syntax import Syntax

    return Syntax(diff, "diff", theme="ansi_dark", background_color="default")


def _print_change(change: PinChange) -> None:
    from rich.console import Console

    console = Console(soft_wrap=True)
    if not change.changed:
        return
    console.print(_diff_syntax(change.diff))
    skipped = f" (skipped: {', '.join(change.skipped_checks)})" if change.skipped_checks else ""
    console.print(
        f"[green]pinned[/] {change.model_data_url} in {change.manifest}{skipped}. "
        f"Commit it and open a pull request: CI plans on the PR and deploys on merge.",
        highlight=False,
    )


def promote_cmd(
    source: str = typer.Option(..., "--from", help="Environment to promote from, e.g. dev"),
    target: str = typer.Option(..., "--to", help="Environment to promote to, e.g. staging"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before copying and pinning"),
    skip_endpoint_check: bool = typer.Option(
        False,
        "--skip-endpoint-check",
        help="Do not require the source endpoint to serve the model (recorded in the pin)",
    ),
    allow_rollback: bool = typer.Option(
        False,
        "--allow-rollback",
        help="Allow pinning a model older than the target's (recorded in the pin)",
    ),
    envdir: EnvDir = None,
) -> None:
    """Copy the source environment's verified model to the target's bucket and pin it there.

    Never deploys: commit the manifest change, and CI deploys it.
    """
    from smlocal.gitops.promote import promote

    change = promote(
        source,
        target,
        envdir=envdir,
        skip_endpoint_check=skip_endpoint_check,
        allow_rollback=allow_rollback,
        confirm=_confirm(yes),
        reporter=_RichReporter(),
    )
    _print_change(change)


def rollback_cmd(
    env: str = typer.Option(..., "--env", help="Environment to roll back"),
    to: str = typer.Option(..., "--to", help="Git revision whose pin to restore (see history)"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before pinning"),
    envdir: EnvDir = None,
) -> None:
    """Pin the model an environment had at an earlier git revision; never deploys.

    The artifact must still exist with its pinned sha256.
    """
    from smlocal.gitops.promote import rollback

    _print_change(rollback(env, to, envdir=envdir, confirm=_confirm(yes), reporter=_RichReporter()))


def history_cmd(
    env: str = typer.Option(..., "--env", help="Environment whose pins to list"),
    envdir: EnvDir = None,
) -> None:
    """The models an environment pinned, from git history, newest first, with metrics."""
    from rich.console import Console
    from rich.table import Table

    from smlocal.gitops.history import pin_history

    table = Table(title=f"{env}: model pins in git history (newest first)")
    table.add_column("commit", no_wrap=True)
    table.add_column("date", no_wrap=True)
    for col in ("model", "sha256", "version", "metrics", "from"):
        table.add_column(col, overflow="fold")
    records = pin_history(env, envdir)
    versions, note = _registry_versions(env, envdir)
    for rec in records:
        when = f"{rec.committed_at:%Y-%m-%d}"
        pin = rec.pin
        if pin is None:
            table.add_row(rec.commit[:10], when, "invalid", "", "", rec.error or "", "")
            continue
        metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(pin.metrics.items()))
        version = versions.get(pin.sha256 or "")
        table.add_row(
            rec.commit[:10],
            when,
            (pin.training_job or str(pin.model_data_url)) if pin.is_set else "no model",
            (pin.sha256 or "")[:10],
            f"{version.number} {version.approval}" if version else "",
            metrics,
            pin.promotion.promoted_from if pin.promotion else "",
        )
    console = Console()
    console.print(table)
    if note:
        console.print(note, highlight=False)


def _registry_versions(env: str, envdir: Path | None) -> tuple[dict, str]:
    """The registry's versions by sha256 in the environment's account, or why they are not
    shown (history reads git first; the registry is a convenience here)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from smlocal.core import environments
    from smlocal.core.errors import UserError
    from smlocal.core.registry import MODEL_PACKAGE_GROUP, versions
    from smlocal.gitops.sessions import client, session_for

    try:
        return versions(client(session_for(environments.load(env, envdir)), "sagemaker")), ""
    except (UserError, ClientError, BotoCoreError) as err:
        return {}, f"versions of {MODEL_PACKAGE_GROUP} not shown: {err}"


def diff_cmd(
    env: str = typer.Option(None, "--env", help="One environment [default: every one]"),
    base: str = typer.Option("HEAD", "--base", help="Git revision to compare the pin with"),
    cdk: bool = typer.Option(True, "--cdk/--no-cdk", help="Also run `npx cdk diff -c env=E`"),
    deployed: bool = typer.Option(
        True, "--deployed/--no-deployed", help="Also ask AWS what the endpoint serves now"
    ),
    envdir: EnvDir = None,
) -> None:
    """Per environment: the pin change against BASE, what is deployed, and `cdk diff`."""
    from rich.console import Console

    from smlocal.core import environments
    from smlocal.gitops import git
    from smlocal.gitops.cost import cost_change
    from smlocal.gitops.diffing import cdk_diff, deployed_model, pin_diff

    console = Console(soft_wrap=True)
    envs = environments.load_all(envdir)
    names = [env] if env else list(envs)
    if env and env not in envs:
        environments.load(env, envdir)  # raises the unknown-environment error
    failed = 0
    for name in names:
        console.rule(f"[bold]{name}")
        d = pin_diff(name, base, envdir)
        console.print(d.summary(), highlight=False)
        console.print(cost_change(name, base, envdir), highlight=False)
        if d.text_diff:
            console.print(_diff_syntax(d.text_diff))
        if deployed:
            console.print(f"deployed: {deployed_model(envs[name])}", highlight=False)
        if cdk:
            root = git.repo_root(environments.manifest_path(name, envdir))
            failed |= cdk_diff(name, root) != 0
    if failed:
        raise typer.Exit(1)


def reconcile_cmd(
    env: list[str] = typer.Option(None, "--env", help="Only these environments [default: all]"),
    plan_only: bool = typer.Option(
        True,
        "--plan/--check",
        help="--plan: print what to deploy (exit 0); --check: exit 1 naming each drift",
    ),
    cdk_out: Path = typer.Option(
        None, "--cdk-out", help="A `cdk synth` output of main: deployed templates must match it"
    ),
    github_output: bool = typer.Option(
        False, "--github-output", help="Also write <env>=true|false and deploy=[...] there"
    ),
    envdir: EnvDir = None,
) -> None:
    """Which environments differ from their manifests (and should be deployed), in promotion
    order, as JSON; --check fails naming the environment and the field instead."""
    import json
    import os
    import sys

    from smlocal.core import environments
    from smlocal.gitops.reconcile import github_output as render_output
    from smlocal.gitops.reconcile import plan

    envs = environments.load_all(envdir)
    for name in env or []:
        environments.load(name, envdir)  # an unknown name fails with the known ones
    decisions = plan(envs, env or None, cdk_out=cdk_out)
    typer.echo(json.dumps([d.as_json() for d in decisions], indent=2))
    if github_output:
        with open(os.environ["GITHUB_OUTPUT"], "a") as out:
            out.write(render_output(decisions))
    drifted = [d for d in decisions if d.deploy or d.destroy]
    if not plan_only and drifted:
        for d in drifted:
            for reason in d.reasons:
                print(f"drift: {d.name} ({d.account}/{d.region}): {reason}", file=sys.stderr)
        raise typer.Exit(1)


def idle_cmd(
    env: str = typer.Option(..., "--env", help="Environment whose endpoint to check"),
    github_output: bool = typer.Option(
        False, "--github-output", help="Also write idle=true|false to $GITHUB_OUTPUT"
    ),
    envdir: EnvDir = None,
) -> None:
    """Whether the environment's endpoint sat idle longer than its manifest's
    cost.idle_limit_hours (the scheduled workflow destroys an idle dev endpoint)."""
    import os

    from smlocal.core import aws, environments
    from smlocal.core.errors import UserError
    from smlocal.gitops.cost import idle_for, utc_now

    environment = environments.load(env, envdir)
    try:
        endpoint = aws.stack_outputs(environment).get("EndpointName")
    except UserError as err:
        endpoint, line = None, f"{env}: nothing deployed ({err})"
    if endpoint:
        found = idle_for(
            environment,
            endpoint,
            aws.client("cloudwatch", environment),
            aws.client("sagemaker", environment),
            utc_now(),
        )
        line = found or f"{env}: endpoint {endpoint} is not idle past its limit"
    typer.echo(line)
    if github_output:
        with open(os.environ["GITHUB_OUTPUT"], "a") as out:
            out.write(f"idle={'true' if line.startswith('idle:') else 'false'}\n")


def park_cmd(
    env: str = typer.Option(..., "--env", help="Environment whose endpoint is parked"),
    unpark: bool = typer.Option(False, "--unpark", help="Remove the line: deploy it again"),
    note: str = typer.Option("", "--note", help="Why (kept as the line's comment)"),
    envdir: EnvDir = None,
) -> None:
    """Record in the manifest that the environment's endpoint stack stays absent
    (`parked: true`), or remove that record; commit the change so main says so."""
    from smlocal.core import environments
    from smlocal.gitops.park import set_parked

    path = environments.manifest_path(env, envdir)
    environments.load(env, envdir)  # an unknown name fails with the known ones
    set_parked(path, not unpark, note)
    typer.echo(f"{env}: {'unparked' if unpark else 'parked'} in {path}")


def register(app: typer.Typer) -> None:
    """Add promote, rollback, history, diff and reconcile to `app`."""
    app.command("promote")(promote_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("history")(history_cmd)
    app.command("diff")(diff_cmd)
    app.command("reconcile")(reconcile_cmd)
    app.command("idle")(idle_cmd)
    app.command("park")(park_cmd)
