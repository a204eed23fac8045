"""From validated manifests to stacks: what `app.py` and the tests both build."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk

from smlocal.core.environments import platforms
from smlocal.core.manifest import Environment, ManifestError, ci_accounts
from smlocal.core.naming import ci_access_stack_name, endpoint_stack_name, platform_stack_name
from stacks.ci_access import CiAccessStack
from stacks.endpoint_stack import EndpointStack
from stacks.platform_stack import PlatformStack


def add_stacks(
    app: cdk.App, envs: Mapping[str, Environment], *, only: str | None = None
) -> list[cdk.Stack]:
    """Add the PlatformStack of each account+region and the EndpointStack of each environment.

    `only` keeps one environment: its platform stack (still configured from every manifest of
    that account+region, since they share it) and its endpoint stack. An environment without a
    model pin gets no endpoint stack, and a warning on its platform stack says why. The
    CiAccessStack of each account whose manifests name a `github` repository is added only
    when no environment is selected: CI deploys with `-c env=E` and never its own roles.
    """
    if only is not None and only not in envs:
        raise ManifestError(f"unknown environment {only!r}; known: {', '.join(envs)}")
    stacks: list[cdk.Stack] = []
    for platform in platforms(envs):
        members = [n for n in platform.environments if only in (None, n)]
        if not members:
            continue
        platform_stack = PlatformStack(
            app,
            platform_stack_name(platform.account, platform.region),
            platform=platform,
            env=cdk.Environment(account=platform.account, region=platform.region),
            synthesizer=cdk.BootstraplessSynthesizer(),
        )
        stacks.append(platform_stack)
        for name in members:
            env = envs[name]
            if not env.model.is_set:
                cdk.Annotations.of(platform_stack).add_warning_v2(
                    f"smlocal:no-model-pin:{name}",
                    f"environment {name!r} has no model pin (model.model_data_url is empty), "
                    f"so only its platform stack is synthesized; pin a trained model first",
                )
                continue
            if env.parked:  # destroyed as idle; git says it stays absent (docs/promotion.md)
                cdk.Annotations.of(platform_stack).add_warning_v2(
                    f"smlocal:parked:{name}",
                    f"environment {name!r} is parked (parked: true), so its endpoint stack is "
                    f"not synthesized; remove the line to deploy it again",
                )
                continue
            endpoint_stack = EndpointStack(
                app,
                endpoint_stack_name(name),
                environment=env,
                env=cdk.Environment(account=env.account, region=env.region),
                synthesizer=cdk.BootstraplessSynthesizer(),
            )
            endpoint_stack.add_stack_dependency(platform_stack, "role and bucket live there")
            stacks.append(endpoint_stack)
    accounts = ci_accounts(envs)  # validated even when `only` leaves the stacks out
    for ci in accounts if only is None else ():
        stacks.append(
            CiAccessStack(
                app,
                ci_access_stack_name(ci.account),
                ci=ci,
                env=cdk.Environment(account=ci.account, region=ci.region),
                synthesizer=cdk.BootstraplessSynthesizer(),
            )
        )
    return stacks
