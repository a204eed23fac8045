"""Cost before deploy: each environment's estimated monthly cost, and idle dev endpoints.

Provisioned: instance-hour price × instance count × 730 h, from autoscaling min to max (or the
fixed count). Serverless: configured memory (GB) × mean duration (s) × invocations per month ×
the GB-second price, plus data processed (payload × invocations × the per-GB price), plus
provisioned concurrency held all month; it needs the manifest's `cost.expected_traffic`.
Prices come from the table shipped with the catalog (`smlocal.core.prices`), in the manifest's
region and currency; no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smlocal.core import environments
from smlocal.core.catalog import price_table
from smlocal.core.manifest import Environment, ProvisionedEndpoint
from smlocal.core.prices import AS_OF, HOURS_PER_MONTH
from smlocal.gitops import git
from smlocal.gitops.promote import parse_text

_GB = 1024 * 1024  # KB per GB


@dataclass(frozen=True)
class Estimate:
    """An environment's estimated monthly cost, or why there is none (`reason`)."""

    env: str
    region: str
    currency: str
    low: float | None = None
    high: float | None = None
    basis: str = ""
    reason: str | None = None

    def show(self) -> str:
        if self.low is None or self.high is None:
            return f"unknown ({self.reason})"
        amount = (
            f"{self.low:,.2f}" if self.low == self.high else f"{self.low:,.2f}–{self.high:,.2f}"
        )
        return f"{amount} {self.currency}/month ({self.basis})"


def estimate(env: Environment) -> Estimate:
    """The monthly cost of `env`'s endpoint, from the price table of its region and currency."""
    where: dict[str, Any] = {"env": env.name, "region": env.region, "currency": env.cost.currency}
    prices = price_table(env.region, env.cost.currency)
    if prices is None:
        return Estimate(**where, reason=f"no {env.cost.currency} prices for {env.region}")
    spec = env.endpoint
    if isinstance(spec, ProvisionedEndpoint):
        hourly = prices["instance_hour"].get(spec.instance_type)  # type: ignore[attr-defined]
        if hourly is None:
            return Estimate(**where, reason=f"no price for {spec.instance_type} in {env.region}")
        scaling = spec.autoscaling
        low, high = (scaling.min, scaling.max) if scaling else (spec.initial_instance_count,) * 2
        count = f"{low}" if low == high else f"{low}–{high}"
        return Estimate(
            **where,
            low=hourly * low * HOURS_PER_MONTH,
            high=hourly * high * HOURS_PER_MONTH,
            basis=f"{spec.instance_type} {hourly}/h × {count} × {HOURS_PER_MONTH} h",
        )
    traffic = env.cost.expected_traffic
    if traffic is None:
        return Estimate(**where, reason="serverless: set cost.expected_traffic in the manifest")
    memory_gb = spec.memory_size_mb / 1024
    gb_seconds = memory_gb * traffic.mean_duration_ms / 1000 * traffic.invocations_per_month
    compute = gb_seconds * float(prices["serverless_gb_second"])  # type: ignore[arg-type]
    data_gb = traffic.mean_payload_kb * traffic.invocations_per_month / _GB
    data = data_gb * float(prices["serverless_data_gb"])  # type: ignore[arg-type]
    held = 0.0
    if spec.provisioned_concurrency:
        seconds = HOURS_PER_MONTH * 3600
        rate = float(prices["serverless_provisioned_gb_second"])  # type: ignore[arg-type]
        held = spec.provisioned_concurrency * memory_gb * seconds * rate
    total = compute + data + held
    basis = (
        f"serverless {spec.memory_size_mb} MB × {traffic.mean_duration_ms} ms × "
        f"{traffic.invocations_per_month:,} invocations = {compute:.2f}, data {data:.2f}"
        + (f", provisioned concurrency {held:.2f}" if held else "")
    )
    return Estimate(**where, low=total, high=total, basis=basis)


def cost_change(env_name: str, base: str = "HEAD", envdir: Path | None = None) -> str:
    """One line: the estimate at `base` and in the working tree, with the prices' date."""
    after = environments.load(env_name, envdir)
    path = environments.manifest_path(env_name, envdir)
    root = git.repo_root(path)
    text = git.show(root, git.resolve(root, base), git.relpath(path))
    before = estimate(parse_text(path, text, base)).show() if text is not None else "none"
    now = estimate(after).show()
    prices = f"{after.region} prices of {AS_OF}"
    if before == now:
        return f"cost: {now}, unchanged ({prices})"
    return f"cost: before {before} → after {now} ({prices})"


def idle_for(
    env: Environment, endpoint_name: str, cloudwatch: Any, sagemaker: Any, now: datetime
) -> str | None:
    """A line when `env` sets `cost.idle_limit_hours` and its endpoint, older than the limit,
    had no invocations in that many hours (CloudWatch `AWS/SageMaker` `Invocations`); else
    None. An endpoint is billed until it is deleted, whether or not anyone calls it."""
    limit = env.cost.idle_limit_hours
    if limit is None:
        return None
    window = timedelta(hours=limit)
    described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    changed = described.get("LastModifiedTime") or described["CreationTime"]
    if now - changed < window:
        return None
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint_name},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        StartTime=now - window,
        EndTime=now,
        Period=limit * 3600,
        Statistics=["Sum"],
    )["Datapoints"]
    if sum(p.get("Sum", 0) for p in points) > 0:
        return None
    return (
        f"idle: endpoint {endpoint_name} of {env.name} had no invocations in the last {limit} h "
        f"(cost.idle_limit_hours {limit}); it is billed until deleted"
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
