"""Reconciling the accounts with main: which environments to deploy, and drift as a failure.

A deploy is needed wherever the deployed state differs from the manifest on main, whatever
the last push touched: an environment whose deploy was skipped, cancelled while queued or
failed is deployed again by the next run. The state is what `smlocal status` reads through
boto3 (the EndpointStack's outputs, the endpoint, its config, model and scaling target), so it
works the same on AWS and on the local cloud. With a synthesized cloud assembly (`cdk synth`
of main), a stack whose deployed template differs from it counts too: a change of
infrastructure code that moves no manifest field. A parked environment (`parked: true`, which
the idle-dev workflow commits after destroying an idle endpoint) is never deployed: it is in
sync while its endpoint stack is absent, and drift (`destroy`) while it exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from smlocal.core import aws
from smlocal.core.manifest import Environment
from smlocal.core.naming import endpoint_stack_name, platform_stack_name
from smlocal.status import Status, compare


@dataclass(frozen=True)
class Decision:
    """Whether one environment must be deployed, and why (each reason names the field)."""

    name: str
    account: str
    region: str
    deploy: bool
    reasons: list[str] = field(default_factory=list)
    # parked, yet its endpoint stack is deployed: drift that a deploy does not fix (the idle
    # workflow, or `cdk destroy`, removes the stack)
    destroy: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _status_reasons(status: Status) -> list[str]:
    if not status.deployed:
        return [f"not deployed: {status.reason}"]
    reasons = [f"{d.field}: manifest {d.desired!r}, deployed {d.deployed!r}" for d in status.drift]
    if status.endpoint_status != "InService":
        reasons.append(f"endpoint_status: {status.endpoint_status}, not InService")
    return reasons


def template_reasons(env: Environment, cdk_out: Path) -> list[str]:
    """The env's stacks whose deployed template differs from the synthesized one in `cdk_out`."""
    reasons = []
    cfn = aws.client("cloudformation", env)
    for stack in (platform_stack_name(env.account, env.region), endpoint_stack_name(env.name)):
        path = cdk_out / f"{stack}.template.json"
        if not path.exists():
            continue  # not synthesized for this env (no pin: no endpoint stack)
        try:
            body = cfn.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
        except ClientError:
            continue  # not deployed: the status check reports it
        deployed = body if isinstance(body, dict) else json.loads(body)
        if deployed != json.loads(path.read_text()):
            reasons.append(f"template: stack {stack} differs from {path}")
    return reasons


def decide(
    env: Environment,
    *,
    cdk_out: Path | None = None,
    status_of: Callable[[Environment], Status] = compare,
) -> Decision:
    """Deploy `env` when what is deployed differs from its manifest (or, given `cdk_out`, from
    main's synthesized templates); an environment without a model pin has nothing to deploy."""
    where = {"name": env.name, "account": env.account, "region": env.region}
    if env.parked:
        return _parked(env, where)
    if not env.model.is_set:
        return Decision(**where, deploy=False, reasons=["no model is pinned; nothing to deploy"])
    try:
        reasons = _status_reasons(status_of(env))
        if cdk_out is not None:
            reasons += template_reasons(env, cdk_out)
    except (ClientError, BotoCoreError) as err:
        # Unreadable state is not in sync: deploying is how CI finds out, with cdk's message.
        reasons = [f"state unreadable: {err}"]
    return Decision(**where, deploy=bool(reasons), reasons=reasons or ["in sync"])


def _parked(env: Environment, where: dict[str, str]) -> Decision:
    """A parked environment is in sync when its endpoint stack is absent; deploying it is
    never the answer (git says it stays absent until `parked` goes)."""
    stack = endpoint_stack_name(env.name)
    try:
        aws.client("cloudformation", env).describe_stacks(StackName=stack)
    except ClientError as err:
        if "does not exist" in str(err):
            return Decision(**where, deploy=False, reasons=[f"parked: stack {stack} absent"])
        return Decision(**where, deploy=False, destroy=True, reasons=[f"state unreadable: {err}"])
    except BotoCoreError as err:
        return Decision(**where, deploy=False, destroy=True, reasons=[f"state unreadable: {err}"])
    reason = f"parked: manifest parked, deployed stack {stack} (destroy it, or unpark)"
    return Decision(**where, deploy=False, destroy=True, reasons=[reason])


def plan(
    envs: Mapping[str, Environment],
    names: Iterable[str] | None = None,
    *,
    cdk_out: Path | None = None,
) -> list[Decision]:
    """One decision per environment, in promotion order (`load_all`'s order)."""
    wanted = set(names) if names is not None else None
    return [
        decide(env, cdk_out=cdk_out)
        for name, env in envs.items()
        if wanted is None or name in wanted
    ]


def github_output(decisions: list[Decision]) -> str:
    """Lines for $GITHUB_OUTPUT: `<env>=true|false`, `<env>_account`, `<env>_region`, and
    `deploy` (the JSON list of the environments to deploy)."""
    lines = [f"deploy={json.dumps([d.name for d in decisions if d.deploy])}"]
    for d in decisions:
        lines += [
            f"{d.name}={'true' if d.deploy else 'false'}",
            f"{d.name}_account={d.account}",
            f"{d.name}_region={d.region}",
        ]
    return "\n".join(lines) + "\n"
