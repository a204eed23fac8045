"""From validated manifests to stacks: what `app.py` and the tests both build."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk

from smlocal.core.environments import platforms
from smlocal.core.manifest import Environment, ManifestError
from smlocal.core.naming import endpoint_stack_name, platform_stack_name
from stacks.endpoint_stack import EndpointStack
from stacks.platform_stack import PlatformStack


def add_stacks(
    app: cdk.App, envs: Mapping[str, Environment], *, only: str | None = None
) -> list[cdk.Stack]:
    """Add the PlatformStack of each account+region and the EndpointStack of each environment.

    `only` keeps one environment: its platform stack (still configured from every manifest of
    that account+region, since they share it) and its endpoint stack. An environment without a
    model pin gets no endpoint stack, and a warning on its platform stack says why.
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
            endpoint_stack = EndpointStack(
                app,
                endpoint_stack_name(name),
                environment=env,
                env=cdk.Environment(account=env.account, region=env.region),
                synthesizer=cdk.BootstraplessSynthesizer(),
            )
            endpoint_stack.add_stack_dependency(platform_stack, "role and bucket live there")
            stacks.append(endpoint_stack)
    return stacks
