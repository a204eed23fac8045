"""Application Auto Scaling that acts on SageMaker variants, as AWS does.

moto 5.2.5 records targets and policies only: any `endpoint/<e>/variant/<v>` registers, target
tracking for SageMaker creates no alarm, nothing ever scales and DescribeScalingActivities is
an HTML 500. Here:

- RegisterScalableTarget (and the CloudFormation ScalableTarget, which calls the same backend)
  checks that the endpoint and its variant exist, and a MinCapacity / MaxCapacity that the
  variant's count lies outside of scales it into range at once;
- DeregisterScalableTarget deletes the target's policies and their alarms, as AWS does;
- a target tracking policy creates its two alarms as AWS names and shapes them
  (`TargetTracking-<resource>-AlarmHigh-<uuid>`: 3 of 3 one-minute periods above the target;
  `-AlarmLow-<uuid>`: 15 of 15 below 90 % of it, none when scale-in is disabled), for the
  predefined `SageMakerVariantInvocationsPerInstance` or a customized metric; re-putting the
  policy replaces them, deleting it deletes them;
- an alarm in ALARM runs its policy (`alarm_action`): target tracking sets
  ceil(current x metric / target), step scaling applies the step the breach falls in, both
  clamped to min..max and held back by their cooldowns (cloud seconds, `shared.clock`); the
  variant is scaled through the SageMaker backend's `update_endpoint_weights_and_capacities`;
- every change of capacity is a scaling activity (DescribeScalingActivities, newest first):
  InProgress while the endpoint is Updating (its instances start or stop), then Successful or
  Failed (ended when next looked at: a describe, or the next alarm action); no alarm scales a
  variant whose endpoint is not InService.
"""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import (
    ApplicationAutoscalingBackend,
    FakeApplicationAutoscalingPolicy,
    FakeScalableTarget,
    applicationautoscaling_backends,
)
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.cloudwatch.models import Alarm, cloudwatch_backends

from localcloud.shared.clock import Clock

SAGEMAKER_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_PER_INSTANCE = "SageMakerVariantInvocationsPerInstance"
DEFAULT_COOLDOWN_S = 300  # AWS's default for SageMaker variants, scale-out and scale-in
_clock = Clock()


def install(clock: Clock) -> None:
    """Patch moto's Application Auto Scaling (once per process)."""
    global _clock
    _clock = clock
    if getattr(ApplicationAutoscalingBackend.register_scalable_target, "_localcloud", False):
        return
    register = ApplicationAutoscalingBackend.register_scalable_target
    deregister = ApplicationAutoscalingBackend.deregister_scalable_target
    put_policy = ApplicationAutoscalingBackend.put_scaling_policy

    def register_checked(self: ApplicationAutoscalingBackend, *args: Any, **kw: Any) -> Any:
        namespace, resource_id, dimension = (list(args) + [None] * 3)[:3]
        namespace = kw.get("namespace", namespace)
        resource_id = kw.get("r_id", resource_id)
        dimension = kw.get("dimension", dimension)
        existing = resource_id in self.targets.get(dimension, {})
        if namespace == "sagemaker":
            _check_variant(self, str(resource_id))
            low, high = kw.get("min_capacity"), kw.get("max_capacity")
            if not existing and (low is None or high is None):
                raise AWSValidationException(
                    "MinCapacity and MaxCapacity must be specified when registering a new "
                    "scalable target"
                )
            if existing:
                old = self.targets[dimension][resource_id]
                low = old.min_capacity if low is None else low
                high = old.max_capacity if high is None else high
            if low is not None and high is not None and int(low) > int(high):
                raise AWSValidationException(
                    "Minimum capacity cannot be greater than maximum capacity"
                )
        target = register(self, *args, **kw)
        if namespace == "sagemaker" and dimension == SAGEMAKER_DIMENSION:
            _fit(self, target)
        return target

    def deregister_with_policies(
        self: ApplicationAutoscalingBackend, namespace: str, r_id: str, dimension: str
    ) -> None:
        deregister(self, namespace, r_id, dimension)
        for key, policy in list(self.policies.items()):
            if (policy.resource_id, policy.scalable_dimension) == (r_id, dimension):
                policy.delete_alarms(self.account_id, self.region_name)
                del self.policies[key]

    def put_policy_replacing(self: ApplicationAutoscalingBackend, **kw: Any) -> Any:
        key = FakeApplicationAutoscalingPolicy.formulate_key(
            kw["service_namespace"], kw["resource_id"], kw["scalable_dimension"], kw["policy_name"]
        )
        old = self.policies.get(key)
        if kw["service_namespace"] == "sagemaker" and not _target_of(
            self, kw["resource_id"], kw["scalable_dimension"]
        ):
            raise AWSValidationException(
                f"No scalable target registered for service namespace: sagemaker, resource ID: "
                f"{kw['resource_id']}, scalable dimension: {kw['scalable_dimension']}"
            )
        policy = put_policy(self, **kw)
        if old is not None:
            # AWS keeps the policy's ARN and replaces its alarms; moto made new ones beside.
            old.delete_alarms(self.account_id, self.region_name)
        return policy

    register_checked._localcloud = True  # type: ignore[attr-defined]
    ApplicationAutoscalingBackend.register_scalable_target = register_checked  # type: ignore[method-assign]
    ApplicationAutoscalingBackend.deregister_scalable_target = deregister_with_policies  # type: ignore[method-assign]
    ApplicationAutoscalingBackend.put_scaling_policy = put_policy_replacing  # type: ignore[method-assign]
    create_alarms = FakeApplicationAutoscalingPolicy.create_alarms

    def create_alarms_with_sagemaker(self: FakeApplicationAutoscalingPolicy) -> None:
        create_alarms(self)
        if self.policy_type == "TargetTrackingScaling" and self.service_namespace == "sagemaker":
            self.alarms.extend(_target_tracking_alarms(self))

    FakeApplicationAutoscalingPolicy.create_alarms = create_alarms_with_sagemaker  # type: ignore[method-assign]
    ApplicationAutoScalingResponse.describe_scaling_activities = _describe_activities  # type: ignore[attr-defined]


# --- targets ----------------------------------------------------------------------------------


def _sagemaker(account_id: str, region_name: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account_id][region_name]


def _split(resource_id: str) -> tuple[str, str]:
    parts = resource_id.split("/")
    if len(parts) != 4 or parts[0] != "endpoint" or parts[2] != "variant":
        raise AWSValidationException(
            f"Unsupported resource ID {resource_id}: SageMaker variants are "
            "endpoint/<endpoint-name>/variant/<variant-name>"
        )
    return parts[1], parts[3]


def _check_variant(backend: ApplicationAutoscalingBackend, resource_id: str) -> dict[str, Any]:
    """The variant `resource_id` names, or AWS's ValidationException."""
    endpoint_name, variant_name = _split(resource_id)
    endpoint = _sagemaker(backend.account_id, backend.region_name).endpoints.get(endpoint_name)
    if endpoint is None:
        raise AWSValidationException(
            f"Could not find endpoint {endpoint_name} for resource ID {resource_id}"
        )
    for variant in endpoint.production_variants:
        if variant["VariantName"] == variant_name:
            return variant
    raise AWSValidationException(
        f"Could not find variant {variant_name} of endpoint {endpoint_name} for resource ID "
        f"{resource_id}"
    )


def _target_of(
    backend: ApplicationAutoscalingBackend, resource_id: str, dimension: str
) -> FakeScalableTarget | None:
    return backend.targets.get(dimension, {}).get(resource_id)


def _count(variant: dict[str, Any]) -> int:
    return int(variant.get("DesiredInstanceCount") or variant.get("CurrentInstanceCount") or 0)


def _fit(backend: ApplicationAutoscalingBackend, target: FakeScalableTarget) -> None:
    """Scale a variant whose count lies outside min..max into range (AWS does at once)."""
    variant = _check_variant(backend, target.resource_id)
    if "CurrentInstanceCount" not in variant and "DesiredInstanceCount" not in variant:
        return  # serverless: no instances to count (a stack may register before its update)
    current = _count(variant)
    low, high = target.min_capacity, target.max_capacity
    if low is not None and current < low:
        _scale(backend, target, low, f"minimum capacity was set to {low}")
    elif high is not None and current > high:
        _scale(backend, target, high, f"maximum capacity was set to {high}")


def _scale(
    backend: ApplicationAutoscalingBackend, target: FakeScalableTarget, desired: int, cause: str
) -> None:
    """Set the variant's desired instance count through SageMaker; the activity records it."""
    endpoint_name, variant_name = _split(target.resource_id)
    start = datetime.now(UTC)
    activity: dict[str, Any] = {
        "ActivityId": str(uuid.uuid4()),
        "ServiceNamespace": target.service_namespace,
        "ResourceId": target.resource_id,
        "ScalableDimension": target.scalable_dimension,
        "Description": f"Setting desired instance count to {desired}.",
        "Cause": cause,
        "StartTime": start.timestamp(),
    }
    sagemaker = _sagemaker(backend.account_id, backend.region_name)
    try:
        variant = _check_variant(backend, target.resource_id)
        weight = variant.get("CurrentWeight", variant.get("DesiredWeight", 1.0))
        sagemaker.update_endpoint_weights_and_capacities(
            endpoint_name,
            [
                {
                    "VariantName": variant_name,
                    "DesiredWeight": weight,
                    "DesiredInstanceCount": desired,
                }
            ],
        )
    except Exception as err:  # SageMaker's refusal is the activity's outcome
        activity.update(
            StatusCode="Failed",
            StatusMessage=f"Failed to set desired instance count to {desired}. Reason: {err}",
            EndTime=datetime.now(UTC).timestamp(),
        )
    else:
        # The instances start or stop while the endpoint is Updating: in progress till then.
        activity.update(StatusCode="InProgress", desired=desired)
    _activities(backend).append(activity)
    _settle(backend)


def _settle(backend: ApplicationAutoscalingBackend) -> None:
    """End the activities in progress whose endpoint is back in service (or gone, or failed)."""
    sagemaker = _sagemaker(backend.account_id, backend.region_name)
    for activity in _activities(backend):
        if activity["StatusCode"] != "InProgress":
            continue
        endpoint_name, _ = _split(activity["ResourceId"])
        endpoint = sagemaker.endpoints.get(endpoint_name)
        status = None if endpoint is None else endpoint.endpoint_status
        if status in ("Updating", "SystemUpdating"):
            continue
        desired = activity.pop("desired")
        if status == "InService":
            activity.update(
                StatusCode="Successful",
                StatusMessage=f"Successfully set desired instance count to {desired}. "
                "Change successfully fulfilled by sagemaker.",
            )
        else:
            activity.update(
                StatusCode="Failed",
                StatusMessage=f"Failed to set desired instance count to {desired}. Reason: "
                f"the endpoint is {status or 'deleted'}.",
            )
        activity["EndTime"] = datetime.now(UTC).timestamp()


def _in_service(backend: ApplicationAutoscalingBackend, resource_id: str) -> bool:
    endpoint = _sagemaker(backend.account_id, backend.region_name).endpoints.get(
        _split(resource_id)[0]
    )
    return endpoint is not None and endpoint.endpoint_status == "InService"


def _activities(backend: ApplicationAutoscalingBackend) -> list[dict[str, Any]]:
    found = getattr(backend, "localcloud_activities", None)
    if found is None:
        found = backend.localcloud_activities = []  # type: ignore[attr-defined]
    return found


def _describe_activities(self: ApplicationAutoScalingResponse) -> str:
    """DescribeScalingActivities: newest first, filtered by resource and dimension, paged."""
    self._validate_params()
    namespace = self._get_param("ServiceNamespace")
    resource_id = self._get_param("ResourceId")
    dimension = self._get_param("ScalableDimension")
    _settle(self.applicationautoscaling_backend)
    found = [
        {k: v for k, v in a.items() if k != "desired"}
        for a in reversed(_activities(self.applicationautoscaling_backend))
        if a["ServiceNamespace"] == namespace
        and (not resource_id or a["ResourceId"] == resource_id)
        and (not dimension or a["ScalableDimension"] == dimension)
    ]
    first = int(self._get_param("NextToken") or 0)
    size = int(self._get_param("MaxResults") or 50)
    body: dict[str, Any] = {"ScalingActivities": found[first : first + size]}
    if first + size < len(found):
        body["NextToken"] = str(first + size)
    return json.dumps(body)


# --- policies and their alarms ----------------------------------------------------------------


def _target_tracking_alarms(policy: FakeApplicationAutoscalingPolicy) -> list[Alarm]:
    """AlarmHigh (3 of 3 minutes above the target) and AlarmLow (15 of 15 below 90 % of it)."""
    config = policy.target_tracking_scaling_policy_configuration or {}
    target = float(config["TargetValue"])
    predefined = config.get("PredefinedMetricSpecification")
    custom = config.get("CustomizedMetricSpecification")
    endpoint_name, variant_name = _split(policy.resource_id)
    if custom:
        namespace, metric = custom["Namespace"], custom["MetricName"]
        dimensions = [
            {"Name": d["Name"], "Value": d["Value"]} for d in custom.get("Dimensions", [])
        ]
        stat, unit = custom.get("Statistic", "Average"), custom.get("Unit")
    elif (predefined or {}).get("PredefinedMetricType") == INVOCATIONS_PER_INSTANCE:
        namespace, metric, stat, unit = "AWS/SageMaker", "InvocationsPerInstance", "Sum", None
        dimensions = [
            {"Name": "EndpointName", "Value": endpoint_name},
            {"Name": "VariantName", "Value": variant_name},
        ]
    else:
        kind = (predefined or {}).get("PredefinedMetricType")
        raise AWSValidationException(f"Unsupported predefined metric type {kind} for sagemaker")
    cloudwatch = cloudwatch_backends[policy.account_id][policy.region_name]
    action = f"{policy.policy_arn}:createdBy/{uuid.uuid4()}"
    description = f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {action}."
    shapes = [("AlarmHigh", "GreaterThanThreshold", target, 3)]
    if not config.get("DisableScaleIn"):
        shapes.append(("AlarmLow", "LessThanThreshold", target * 0.9, 15))
    alarms = []
    for suffix, comparison, threshold, periods in shapes:
        alarms.append(
            cloudwatch.put_metric_alarm(
                name=f"TargetTracking-{policy.resource_id}-{suffix}-{uuid.uuid4()}",
                namespace=namespace,
                metric_name=metric,
                comparison_operator=comparison,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                period=60,
                threshold=threshold,
                statistic=stat,
                unit=unit,
                description=description,
                dimensions=dimensions,
                alarm_actions=[action],
            )
        )
    return alarms


def _policy_for(action: str) -> tuple[ApplicationAutoscalingBackend, Any] | None:
    """The backend and policy an alarm action ARN names (`...:policyName/<n>[:createdBy/..]`)."""
    arn = action.split(":createdBy/")[0]
    parts = arn.split(":")
    if len(parts) < 6:
        return None
    backend = applicationautoscaling_backends[parts[4]][parts[3]]
    for policy in backend.policies.values():
        if policy.policy_arn == arn:
            return backend, policy
    return None


def alarm_action(action: str, alarm: Alarm) -> bool:
    """Run the Application Auto Scaling policy an alarm action names (others are not ours);
    True when it scaled."""
    if ":autoscaling:" not in action or ":scalingPolicy:" not in action:
        return False
    found = _policy_for(action)
    if found is None:
        raise AWSValidationException(f"No scaling policy found for action {action}")
    backend, policy = found
    target = _target_of(backend, policy.resource_id, policy.scalable_dimension)
    if target is None or policy.service_namespace != "sagemaker":
        return False
    _settle(backend)
    if not _in_service(backend, target.resource_id):
        return False  # an update or a scaling in progress: AWS scales once it is over
    suspended = target.suspended_state or {}
    current = _count(_check_variant(backend, target.resource_id))
    metric = _latest(alarm)
    if metric is None:
        return False
    if policy.policy_type == "TargetTrackingScaling":
        config = policy.target_tracking_scaling_policy_configuration or {}
        goal = float(config["TargetValue"])
        desired = math.ceil(current * metric / goal) if goal > 0 else current
        if "AlarmHigh" in alarm.name:
            desired = max(desired, current + 1)
        else:
            desired = min(desired, current - 1)
        cooldowns = (config.get("ScaleOutCooldown"), config.get("ScaleInCooldown"))
    else:
        config = policy.step_scaling_policy_configuration or {}
        desired = step_capacity(config, current, metric - float(alarm.threshold))
        cooldowns = (config.get("Cooldown"), config.get("Cooldown"))
    desired = max(int(target.min_capacity or 1), min(int(target.max_capacity or desired), desired))
    if desired == current:
        return False
    out = desired > current
    if (out and suspended.get("DynamicScalingOutSuspended")) or (
        not out and suspended.get("DynamicScalingInSuspended")
    ):
        return False
    if _cooling(target, out, cooldowns):
        return False
    cause = f"monitor alarm {alarm.name} in state ALARM triggered policy {policy.policy_name}"
    _scale(backend, target, desired, cause)
    stamp = "localcloud_last_out" if out else "localcloud_last_in"
    setattr(target, stamp, datetime.now(UTC))
    return True


def _cooling(target: FakeScalableTarget, out: bool, cooldowns: tuple[Any, Any]) -> bool:
    """Whether a cooldown holds this scaling back: a scale-out waits for the last scale-out's,
    a scale-in for both (AWS does not scale in while a scale-out cools down)."""
    now = _clock.cloud(datetime.now(UTC))
    out_s = DEFAULT_COOLDOWN_S if cooldowns[0] is None else int(cooldowns[0])
    in_s = DEFAULT_COOLDOWN_S if cooldowns[1] is None else int(cooldowns[1])
    last_out = getattr(target, "localcloud_last_out", None)
    last_in = getattr(target, "localcloud_last_in", None)
    if last_out is not None and now - _clock.cloud(last_out) < out_s:
        return True
    return not out and last_in is not None and now - _clock.cloud(last_in) < in_s


def _latest(alarm: Alarm) -> float | None:
    """The newest datapoint the alarm's last evaluation saw (its StateReasonData)."""
    with contextlib.suppress(ValueError, TypeError):
        recent = json.loads(alarm.state_reason_data or "{}").get("recentDatapoints") or []
        if recent:
            return float(recent[0])
    return None


def step_capacity(config: dict[str, Any], current: int, breach: float) -> int:
    """The capacity a step scaling policy sets for a metric `breach` above the threshold."""
    for step in config.get("StepAdjustments", []):
        lower = step.get("MetricIntervalLowerBound")
        upper = step.get("MetricIntervalUpperBound")
        if (lower is None or breach >= float(lower)) and (upper is None or breach < float(upper)):
            adjustment = float(step["ScalingAdjustment"])
            break
    else:
        return current
    kind = config.get("AdjustmentType", "ChangeInCapacity")
    if kind == "ExactCapacity":
        return int(adjustment)
    if kind == "PercentChangeInCapacity":
        change = current * adjustment / 100
        change = math.floor(change) if change > 0 else math.ceil(change)
        least = int(config.get("MinAdjustmentMagnitude") or 0)
        if abs(change) < least:
            change = least if adjustment > 0 else -least
        return current + int(change)
    return current + int(adjustment)
