"""`promote` and `rollback`: move a verified model pin into an environment's manifest.

Both only rewrite a manifest (atomically, with provenance) and print the diff; they never
deploy. A commit of that change, merged to main, is what CI deploys.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import boto3
from ruamel.yaml import YAML

from smlocal.core import environments, files, pins
from smlocal.core.errors import UserError
from smlocal.core.manifest import Environment, ManifestError, ModelPin, Promotion
from smlocal.gitops import artifacts, checks, git
from smlocal.gitops.artifacts import Progress, S3Url
from smlocal.gitops.sessions import client, session_for


class Reporter(Protocol):
    """Where progress goes: the CLI shows rich progress bars, tests record the messages."""

    def info(self, message: str) -> None: ...

    def transfer(self, description: str, total: int) -> AbstractContextManager[Progress]: ...


@dataclass
class SilentReporter:
    """Keeps the messages (for tests and library callers) and shows no progress."""

    messages: list[str] = field(default_factory=list)

    def info(self, message: str) -> None:
        self.messages.append(message)

    def transfer(self, description: str, total: int) -> AbstractContextManager[Progress]:
        return nullcontext(lambda n: None)


@dataclass(frozen=True)
class PinChange:
    """What a promotion or rollback did to the target manifest."""

    environment: str
    manifest: Path
    model_data_url: str
    copy: str  # server-side | streamed | reused | none
    diff: str
    skipped_checks: tuple[str, ...] = ()
    changed: bool = True


class Refused(UserError):
    """The user declined, or there is nothing to do."""


Confirm = Callable[[str], bool]


def _always(_: str) -> bool:
    return True


def manifest_diff(path: Path, old: str, new: str) -> str:
    """The unified diff of a manifest rewrite, as `git diff` would show it."""
    try:
        name = git.relpath(path)
    except git.GitError:
        name = path.name
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )


def _write_pin(path: Path, pin: ModelPin) -> str:
    """Rewrite the pin atomically and return the diff; the file is old or new, never partial."""
    old = path.read_text()
    new = pins.render_with_pin(path, pin)
    # through the module attribute, so an interruption can be injected in tests
    files.atomic_write_text(path, new)
    return manifest_diff(path, old, new)


def promote(
    source_name: str,
    target_name: str,
    *,
    envdir: Path | None = None,
    skip_endpoint_check: bool = False,
    allow_rollback: bool = False,
    confirm: Confirm = _always,
    reporter: Reporter | None = None,
) -> PinChange:
    """Promote the source environment's pinned model into the target environment's manifest.

    Checks, in order: both manifests committed and clean; the source has a pin whose artifact
    exists with the pinned sha256; the source endpoint is InService and serves that model
    (unless skipped, which is recorded); the target would not get an older model (unless
    `allow_rollback`, also recorded). Then the artifact is copied into the target's bucket at a
    content-addressed key, the copy's sha256 verified, and the target pin rewritten.
    """
    rep = reporter or SilentReporter()
    if source_name == target_name:
        raise UserError(f"--from and --to are both {source_name!r}; promote between two envs")
    source = environments.load(source_name, envdir)
    target = environments.load(target_name, envdir)
    src_path = environments.manifest_path(source_name, envdir)
    dst_path = environments.manifest_path(target_name, envdir)
    git.require_clean(src_path)
    git.require_clean(dst_path)
    pin = source.model
    if not pin.is_set:
        raise UserError(f"{src_path}: model: {source_name} has no model pinned; nothing to promote")
    assert pin.model_data_url is not None and pin.sha256 is not None
    if target.model.sha256 == pin.sha256:
        rep.info(f"{target_name} already pins sha256 {pin.sha256[:12]}; nothing to do")
        return PinChange(
            target_name, dst_path, str(target.model.model_data_url), "none", "", changed=False
        )

    src_session = session_for(source)
    dst_session = session_for(target)
    src_url = S3Url.parse(pin.model_data_url)
    nbytes = artifacts.size(src_session, src_url) or 0
    _verify(rep, src_session, src_url, pin.sha256, f"{src_path}: model", nbytes)
    rep.info(f"source artifact {src_url} verified (sha256 {pin.sha256[:12]}, {nbytes} bytes)")

    skipped: list[str] = []
    if skip_endpoint_check:
        skipped.append(checks.ENDPOINT_CHECK)
        rep.info(f"skipped: {source_name} endpoint check (recorded in the pin)")
    else:
        endpoint = checks.check_endpoint_serves(src_session, source)
        rep.info(f"{source_name} endpoint {endpoint} is InService and serves the pinned model")

    if target.model.is_set:
        new_t = checks.model_time(pin, src_session)
        cur_t = checks.model_time(target.model, dst_session)
        if checks.is_older(new_t, cur_t):
            if not allow_rollback:
                raise checks.CheckFailed(
                    f"{dst_path}: model: {target_name} pins a model made {cur_t}, newer than "
                    f"{source_name}'s {new_t}; pass --allow-rollback to go back to it"
                )
            skipped.append(checks.NEWER_MODEL_CHECK)
            rep.info(f"allowed: {target_name} goes back to an older model (recorded)")
        elif new_t is None or cur_t is None:
            rep.info("cannot tell which model is newer (no pinned_at or training job time)")

    if not artifacts.bucket_exists(dst_session, target.bucket_name):
        raise UserError(
            f"{target_name}: bucket {target.bucket_name} does not exist in account "
            f"{target.account}; deploy its platform stack first"
        )
    dst_url = S3Url(target.bucket_name, artifacts.promoted_key(pin.sha256))
    if not confirm(f"copy {src_url} → {dst_url} and pin it in {dst_path}?"):
        raise Refused("promotion cancelled; nothing was changed")

    how = _copy_verified(src_session, src_url, dst_session, dst_url, pin.sha256, nbytes, rep)
    commit = git.last_commit(src_path)
    new_pin = pin.model_copy(
        update={
            "model_data_url": str(dst_url),
            "promotion": Promotion(
                promoted_from=source_name,
                source_model_data_url=str(src_url),
                source_commit=commit,
                promoted_at=datetime.now(UTC).replace(microsecond=0),
                skipped_checks=skipped,
            ),
        }
    )
    diff = _write_pin(dst_path, new_pin)
    _record_in_registry(rep, dst_session, target, new_pin)
    return PinChange(target_name, dst_path, str(dst_url), how, diff, tuple(skipped))


def _record_in_registry(
    rep: Reporter, session: boto3.Session, target: Environment, pin: ModelPin
) -> None:
    """The target environment on the model's registry version (approved when it is prod).
    Git already holds the pin, so a registry that cannot be written is a warning; `smlocal
    status` reports the disagreement until the next promote or pin fixes it."""
    from botocore.exceptions import BotoCoreError, ClientError

    from smlocal.core.registry import MODEL_PACKAGE_GROUP, record_promotion

    try:
        version = record_promotion(client(session, "sagemaker"), target, pin)
    except (ClientError, BotoCoreError) as err:
        rep.info(f"warning: {MODEL_PACKAGE_GROUP} not updated ({err}); git holds the pin")
        return
    rep.info(
        f"registry: version {version.number} of {MODEL_PACKAGE_GROUP} records {target.name} "
        f"({version.approval})"
    )


def _copy_verified(
    src_session: boto3.Session,
    src_url: S3Url,
    dst_session: boto3.Session,
    dst_url: S3Url,
    sha256: str,
    nbytes: int,
    rep: Reporter,
) -> str:
    """Copy unless a verified copy is already there (a retry); then check the copy's sha256."""
    if src_url == dst_url:
        return "none"
    if artifacts.size(dst_session, dst_url) is not None:
        with rep.transfer(f"sha256 {dst_url}", nbytes) as progress:
            found = artifacts.sha256_of(dst_session, dst_url, progress)
        if found == sha256:
            rep.info(f"found a verified earlier copy at {dst_url}; not copying again")
            return "reused"
        rep.info(f"{dst_url} holds other bytes (sha256 {found[:12]}); copying over it")
    with rep.transfer(f"copy → {dst_url}", nbytes) as progress:
        how = artifacts.copy(src_session, src_url, dst_session, dst_url, progress)
    _verify(rep, dst_session, dst_url, sha256, "copy", nbytes)
    rep.info(f"copied ({how}) and verified {dst_url}")
    return how


def _verify(
    rep: Reporter, session: boto3.Session, url: S3Url, sha256: str, where: str, nbytes: int
) -> None:
    """Check that the `nbytes` at `url` have the sha256 `where` pins, showing the progress."""
    with rep.transfer(f"sha256 {url}", nbytes) as progress:
        artifacts.verify(session, url, sha256, where, progress)


def pin_at(env_name: str, rev: str, envdir: Path | None = None) -> tuple[str, ModelPin]:
    """The full commit sha of `rev` and the pin `environments/<env>.yaml` had there."""
    path = environments.manifest_path(env_name, envdir)
    root = git.repo_root(path)
    sha = git.resolve(root, rev)
    text = git.show(root, sha, git.relpath(path))
    if text is None:
        raise UserError(f"{path}: did not exist at {rev} ({sha[:12]})")
    env = parse_text(path, text, f"{rev} ({sha[:12]})")
    if not env.model.is_set:
        raise UserError(f"{path}: model: no model was pinned at {rev} ({sha[:12]})")
    return sha, env.model


def parse_text(path: Path, text: str, where: str) -> Environment:
    """Validate a manifest's text from git with the same models as the working tree."""
    try:
        data = YAML(typ="safe").load(text)
    except Exception as err:  # ruamel raises several unrelated error types
        raise ManifestError(f"{path} at {where}: not valid YAML: {err}") from None
    return environments.parse_environment(path, data)


def rollback(
    env_name: str,
    rev: str,
    *,
    envdir: Path | None = None,
    confirm: Confirm = _always,
    reporter: Reporter | None = None,
) -> PinChange:
    """Pin the model `env_name` had at git revision `rev`, after checking its artifact."""
    rep = reporter or SilentReporter()
    env = environments.load(env_name, envdir)
    path = environments.manifest_path(env_name, envdir)
    git.require_clean(path)
    sha, old_pin = pin_at(env_name, rev, envdir)
    assert old_pin.model_data_url is not None and old_pin.sha256 is not None
    if env.model.sha256 == old_pin.sha256:
        rep.info(f"{env_name} already pins sha256 {old_pin.sha256[:12]}; nothing to do")
        return PinChange(env_name, path, old_pin.model_data_url, "none", "", changed=False)
    session = session_for(env)
    url = S3Url.parse(old_pin.model_data_url)
    nbytes = artifacts.size(session, url) or 0
    _verify(rep, session, url, old_pin.sha256, f"{path} at {rev}: model", nbytes)
    rep.info(f"artifact {url} verified (sha256 {old_pin.sha256[:12]})")
    if not confirm(f"pin {url} (from {rev}, {sha[:12]}) in {path}?"):
        raise Refused("rollback cancelled; nothing was changed")
    new_pin = old_pin.model_copy(
        update={
            "promotion": Promotion(
                promoted_from=f"{env_name}@{sha[:12]}",
                source_model_data_url=old_pin.model_data_url,
                source_commit=sha,
                promoted_at=datetime.now(UTC).replace(microsecond=0),
            )
        }
    )
    diff = _write_pin(path, new_pin)
    return PinChange(env_name, path, old_pin.model_data_url, "none", diff)
