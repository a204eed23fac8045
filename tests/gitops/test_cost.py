"""Cost before deploy: estimates checked against figures computed by hand from the shipped
price table, the before/after line of `smlocal diff`, and the idle check on a moto server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from smlocal.core.manifest import Environment
from smlocal.gitops.cost import cost_change, estimate, idle_for, utc_now
from tests.helpers.gitops import commit, deploy

DEV = {
    "name": "dev",
    "account": "123456789012",
    "region": "us-east-1",
    "endpoint_kind": "serverless",
    "serverless": {"memory_size_mb": 2048, "max_concurrency": 5},
    "cost": {
        "expected_traffic": {
            "invocations_per_month": 100_000,
            "mean_duration_ms": 120,
            "mean_payload_kb": 4,
        },
        "idle_limit_hours": 24,
    },
}
PROD = {
    "name": "prod",
    "account": "123456789012",
    "region": "us-east-1",
    "endpoint_kind": "provisioned",
    "provisioned": {
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "autoscaling": {"min": 1, "max": 4, "target_invocations_per_instance": 200},
    },
}


def test_dev_serverless_by_hand() -> None:
    # 2 GB × 0.120 s × 100,000 = 24,000 GB-s × $0.00002 = $0.48
    # 4 KB × 100,000 = 400,000 KB = 0.381470 GB × $0.016 = $0.0061035
    got = estimate(Environment.model_validate(DEV))
    assert got.low == got.high == pytest.approx(0.48 + 0.0061035, abs=1e-6)
    assert got.show() == (
        "0.49 USD/month (serverless 2048 MB × 120 ms × 100,000 invocations = 0.48, data 0.01)"
    )


def test_dev_serverless_with_provisioned_concurrency_by_hand() -> None:
    held = {**DEV["serverless"], "provisioned_concurrency": 2}
    got = estimate(Environment.model_validate({**DEV, "serverless": held}))
    # 2 × 2 GB × 730 h × 3600 s = 10,512,000 GB-s × $0.000004646 = $48.838752
    assert got.low == pytest.approx(0.48 + 0.0061035 + 48.838752, abs=1e-6)


def test_prod_provisioned_one_to_four_by_hand() -> None:
    got = estimate(Environment.model_validate(PROD))
    # $0.115/h × 730 h = $83.95 per instance; 1 to 4 instances
    assert (got.low, got.high) == (pytest.approx(83.95), pytest.approx(335.80))
    assert got.show() == "83.95–335.80 USD/month (ml.m5.large 0.115/h × 1–4 × 730 h)"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"cost": {}}, "serverless: set cost.expected_traffic in the manifest"),
        ({"region": "ap-south-2"}, "no USD prices for ap-south-2"),
    ],
)
def test_no_guess_where_the_table_or_the_traffic_is_missing(change, reason) -> None:
    got = estimate(Environment.model_validate({**DEV, **change}))
    assert got.show() == f"unknown ({reason})"


def test_diff_shows_the_cost_before_and_after(repo: Path) -> None:
    path = repo / "dev.yaml"  # us-east-1: priced in the table
    path.write_text(
        path.read_text().replace(
            "endpoint_kind: serverless\nserverless:\n  memory_size_mb: 2048\n  max_concurrency: 5",
            "endpoint_kind: provisioned\nprovisioned:\n  instance_type: ml.m5.large\n"
            "  initial_instance_count: 2",
        )
        + "cost: {expected_traffic: {invocations_per_month: 1000000, mean_duration_ms: 50}}\n"
    )
    line = cost_change("dev", "HEAD", repo)
    assert line.startswith(
        "cost: before unknown (serverless: set cost.expected_traffic in the manifest) → after "
        "167.90 USD/month (ml.m5.large 0.115/h × 2 × 730 h) (us-east-1 prices of "
    )
    commit(repo.parent, "dev: provisioned")
    assert cost_change("dev", "HEAD", repo).startswith("cost: 167.90 USD/month (ml.m5.large")


def test_an_endpoint_without_invocations_past_the_limit_is_idle(cloud) -> None:
    dev = Environment.model_validate(DEV)
    endpoint = deploy(cloud.dev, "dev", "s3://sagemaker-us-east-1-123456789012/m/model.tar.gz")
    cw, sm = cloud.dev.client("cloudwatch"), cloud.dev.client("sagemaker")
    now = utc_now()
    assert idle_for(dev, endpoint, cw, sm, now) is None  # younger than the limit
    later = now + timedelta(hours=25)
    assert idle_for(dev, endpoint, cw, sm, later) == (
        f"idle: endpoint {endpoint} of dev had no invocations in the last 24 h "
        "(cost.idle_limit_hours 24); it is billed until deleted"
    )
    cw.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Timestamp": later - timedelta(hours=2),
                "Value": 3,
                "Unit": "None",
            }
        ],
    )
    assert idle_for(dev, endpoint, cw, sm, later) is None
    assert (
        idle_for(Environment.model_validate({**DEV, "cost": {}}), endpoint, cw, sm, later) is None
    )
