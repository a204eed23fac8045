"""Deployment guardrails: how an UpdateEndpoint with a `DeploymentConfig` moves traffic.

`parse` checks the request's DeploymentConfig as SageMaker does (the botocore model's enums and
ranges, which botocore checks only in part on the client) and gives a `Policy`. `steps` turns a
policy into the traffic shares the green fleet takes one after the other, each held for its
wait (cloud seconds); `watch` holds one step on the cloud's clock while it reads the
AutoRollbackConfiguration alarms, and tells why the update must roll back (an alarm in ALARM,
or MaximumExecutionTimeoutInSeconds passed). `Endpoints` (the deploy path) drives them: the
green fleet starts fully while blue serves, requests split between the fleets by the step's
share (weighted random, as variants are routed), blue stays warm through the bake and is
retired after it; a rollback sends every request back to blue and retires green.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localcloud.shared.clock import Clock
from localcloud.shared.errors import SageMakerValidation

# Reads an alarm's state (account, region, name) -> OK | ALARM | INSUFFICIENT_DATA | None
AlarmState = Callable[[str, str, str], str | None]
WATCH_EVERY_S = 0.2  # real seconds between two reads of the alarms
ROLLBACK_REASON = (
    "Deployment rolled back: CloudWatch alarm {alarm} went into ALARM state during the {phase}; "
    "all traffic is back on the previous endpoint configuration."
)
TIMEOUT_REASON = (
    "Deployment rolled back: it did not complete within MaximumExecutionTimeoutInSeconds "
    "({limit} s); all traffic is back on the previous endpoint configuration."
)
# A cloud restarted while an update ran (`Endpoints.recover`): the new fleet's processes are
# gone and the old configuration serves again, as after any rollback.
RESTART_REASON = (
    "Deployment rolled back: the local cloud restarted during the update{target}; all traffic "
    "is back on the previous endpoint configuration ({config})."
)
_TRAFFIC_TYPES = ("ALL_AT_ONCE", "CANARY", "LINEAR")
_SIZE_TYPES = ("INSTANCE_COUNT", "CAPACITY_PERCENT")


@dataclass(frozen=True)
class Size:
    """A CapacitySize: a number of instances or a percentage of the fleet's capacity."""

    kind: str
    value: int

    def share(self, instances: int) -> float:
        """The part of the fleet (0..1] this size is."""
        if self.kind == "CAPACITY_PERCENT":
            return min(1.0, self.value / 100)
        return min(1.0, self.value / max(1, instances))

    def count(self, instances: int) -> int:
        """The number of instances (at least one) this size is."""
        return max(1, min(instances, math.ceil(self.share(instances) * instances)))


@dataclass(frozen=True)
class Policy:
    """A validated DeploymentConfig; `raw` is the request's, as DescribeEndpoint shows it."""

    raw: dict[str, Any]
    mode: str  # ALL_AT_ONCE | CANARY | LINEAR | ROLLING
    size: Size | None = None  # CanarySize, LinearStepSize or MaximumBatchSize
    rollback_size: Size | None = None  # RollbackMaximumBatchSize
    wait_s: int = 0
    bake_s: int = 0
    timeout_s: int | None = None
    alarms: tuple[str, ...] = field(default_factory=tuple)


def _fail(path: str, value: Any, rule: str) -> SageMakerValidation:
    return SageMakerValidation(
        f"1 validation error detected: Value '{value}' at 'deploymentConfig.{path}' failed to "
        f"satisfy constraint: {rule}"
    )


def _int(node: dict[str, Any], key: str, path: str, low: int, high: int | None) -> int | None:
    value = node.get(key)
    if value is None:
        return None
    try:
        number = int(value)  # a CloudFormation template may carry "300"
    except (TypeError, ValueError):
        raise _fail(path, value, "Member must be an integer") from None
    if number < low or (high is not None and number > high):
        rule = f"Member must have value greater than or equal to {low}"
        if high is not None:
            rule += f" and less than or equal to {high}"
        raise _fail(path, value, rule)
    return number


def _size(node: Any, path: str) -> Size | None:
    if node is None:
        return None
    kind = node.get("Type")
    if kind not in _SIZE_TYPES:
        raise _fail(
            f"{path}.type", kind, f"Member must satisfy enum value set: [{', '.join(_SIZE_TYPES)}]"
        )
    value = _int(node, "Value", f"{path}.value", 1, 100 if kind == "CAPACITY_PERCENT" else None)
    if value is None:
        raise _fail(f"{path}.value", None, "Member must not be null")
    return Size(kind, value)


_INTEGERS = {
    "Value",
    "WaitIntervalInSeconds",
    "TerminationWaitInSeconds",
    "MaximumExecutionTimeoutInSeconds",
}


def _normalised(node: Any) -> Any:
    """The config with its integers as integers (a CloudFormation template may say "300")."""
    if isinstance(node, dict):
        return {
            k: int(v) if k in _INTEGERS and isinstance(v, str) and v.isdigit() else _normalised(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_normalised(v) for v in node]
    return node


def parse(config: dict[str, Any] | None) -> Policy | None:
    """The policy of an UpdateEndpoint's DeploymentConfig (None: switch at once, as before);
    SageMaker's ValidationException for what it refuses."""
    if not config:
        return None
    config = _normalised(config)
    blue_green, rolling = config.get("BlueGreenUpdatePolicy"), config.get("RollingUpdatePolicy")
    if blue_green and rolling:
        raise SageMakerValidation(
            "DeploymentConfig takes either a BlueGreenUpdatePolicy or a RollingUpdatePolicy, "
            "not both."
        )
    alarms = tuple(
        str(a.get("AlarmName") or "")
        for a in (config.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
    )
    if any(not name.strip() for name in alarms):
        raise _fail(
            "autoRollbackConfiguration.alarms.member.alarmName", "", "Member must not be blank"
        )
    if len(alarms) > 10:
        raise _fail(
            "autoRollbackConfiguration.alarms",
            len(alarms),
            "Member must have length less than or equal to 10",
        )
    if rolling:
        path = "rollingUpdatePolicy"
        size = _size(rolling.get("MaximumBatchSize"), f"{path}.maximumBatchSize")
        if size is None:
            raise _fail(f"{path}.maximumBatchSize", None, "Member must not be null")
        wait = _int(rolling, "WaitIntervalInSeconds", f"{path}.waitIntervalInSeconds", 0, 3600)
        if wait is None:
            raise _fail(f"{path}.waitIntervalInSeconds", None, "Member must not be null")
        return Policy(
            raw=config,
            mode="ROLLING",
            size=size,
            rollback_size=_size(
                rolling.get("RollbackMaximumBatchSize"), f"{path}.rollbackMaximumBatchSize"
            ),
            wait_s=wait,
            timeout_s=_int(
                rolling,
                "MaximumExecutionTimeoutInSeconds",
                f"{path}.maximumExecutionTimeoutInSeconds",
                600,
                28800,
            ),
            alarms=alarms,
        )
    if not blue_green:
        return Policy(raw=config, mode="ALL_AT_ONCE", alarms=alarms)
    path = "blueGreenUpdatePolicy"
    routing = blue_green.get("TrafficRoutingConfiguration")
    if not routing:
        raise _fail(f"{path}.trafficRoutingConfiguration", None, "Member must not be null")
    mode = routing.get("Type")
    rpath = f"{path}.trafficRoutingConfiguration"
    if mode not in _TRAFFIC_TYPES:
        raise _fail(
            f"{rpath}.type",
            mode,
            f"Member must satisfy enum value set: [{', '.join(_TRAFFIC_TYPES)}]",
        )
    wait = _int(routing, "WaitIntervalInSeconds", f"{rpath}.waitIntervalInSeconds", 0, 3600)
    if wait is None:
        raise _fail(f"{rpath}.waitIntervalInSeconds", None, "Member must not be null")
    size = None
    if mode == "CANARY":
        size = _size(routing.get("CanarySize"), f"{rpath}.canarySize")
        if size is None:
            raise SageMakerValidation("CanarySize is required for the CANARY traffic routing type.")
        if size.kind == "CAPACITY_PERCENT" and size.value > 50:
            raise _fail(
                f"{rpath}.canarySize.value",
                size.value,
                "the canary size must be less than or equal to 50% of the fleet",
            )
    elif mode == "LINEAR":
        size = _size(routing.get("LinearStepSize"), f"{rpath}.linearStepSize")
        if size is None:
            raise SageMakerValidation(
                "LinearStepSize is required for the LINEAR traffic routing type."
            )
    return Policy(
        raw=config,
        mode=mode,
        size=size,
        wait_s=wait,
        bake_s=_int(
            blue_green, "TerminationWaitInSeconds", f"{path}.terminationWaitInSeconds", 0, 3600
        )
        or 0,
        timeout_s=_int(
            blue_green,
            "MaximumExecutionTimeoutInSeconds",
            f"{path}.maximumExecutionTimeoutInSeconds",
            600,
            28800,
        ),
        alarms=alarms,
    )


def steps(policy: Policy, instances: int) -> list[tuple[float, int, str]]:
    """The traffic shifts of a blue/green policy on a green fleet of `instances`: (share of
    requests the green fleet takes, cloud seconds to hold it, what the step is), the bake last."""
    if policy.mode == "CANARY" and policy.size is not None:
        canary = policy.size.share(instances)
        shifts = [(canary, policy.wait_s, f"canary: {canary:.0%} of the traffic")]
    elif policy.mode == "LINEAR" and policy.size is not None:
        step = policy.size.share(instances)
        count = math.ceil(1 / step - 1e-9)
        shifts = [
            (min(1.0, step * (i + 1)), policy.wait_s, f"linear step {i + 1} of {count}")
            for i in range(count - 1)
        ]
    else:
        shifts = []
    return [*shifts, (1.0, policy.bake_s, "baking: all traffic on the new fleet")]


class Abandoned(Exception):
    """The deployment was abandoned while it held a step (its endpoint was deleted, or the cloud
    is stopping): neither go ahead nor roll back."""


@dataclass
class Watch:
    """The alarms of one deployment on the cloud's clock; `started` is in cloud seconds."""

    clock: Clock
    alarm_state: AlarmState
    account: str
    region: str
    policy: Policy
    started: float
    stop: threading.Event = field(default_factory=threading.Event)

    def tripped(self, phase: str) -> str | None:
        """Why the deployment must roll back now (FailureReason), or None."""
        for name in self.policy.alarms:
            if self.alarm_state(self.account, self.region, name) == "ALARM":
                return ROLLBACK_REASON.format(alarm=name, phase=phase)
        limit = self.policy.timeout_s
        if limit is not None and self.clock.now() - self.started > limit:
            return TIMEOUT_REASON.format(limit=limit)
        return None

    def hold(self, cloud_seconds: float, phase: str) -> str | None:
        """Wait `cloud_seconds` reading the alarms: None (go ahead) when they have passed, the
        rollback reason as soon as one trips; Abandoned as soon as `stop` is set."""
        end = self.clock.now() + cloud_seconds
        while True:
            if self.stop.is_set():
                raise Abandoned
            reason = self.tripped(phase)
            if reason is not None:
                return reason
            left = end - self.clock.now()
            if left <= 0:
                return None
            self.stop.wait(min(WATCH_EVERY_S, self.clock.real(left)))
