"""The stacks' whole life with the real CDK CLI on the local cloud: deploy dev (serverless) and
prod (provisioned, autoscaled, data capture on) side by side, prod's capture files and metrics
after predictions, update to a new model under load, switch kinds, a bad model on prod rolled
back by its alarm (a canary; the cloud's clock at 60x), a failed deploy and its repair,
promotion to another account, and destroy.

The tests share one deployment (cdk deploys are the slow part) and run in file order; each one
sets up the manifests it needs, so it also runs alone after the module's first deploy.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import re
import subprocess
import tarfile
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from localcloud.shared.processes import processes_under
from smlocal.core.naming import endpoint_stack_name
from tests.helpers.cloud import poll
from tests.helpers.e2e import (
    DEPLOYER_ROLE,
    OTHER_ACCOUNT,
    OTHER_PLATFORM,
    PLATFORM,
    Cloud,
    Models,
    Repo,
    ask,
    cdk,
    deployed_model_url,
    endpoint_name,
    expected,
    outputs,
    smlocal,
)

SERVERLESS = {"memory_size_mb": 2048, "max_concurrency": 5}
PROVISIONED = {
    "instance_type": "ml.m5.large",
    "initial_instance_count": 1,
    "autoscaling": {"min": 1, "max": 4, "target_invocations_per_instance": 200},
    "data_capture": {"sampling_percentage": 100},  # as environments/prod.yaml
}
BUCKET = "sagemaker-us-east-1-123456789012"
STABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
# Appended to a good artifact's code/inference.py: it loads and answers /ping, every
# prediction fails (a 500 from the container, a ModelError to the caller).
BROKEN_PREDICT = """

def predict_fn(data, model):
    raise RuntimeError("a broken model: predict_fn always fails")
"""


def status(cloud: Cloud, repo: Repo, env: str, **kw) -> subprocess.CompletedProcess:
    """`smlocal status`, its output with line wrapping undone (long URLs wrap)."""
    proc = smlocal(cloud, "status", "--env", env, "--envdir", str(repo.envdir), **kw)
    proc.output = " ".join(proc.output.split())
    return proc


def assert_serves(cloud: Cloud, env: str, pin, models: Models, *, other: bool = False) -> None:
    """The environment's endpoint serves `pin`: by its model record and by its answers."""
    endpoint = endpoint_name(cloud, env, other=other)
    _, url = deployed_model_url(cloud, endpoint, other=other)
    assert url == pin.model_data_url
    answers = ask(cloud, endpoint, models, other=other)
    np.testing.assert_allclose(answers, expected(cloud, pin, models, other=other), atol=1e-5)


def broken_copy(cloud: Cloud, good):
    """A pin of a copy of `good`'s artifact whose predict_fn always fails (same bucket)."""
    assert good.model_data_url is not None
    bucket, key = good.model_data_url[5:].split("/", 1)
    s3 = cloud.client("s3")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(body)) as old,
        tarfile.open(fileobj=out, mode="w:gz") as new,
    ):
        for member in old.getmembers():
            data = old.extractfile(member).read() if member.isfile() else None
            if member.name.lstrip("./") == "code/inference.py":
                data += BROKEN_PREDICT.encode()
                member.size = len(data)
            new.addfile(member, io.BytesIO(data) if data is not None else None)
    broken_key = key.replace("/output/", "/broken-output/")
    s3.put_object(Bucket=bucket, Key=broken_key, Body=out.getvalue())
    return good.model_copy(
        update={
            "model_data_url": f"s3://{bucket}/{broken_key}",
            "sha256": hashlib.sha256(out.getvalue()).hexdigest(),
            "training_job": "broken-predict",
        }
    )


@pytest.fixture(scope="module")
def deployed(cloud: Cloud, repo: Repo, models: Models) -> None:
    """dev (serverless) and prod (provisioned, autoscaled) pinned to model A and deployed."""
    repo.set_endpoint("dev", "serverless", SERVERLESS)
    repo.set_endpoint("prod", "provisioned", PROVISIONED)
    repo.pin("dev", models.a)
    repo.pin("prod", models.a)
    cdk(cloud, repo, "deploy", endpoint_stack_name("dev"), endpoint_stack_name("prod"))


def test_dev_and_prod_deploy_side_by_side_sharing_one_platform_stack(cloud, repo, models, deployed):
    cf = cloud.client("cloudformation")
    live = {
        s["StackName"]: s["StackStatus"]
        for s in cf.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }
    assert live.keys() == {PLATFORM, "SageMakerEndpoint-dev", "SageMakerEndpoint-prod"}
    assert set(live.values()) <= set(STABLE)

    sm = cloud.client("sagemaker")
    dev, prod = endpoint_name(cloud, "dev"), endpoint_name(cloud, "prod")
    dev_config, _ = deployed_model_url(cloud, dev)
    prod_config, _ = deployed_model_url(cloud, prod)
    dev_variant = sm.describe_endpoint_config(EndpointConfigName=dev_config)["ProductionVariants"]
    prod_variant = sm.describe_endpoint_config(EndpointConfigName=prod_config)["ProductionVariants"]
    assert dev_variant[0]["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert (prod_variant[0]["InstanceType"], prod_variant[0]["InitialInstanceCount"]) == (
        "ml.m5.large",
        1,
    )
    scaling = cloud.client("application-autoscaling")
    target = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker",
        ResourceIds=[f"endpoint/{prod}/variant/{prod_variant[0]['VariantName']}"],
    )["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in target] == [(1, 4)]
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["PolicyType"] for p in policies] == ["TargetTrackingScaling"]

    for env in ("dev", "prod"):
        assert_serves(cloud, env, models.a, models)
        assert f"{env} is in sync with its manifest" in status(cloud, repo, env).output


def test_prod_captures_every_request_and_counts_it_in_its_metrics(cloud, repo, models, deployed):
    from inference.client import encode_images

    prod = endpoint_name(cloud, "prod")
    capture = cloud.client("sagemaker").describe_endpoint(EndpointName=prod)["DataCaptureConfig"]
    assert (capture["CaptureStatus"], capture["CurrentSamplingPercentage"]) == ("Started", 100)
    cloudwatch, s3 = cloud.client("cloudwatch"), cloud.client("s3")

    def invocations() -> float:
        now = datetime.now(UTC)
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="Invocations",
            Dimensions=[
                {"Name": "EndpointName", "Value": prod},
                {"Name": "VariantName", "Value": "AllTraffic"},
            ],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(minutes=5),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    def wait_for(read, settled, what):
        deadline = time.monotonic() + 30
        while not settled(value := read()):
            assert time.monotonic() < deadline, f"{what}: {value}"
            time.sleep(0.3)
        return value

    before = invocations()  # the earlier tests' calls, flushed long since
    runtime = cloud.client("sagemaker-runtime", attempts=1)
    body = encode_images(models.images[:2], "application/json")
    sent = [f"e2e-capture-{i}" for i in range(20)]
    for inference_id in sent:
        runtime.invoke_endpoint(
            EndpointName=prod, Body=body, ContentType="application/json", InferenceId=inference_id
        )

    total = wait_for(invocations, lambda n: n >= before + len(sent), "Invocations sum")
    assert total == before + len(sent)

    prefix = f"data-capture/{prod}/AllTraffic/"
    layout = re.compile(rf"^{re.escape(prefix)}\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/[^/]+\.jsonl$")

    def captured() -> dict[str, dict]:
        lines = {}
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        for item in listed:
            assert layout.match(item["Key"]), item["Key"]
            text = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
            for line in text.splitlines():
                record = json.loads(line)
                lines[record["eventMetadata"].get("inferenceId")] = record
        return lines

    records = wait_for(captured, lambda got: set(sent) <= set(got), "captured")
    data = records[sent[0]]["captureData"]
    assert data["endpointInput"]["observedContentType"] == "application/json"
    # No CaptureContentTypeHeader in the config: SageMaker base64-encodes both sides.
    assert data["endpointInput"]["encoding"] == data["endpointOutput"]["encoding"] == "BASE64"
    assert base64.b64decode(data["endpointInput"]["data"]) == body
    answer = json.loads(base64.b64decode(data["endpointOutput"]["data"]))
    assert len(answer["predictions"]) == 2


def test_a_new_pin_moves_the_endpoint_to_a_new_config_with_no_failed_request(
    cloud, repo, models, deployed
):
    endpoint = endpoint_name(cloud, "dev")
    config_before, url_before = deployed_model_url(cloud, endpoint)
    assert url_before == models.a.model_data_url  # as the module's deploy left it
    repo.pin("dev", models.b)
    drifted = status(cloud, repo, "dev", check=False)
    assert drifted.returncode == 1
    assert (
        f"drift model_data_url: manifest '{models.b.model_data_url}', "
        f"deployed '{models.a.model_data_url}'"
    ) in drifted.output

    answers_a = expected(cloud, models.a, models)
    answers_b = expected(cloud, models.b, models)
    assert not np.allclose(answers_a, answers_b, atol=1e-3), "the two models answer alike"
    seen = {"a": 0, "b": 0}
    errors: list[str] = []
    stop = threading.Event()

    def loop() -> None:  # a client that keeps asking while cdk deploy updates the endpoint
        while not stop.is_set():
            try:
                answer = ask(cloud, endpoint, models)
            except Exception as err:  # every failure counts, whatever its kind
                errors.append(f"{type(err).__name__}: {err}")
                continue
            if np.allclose(answer, answers_a, atol=1e-5):
                seen["a"] += 1
            elif np.allclose(answer, answers_b, atol=1e-5):
                seen["b"] += 1
            else:
                errors.append("an answer from neither model")

    client = threading.Thread(target=loop)
    client.start()
    try:
        cdk(cloud, repo, "deploy", "-c", "env=dev", "--all")
        time.sleep(0.5)  # a few requests after the switch too
    finally:
        stop.set()
        client.join()

    assert errors == []
    assert seen["a"] > 0 and seen["b"] > 0, seen  # served by A, then B, without a gap
    assert endpoint_name(cloud, "dev") == endpoint  # the same endpoint, re-pointed
    config_after, _ = deployed_model_url(cloud, endpoint)
    assert config_after != config_before
    assert config_after == outputs(cloud, "dev")["EndpointConfigName"]
    assert_serves(cloud, "dev", models.b, models)
    assert "dev is in sync with its manifest" in status(cloud, repo, "dev").output
    diff = cdk(cloud, repo, "diff", "-c", "env=dev", "--all")  # its change set, deleted again
    assert "There were no differences" in diff.output
    assert outputs(cloud, "dev")["EndpointConfigName"] == config_after


def test_switching_between_provisioned_and_serverless_deploys(cloud, repo, models, deployed):
    repo.set_endpoint("dev", "provisioned", {"instance_type": "ml.m5.large"})
    repo.set_endpoint("prod", "serverless", SERVERLESS)

    cdk(cloud, repo, "deploy", endpoint_stack_name("dev"), endpoint_stack_name("prod"))

    sm = cloud.client("sagemaker")
    for env, kind in (("dev", "InstanceType"), ("prod", "ServerlessConfig")):
        config, _ = deployed_model_url(cloud, endpoint_name(cloud, env))
        variant = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
        assert kind in variant, variant
        assert_serves(cloud, env, repo.model(env), models)
        assert f"{env} is in sync with its manifest" in status(cloud, repo, env).output
    targets = cloud.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]
    assert targets == []  # a serverless prod has nothing to scale

    # and back, so that the stacks end as the manifests in environments/ describe them
    repo.set_endpoint("dev", "serverless", SERVERLESS)
    repo.set_endpoint("prod", "provisioned", PROVISIONED)
    cdk(cloud, repo, "deploy", endpoint_stack_name("dev"), endpoint_stack_name("prod"))
    for env in ("dev", "prod"):
        assert f"{env} is in sync with its manifest" in status(cloud, repo, env).output


def test_a_bad_model_on_prod_is_rolled_back_by_its_alarm_and_the_good_one_serves(
    cloud, repo, models, deployed
):
    prod = endpoint_stack_name("prod")
    endpoint = endpoint_name(cloud, "prod")
    good = repo.model("prod")
    cfn = cloud.client("cloudformation")
    template_before = cfn.get_template(StackName=prod)["TemplateBody"]
    config_before, _ = deployed_model_url(cloud, endpoint)
    # A canary this time (the stack's DeploymentConfig changes in the same update): a quarter
    # of the requests go to the new model for 600 s (10 s at 60x), the alarm trips in 3-5 s.
    canary = {"traffic": "canary", "canary_percent": 25, "wait_seconds": 600}
    repo.set_endpoint("prod", "provisioned", {**PROVISIONED, "deployment": canary})
    repo.pin("prod", broken_copy(cloud, good))
    answers = {"good": 0, "failed": 0}
    others: list[str] = []
    stop = threading.Event()

    def loop() -> None:  # a client that keeps asking while the update shifts and rolls back
        while not stop.is_set():
            try:
                ask(cloud, endpoint, models)
                answers["good"] += 1
            except Exception as err:  # the broken model's ModelError, nothing else
                if "ModelError" in str(err):
                    answers["failed"] += 1
                else:
                    others.append(f"{type(err).__name__}: {err}")

    client = threading.Thread(target=loop)
    client.start()
    try:
        failed = cdk(cloud, repo, "deploy", prod, check=False)
    finally:
        stop.set()
        client.join()
        repo.set_endpoint("prod", "provisioned", PROVISIONED)  # the manifest as the stack is
        repo.pin("prod", good)

    alarms = cloud.client("cloudwatch").describe_alarms(AlarmNamePrefix=prod)["MetricAlarms"]
    states = {a["AlarmName"]: a["StateValue"] for a in alarms}
    assert failed.returncode != 0, (answers, states, failed.output[-2000:])
    assert f"{prod}-5xx-errors" in failed.output
    stack = cfn.describe_stacks(StackName=prod)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert cfn.get_template(StackName=prod)["TemplateBody"] == template_before
    assert deployed_model_url(cloud, endpoint) == (config_before, good.model_data_url)
    # Only the canary's share of the requests made during the canary failed, no other.
    assert others == []
    assert 0 < answers["failed"] < answers["good"], answers
    assert_serves(cloud, "prod", good, models)
    assert "prod is in sync with its manifest" in status(cloud, repo, "prod").output


def test_load_on_prod_scales_it_out_and_idle_brings_it_back_to_its_minimum(
    cloud, repo, models, deployed
):
    from inference.client import encode_images

    # prod's 200 invocations per instance per minute would need 200 calls/s at 60x; a target of
    # 5 is crossed by a few client threads. Its cooldowns (60 s out, 300 s in) and the low
    # alarm's 15 one-minute periods last 1 s, 5 s and 15 s here. The manifest stays as deployed.
    low_target = {
        **PROVISIONED,
        "autoscaling": {"min": 1, "max": 3, "target_invocations_per_instance": 5},
    }
    repo.set_endpoint("prod", "provisioned", low_target)
    cdk(cloud, repo, "deploy", endpoint_stack_name("prod"))
    endpoint = endpoint_name(cloud, "prod")
    resource = f"endpoint/{endpoint}/variant/AllTraffic"
    sm, scaling = cloud.client("sagemaker"), cloud.client("application-autoscaling")

    def variant() -> dict:
        described = sm.describe_endpoint(EndpointName=endpoint)
        return {**described["ProductionVariants"][0], "status": described["EndpointStatus"]}

    def counts(v: dict) -> str:
        desired, running = v.get("DesiredInstanceCount"), v.get("CurrentInstanceCount")
        return f"{v['status']}, {desired} desired, {running} running"

    assert (variant()["DesiredInstanceCount"], variant()["CurrentInstanceCount"]) == (1, 1)
    began = datetime.now(UTC)
    body = encode_images(models.images[:1], "application/json")
    calls, errors = [0], []
    stop = threading.Event()

    def load() -> None:  # one client of a few, asking as fast as the endpoint answers
        runtime = cloud.client("sagemaker-runtime", attempts=1)
        while not stop.is_set():
            try:
                runtime.invoke_endpoint(
                    EndpointName=endpoint, Body=body, ContentType="application/json"
                )
                calls[0] += 1
            except Exception as err:  # every failure counts: scaling out loses no request
                errors.append(f"{type(err).__name__}: {err}")

    clients = [threading.Thread(target=load) for _ in range(3)]
    for client in clients:
        client.start()
    try:  # till the high alarm scales it out; the new instances start once the load is off
        poll(
            variant,
            lambda v: v["DesiredInstanceCount"] >= 2,
            lambda v: f"under load ({calls[0]} calls): {counts(v)}",
            timeout_s=120,
            interval_s=0.3,
        )
    finally:
        stop.set()
        for client in clients:
            client.join()
    assert errors == []

    poll(  # idle: the endpoint's 0 invocations a minute trip the low alarm
        variant,
        lambda v: (
            (v["status"], v["DesiredInstanceCount"], v["CurrentInstanceCount"])
            == ("InService", 1, 1)
        ),
        lambda v: f"idle: {counts(v)}",
        timeout_s=120,
        interval_s=0.5,
    )
    activities = scaling.describe_scaling_activities(
        ServiceNamespace="sagemaker", ResourceId=resource
    )["ScalingActivities"]
    steps = [
        (a["Description"], a["StatusCode"], re.sub(r"-[0-9a-f-]{36} ", " ", a["Cause"]))
        for a in reversed(activities)  # oldest first
        if a["StartTime"] >= began
    ]
    alarm = f"monitor alarm TargetTracking-{resource}"
    assert len(steps) >= 2, steps
    out, back = steps[0], steps[-1]
    assert re.fullmatch(r"Setting desired instance count to [23]\.", out[0]), steps
    assert out[1] == "Successful", steps
    assert out[2].startswith(f"{alarm}-AlarmHigh in state ALARM triggered policy "), steps
    assert back[:2] == ("Setting desired instance count to 1.", "Successful"), steps
    assert back[2].startswith(f"{alarm}-AlarmLow in state ALARM triggered policy "), steps
    # The new instances really ran: each instance's output goes to its own log stream.
    streams = cloud.client("logs").describe_log_streams(
        logGroupName=f"/aws/sagemaker/Endpoints/{endpoint}"
    )["logStreams"]
    started = [s["logStreamName"] for s in streams if s["creationTime"] >= began.timestamp() * 1000]
    sizes = [1, *(int(d.split()[-1].rstrip(".")) for d, _, _ in steps)]
    assert len(started) == sum(max(0, b - a) for a, b in itertools.pairwise(sizes)), steps


def test_a_missing_artifact_fails_the_deploy_with_the_reason_and_a_good_one_repairs_it(
    cloud, repo, models, deployed
):
    good = repo.model("dev")
    missing = good.model_copy(
        update={
            "model_data_url": good.model_data_url.replace("/output/", "/no-such-output/"),
            "training_job": "no-such-job",
        }
    )
    repo.pin("dev", missing)

    failed = cdk(cloud, repo, "deploy", "-c", "env=dev", "--all", check=False)

    assert failed.returncode != 0
    assert f"could not download the model data {missing.model_data_url}" in failed.output
    stack = cloud.client("cloudformation").describe_stacks(StackName=endpoint_stack_name("dev"))[
        "Stacks"
    ][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    # The old model still answers. (Its endpoint config record is not checked here: the local
    # cloud's rollback does not bring back a config the failed update replaced.)
    answers = ask(cloud, endpoint_name(cloud, "dev"), models)
    np.testing.assert_allclose(answers, expected(cloud, good, models), atol=1e-5)

    other = models.a if good.sha256 != models.a.sha256 else models.b
    repo.pin("dev", other)
    cdk(cloud, repo, "deploy", "-c", "env=dev", "--all")

    stack = cloud.client("cloudformation").describe_stacks(StackName=endpoint_stack_name("dev"))[
        "Stacks"
    ][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert_serves(cloud, "dev", other, models)
    assert "dev is in sync with its manifest" in status(cloud, repo, "dev").output


def test_promote_dev_to_staging_in_another_account_then_deploy_staging(
    cloud, repo, models, deployed
):
    assert "dev is in sync" in status(cloud, repo, "dev").output  # what promote checks
    source = repo.model("dev")
    # staging's platform stack (role, bucket) in its own account, before anything is copied;
    # `--method=direct` (CreateStack / UpdateStack, no change set) keeps working too
    cdk(cloud, repo, "deploy", "-c", "env=staging", "--all", "--method=direct", other=True)

    promoted = smlocal(
        cloud,
        "promote",
        "--from",
        "dev",
        "--to",
        "staging",
        "--yes",
        "--envdir",
        str(repo.envdir),
        SMLOCAL_STAGING_ROLE_ARN=DEPLOYER_ROLE,
    )
    staged = repo.model("staging")
    assert staged.model_data_url is not None
    assert staged.model_data_url.startswith(f"s3://sagemaker-eu-west-1-{OTHER_ACCOUNT}/")
    assert staged.sha256 == source.sha256
    assert staged.promotion is not None and staged.promotion.promoted_from == "dev"
    assert staged.model_data_url in "".join(promoted.output.split())
    repo.commit("staging: promoted from dev")

    cdk(cloud, repo, "deploy", "-c", "env=staging", "--all", other=True)

    assert_serves(cloud, "staging", staged, models, other=True)
    stack = cloud.client("cloudformation", other=True).describe_stacks(
        StackName=endpoint_stack_name("staging")
    )["Stacks"][0]
    assert stack["StackId"].split(":")[4] == OTHER_ACCOUNT
    in_sync = status(cloud, repo, "staging", other=True)
    assert "staging is in sync with its manifest" in in_sync.output
    # the dev account has no staging endpoint: the promotion crossed accounts
    summaries = cloud.client("cloudformation").list_stacks()["StackSummaries"]
    dev_stacks = {s["StackName"] for s in summaries}
    assert endpoint_stack_name("staging") not in dev_stacks


def test_destroy_leaves_nothing_but_the_retained_bucket(cloud, repo, models, deployed):
    # staging's bucket is `destroy` but holds the promoted model: as on AWS, S3 refuses to
    # delete it and the stack ends DELETE_FAILED, saying why; emptied, the destroy goes through
    staging_bucket = f"sagemaker-eu-west-1-{OTHER_ACCOUNT}"
    s3_other = cloud.client("s3", other=True)
    left = s3_other.list_objects_v2(Bucket=staging_bucket)["Contents"]
    assert [o["Key"] for o in left] == [repo.model("staging").model_data_url.split("/", 3)[3]]
    failed = cdk(cloud, repo, "destroy", "-c", "env=staging", "--all", other=True, check=False)
    assert failed.returncode != 0
    assert "DELETE_FAILED" in failed.output
    stack = cloud.client("cloudformation", other=True).describe_stacks(StackName=OTHER_PLATFORM)[
        "Stacks"
    ][0]
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert "The bucket you tried to delete is not empty" in stack["StackStatusReason"]
    versions = s3_other.list_object_versions(Bucket=staging_bucket)
    for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3_other.delete_object(Bucket=staging_bucket, Key=v["Key"], VersionId=v["VersionId"])
    cdk(cloud, repo, "destroy", "-c", "env=staging", "--all", other=True)
    assert staging_bucket not in [b["Name"] for b in s3_other.list_buckets()["Buckets"]]

    cdk(cloud, repo, "destroy", endpoint_stack_name("dev"), endpoint_stack_name("prod"), PLATFORM)

    for other, platform in ((False, PLATFORM), (True, OTHER_PLATFORM)):
        sm = cloud.client("sagemaker", other=other)
        assert sm.list_endpoints()["Endpoints"] == []
        assert sm.list_endpoint_configs()["EndpointConfigs"] == []
        assert sm.list_models()["Models"] == []
        roles = cloud.client("iam", other=other).list_roles()["Roles"]
        assert [r["RoleName"] for r in roles if r["RoleName"] == "SageMaker-local"] == []
        stacks = cloud.client("cloudformation", other=other).list_stacks()["StackSummaries"]
        assert {s["StackStatus"] for s in stacks} == {"DELETE_COMPLETE"}, platform
    assert processes_under(cloud.state_dir / "endpoints") == []  # no serving process left

    # prod marks the shared bucket `retain`: it stays, with the models, and status says so
    s3 = cloud.client("s3")
    kept = s3.list_objects_v2(Bucket="sagemaker-us-east-1-123456789012")["KeyCount"]
    assert kept > 0
    report = status(cloud, repo, "prod", check=False)
    assert report.returncode == 1
    assert "prod: not deployed" in report.output
    assert "kept: bucket sagemaker-us-east-1-123456789012 was kept" in report.output
