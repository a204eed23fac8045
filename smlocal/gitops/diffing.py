"""`smlocal diff`: per environment, how the pin changes against a git revision, what the
deployed endpoint serves now, and what `cdk diff` says the stacks would do."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from smlocal.core import environments
from smlocal.core.errors import UserError
from smlocal.core.manifest import Environment, ModelPin
from smlocal.gitops import checks, git
from smlocal.gitops.promote import manifest_diff, parse_text


@dataclass(frozen=True)
class PinDiff:
    """An environment's pin at a base revision and in the working tree."""

    environment: str
    base: str
    before: ModelPin | None  # None: the manifest did not exist at base
    after: ModelPin
    text_diff: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def summary(self) -> str:
        def show(pin: ModelPin | None) -> str:
            if pin is None or not pin.is_set:
                return "no model"
            return f"{pin.model_data_url} (sha256 {str(pin.sha256)[:12]})"

        if not self.changed:
            return f"{self.environment}: pin unchanged since {self.base}: {show(self.after)}"
        return f"{self.environment}: pin {show(self.before)} → {show(self.after)}"


def pin_diff(env_name: str, base: str = "HEAD", envdir: Path | None = None) -> PinDiff:
    """The pin change between `base` and the working tree for one environment."""
    path = environments.manifest_path(env_name, envdir)
    after = environments.load(env_name, envdir)
    root = git.repo_root(path)
    sha = git.resolve(root, base)
    text = git.show(root, sha, git.relpath(path))
    before = parse_text(path, text, base).model if text is not None else None
    text_diff = manifest_diff(path, text or "", path.read_text())
    return PinDiff(env_name, base, before, after.model, text_diff)


def deployed_model(env: Environment) -> str:
    """What the environment's endpoint serves now, or why that is unknown (never raises)."""
    from smlocal.gitops.sessions import session_for

    try:
        session = session_for(env)
        endpoint = checks.deployed_endpoint(session, env)
        status, urls = checks.served_model_urls(session, endpoint)
    except (UserError, ClientError, BotoCoreError) as err:
        return f"unknown ({err})"
    return f"endpoint {endpoint} ({status}) serves {', '.join(urls)}"


def cdk_diff(env_name: str, repo: Path) -> int:
    """Run `npx cdk diff -c env=<env>` in the repository; its output goes to this terminal."""
    npx = shutil.which("npx")
    if npx is None:
        raise UserError("npx not found; run `make setup` (the CDK CLI comes from node_modules)")
    environ = {"CDK_DISABLE_VERSION_CHECK": "1", **os.environ}
    cmd = [npx, "cdk", "diff", "--all", "-c", f"env={env_name}"]
    return subprocess.run(cmd, cwd=repo, env=environ, check=False).returncode
