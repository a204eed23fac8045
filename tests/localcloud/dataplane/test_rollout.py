"""Deployment guardrails through boto3, on the cloud whose clock runs at 60x: UpdateEndpoint's
DeploymentConfig shifts traffic (canary, all at once), bakes, and rolls back when its
CloudWatch alarm (5xx errors of the variant) goes into ALARM; the old model then serves. A
step's hold is abandoned (neither a go-ahead nor a rollback) when the cloud stops."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.dataplane import rollout
from localcloud.dataplane.endpoints import Endpoints
from localcloud.shared.clock import Clock
from localcloud.shared.persistence import StateStore
from tests.helpers.cloud import (
    BUCKET,
    Cloud,
    create_model_and_config,
    poll,
    put_model,
    wait_endpoint,
)
from tests.helpers.models import model_archive

pytestmark = pytest.mark.slow

ENDPOINT = "guarded"
ALARM = "guarded-5xx-errors"
# A model that answers its own name, or fails every request (a broken predict_fn).
NAMED = """
def model_fn(model_dir):
    return {name!r}

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    if model == "broken":
        raise RuntimeError("this model is broken")
    return model

def output_fn(prediction, accept):
    return prediction.encode(), "text/plain"
"""


@pytest.fixture(scope="module")
def clients(fast_cloud: Cloud) -> Iterator[dict[str, Any]]:
    """Models blue, green and broken, each with its config; endpoint `guarded` serving blue;
    the rollback alarm: any 5xx of its variant in a minute. The endpoint and the alarm go at
    the end (the fast cloud serves the other packages' tests too)."""
    s3, sagemaker = fast_cloud.client("s3"), fast_cloud.client("sagemaker")
    cloudwatch = fast_cloud.client("cloudwatch")
    s3.create_bucket(Bucket=BUCKET)
    for name in ("blue", "green", "broken"):
        archive = model_archive(NAMED.format(name=name), weights=False)
        create_model_and_config(sagemaker, name, put_model(s3, f"models/{name}.tar.gz", archive))
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="blue")
    assert wait_endpoint(sagemaker, ENDPOINT)["EndpointStatus"] == "InService"
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[
            {"Name": "EndpointName", "Value": ENDPOINT},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    yield {
        "sagemaker": sagemaker,
        "runtime": fast_cloud.client("sagemaker-runtime", retries=1),
        "cloudwatch": cloudwatch,
    }
    sagemaker.delete_endpoint(EndpointName=ENDPOINT)
    cloudwatch.delete_alarms(AlarmNames=[ALARM])


def policy(routing: dict[str, Any], bake_s: int) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": bake_s,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
    }


def quiet_alarm(clients: dict[str, Any]) -> None:
    """Wait until the alarm is out of ALARM (a rollback's errors are a period behind)."""
    poll(
        lambda: clients["cloudwatch"].describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0],
        lambda alarm: alarm["StateValue"] != "ALARM",
        lambda alarm: f"alarm still {alarm['StateValue']}",
        60,
        0.2,
    )


def update_under_load(
    clients: dict[str, Any], config: str, deployment: dict[str, Any]
) -> tuple[Counter[str], list[dict[str, Any]], dict[str, Any]]:
    """UpdateEndpoint, then requests one after the other until the update ends: what answered
    (a model's name, or "failed"), what DescribeEndpoint said meanwhile, and at the end."""
    sagemaker, runtime = clients["sagemaker"], clients["runtime"]
    sagemaker.update_endpoint(
        EndpointName=ENDPOINT, EndpointConfigName=config, DeploymentConfig=deployment
    )
    answers: Counter[str] = Counter()
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while True:
        described = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        if described["EndpointStatus"] != "Updating":
            return answers, seen, described
        assert time.monotonic() < deadline, "the update did not end"
        seen.append(described)
        for _ in range(5):
            try:
                answer = runtime.invoke_endpoint(
                    EndpointName=ENDPOINT, Body=b"x", ContentType="text/plain"
                )
                answers[answer["Body"].read().decode()] += 1
            except ClientError as err:
                assert err.response["Error"]["Code"] == "ModelError"
                answers["failed"] += 1


def served(clients: dict[str, Any], n: int = 20) -> Counter[str]:
    runtime = clients["runtime"]
    return Counter(
        runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=b"x", ContentType="text/plain")["Body"]
        .read()
        .decode()
        for _ in range(n)
    )


def test_a_broken_canary_is_rolled_back_by_its_alarm_and_only_its_share_failed(clients):
    deployment = policy(
        {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            "WaitIntervalInSeconds": 600,
        },
        bake_s=60,
    )
    answers, seen, after = update_under_load(clients, "broken", deployment)

    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == "blue"
    assert ALARM in after["FailureReason"] and "traffic shift" in after["FailureReason"]
    assert after["LastDeploymentConfig"] == deployment
    assert "PendingDeploymentSummary" not in after
    pending = [d["PendingDeploymentSummary"] for d in seen if "PendingDeploymentSummary" in d]
    assert pending and all(p["EndpointConfigName"] == "broken" for p in pending)
    statuses = {p["ProductionVariants"][0]["VariantStatus"][0]["Status"] for p in pending}
    assert "ActivatingTraffic" in statuses and "Baking" not in statuses
    # Only the canary's share (a quarter) of the requests reached the broken model.
    total = sum(answers.values())
    assert set(answers) <= {"blue", "failed"}
    assert 0 < answers["failed"] < total / 2, answers
    assert served(clients) == Counter({"blue": 20})


def test_a_healthy_canary_completes_and_the_new_model_serves(clients):
    quiet_alarm(clients)
    deployment = policy(
        {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": 120,
        },
        bake_s=60,
    )
    answers, seen, after = update_under_load(clients, "green", deployment)

    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == "green"
    assert "FailureReason" not in after
    assert after["LastDeploymentConfig"] == deployment
    assert answers["failed"] == 0 and answers["blue"] > 0 and answers["green"] > 0, answers
    statuses = {
        d["PendingDeploymentSummary"]["ProductionVariants"][0]["VariantStatus"][0]["Status"]
        for d in seen
        if "PendingDeploymentSummary" in d
    }
    assert "Baking" in statuses
    assert served(clients) == Counter({"green": 20})


def test_an_all_at_once_update_to_a_broken_model_rolls_back_in_the_bake(clients):
    quiet_alarm(clients)
    deployment = policy({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, bake_s=600)
    answers, _seen, after = update_under_load(clients, "broken", deployment)

    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == "green"
    assert ALARM in after["FailureReason"] and "baking period" in after["FailureReason"]
    assert answers["failed"] > 0
    assert served(clients) == Counter({"green": 20})
    history = clients["cloudwatch"].describe_alarm_history(
        AlarmName=ALARM, HistoryItemType="StateUpdate"
    )["AlarmHistoryItems"]
    assert any("to ALARM" in item["HistorySummary"] for item in history)


@pytest.mark.parametrize(
    ("deployment", "words"),
    [
        (
            {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 60}}},
            "CanarySize is required",
        ),
        (
            {"BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                "TerminationWaitInSeconds": 4000,
            }},
            "less than or equal to 3600",
        ),
        (
            {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 60,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 80},
            }}},
            "50%",
        ),
    ],
)  # fmt: skip
def test_a_deployment_config_sagemaker_refuses_is_refused_and_nothing_changes(
    clients, deployment, words
):
    sagemaker = clients["sagemaker"]
    before = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    with pytest.raises(ClientError) as caught:
        sagemaker.update_endpoint(
            EndpointName=ENDPOINT, EndpointConfigName="blue", DeploymentConfig=deployment
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert words in caught.value.response["Error"]["Message"]
    after = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == before["EndpointConfigName"]


def test_the_traffic_steps_of_each_mode() -> None:
    def routing(kind: str, **extra: Any) -> dict[str, Any]:
        return policy({"Type": kind, "WaitIntervalInSeconds": 30, **extra}, bake_s=300)

    linear = rollout.parse(routing("LINEAR", LinearStepSize={"Type": "INSTANCE_COUNT", "Value": 1}))
    assert linear is not None
    assert [(share, hold) for share, hold, _ in rollout.steps(linear, 4)] == [
        (0.25, 30),
        (0.5, 30),
        (0.75, 30),
        (1.0, 300),
    ]
    canary = rollout.parse(routing("CANARY", CanarySize={"Type": "CAPACITY_PERCENT", "Value": 10}))
    assert canary is not None
    assert [(share, hold) for share, hold, _ in rollout.steps(canary, 1)] == [
        (0.1, 30),
        (1.0, 300),
    ]
    at_once = rollout.parse(routing("ALL_AT_ONCE"))
    assert at_once is not None and at_once.alarms == (ALARM,)
    assert [(share, hold) for share, hold, _ in rollout.steps(at_once, 3)] == [(1.0, 300)]
    rolling = rollout.parse(
        {
            "RollingUpdatePolicy": {
                "MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": "60",  # as a CloudFormation template may carry it
            }
        }
    )
    assert rolling is not None and rolling.mode == "ROLLING" and rolling.wait_s == 60
    assert rolling.size is not None and rolling.size.count(3) == 2
    assert rolling.raw["RollingUpdatePolicy"]["WaitIntervalInSeconds"] == 60


def _held(watch: rollout.Watch) -> tuple[threading.Thread, list[BaseException | str | None]]:
    """A thread holding a bake of an hour on `watch`; what the hold ended with."""
    ended: list[BaseException | str | None] = []

    def hold() -> None:
        try:
            ended.append(watch.hold(3600, "baking period"))
        except rollout.Abandoned as stopped:
            ended.append(stopped)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread, ended


def test_a_stopped_hold_is_abandoned_not_a_go_ahead() -> None:
    at_once = rollout.parse(policy({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, 3600))
    assert at_once is not None
    watch = rollout.Watch(Clock(), lambda *_: None, "123456789012", "us-east-1", at_once, 0.0)
    thread, ended = _held(watch)
    watch.stop.set()
    thread.join(30)
    assert len(ended) == 1 and isinstance(ended[0], rollout.Abandoned)  # None would go ahead


def test_the_cloud_stopping_ends_a_deployment_s_bake_at_once(tmp_path: Path) -> None:
    at_once = rollout.parse(policy({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, 3600))
    assert at_once is not None
    endpoints = Endpoints(tmp_path, StateStore(tmp_path), "http://localhost:1")
    runtime = endpoints._runtime(("123456789012", "us-east-1", "baking"))
    runtime.watch = rollout.Watch(
        endpoints.clock, lambda *_: None, "123456789012", "us-east-1", at_once, 0.0
    )
    thread, ended = _held(runtime.watch)
    endpoints.stop_all()
    thread.join(30)  # an hour's bake otherwise
    assert not thread.is_alive()
    assert len(ended) == 1 and isinstance(ended[0], rollout.Abandoned)
