"""Endpoints with several production variants and instances, through boto3: traffic splits by
weight, TargetVariant routes, every instance is its own process, a killed one is replaced, and
UpdateEndpointWeightsAndCapacities shifts traffic and starts/stops processes. Data capture
lines are written as the role of the variant that answered, even once its endpoint is gone."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import (
    BUCKET,
    PYTORCH_IMAGE,
    ROLE_ARN,
    Cloud,
    poll,
    processes_under,
    put_model,
    wait_endpoint,
)
from tests.helpers.models import model_archive

pytestmark = pytest.mark.slow

# A model that answers its own name: the answer tells which model served the request.
NAMED = """
def model_fn(model_dir):
    return {name!r}

def transform_fn(model, body, content_type, accept, context):
    attributes = context.custom_attributes
    if attributes:
        header = "X-Amzn-SageMaker-Custom-Attributes"
        context.set_response_header(0, header, model + ":" + attributes)
    return model, "text/plain"
"""
ENDPOINT = "ab"
CAPTURE = f"s3://{BUCKET}/data-capture"


def instances(cloud: Cloud, variant: str) -> list[int]:
    """The pids of the serving processes of `variant` (one per instance)."""
    endpoint_dir = cloud.state_dir / "endpoints" / "123456789012" / "us-east-1" / ENDPOINT
    return sorted(pid for d in endpoint_dir.glob(f"*/{variant}") for pid in processes_under(d))


def call(runtime: Any, **kwargs: Any) -> tuple[str, str]:
    """(the variant named by the header, the model that answered)."""
    answer = runtime.invoke_endpoint(
        EndpointName=ENDPOINT, Body=b"x", ContentType="text/plain", **kwargs
    )
    return answer["InvokedProductionVariant"], answer["Body"].read().decode()


def call_raw(runtime: Any) -> dict[str, Any]:
    return runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=b"x", ContentType="text/plain")


def call_body(runtime: Any, body: bytes) -> Any:
    return runtime.invoke_endpoint(
        EndpointName=ENDPOINT, Body=body, ContentType="text/plain", TargetVariant="B"
    )


def split(runtime: Any, n: int) -> Counter[str]:
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: call(runtime), range(n)))
    assert all(variant == model for variant, model in answers), "header names another model"
    return Counter(variant for variant, _ in answers)


@pytest.fixture(scope="module")
def two_variants(sagemaker: Any, s3: Any) -> str:
    """Endpoint `ab`: variant A (weight 3, 2 instances), B (weight 1, 1 instance) and shadow S
    (1 instance), capturing every request."""
    variants = []
    for name, weight, count in (("A", 3.0, 2), ("B", 1.0, 1), ("S", 1.0, 1)):
        url = put_model(s3, f"models/{name}/model.tar.gz", model_archive(NAMED.format(name=name)))
        sagemaker.create_model(
            ModelName=f"ab-{name}",
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={"Image": PYTORCH_IMAGE, "ModelDataUrl": url},
        )
        variants.append(
            {
                "VariantName": name,
                "ModelName": f"ab-{name}",
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
        )
    sagemaker.create_endpoint_config(
        EndpointConfigName=ENDPOINT,
        ProductionVariants=variants[:2],
        ShadowProductionVariants=variants[2:],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": CAPTURE,
            "KmsKeyId": "alias/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
        },
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    described = wait_endpoint(sagemaker, ENDPOINT)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    yield ENDPOINT
    sagemaker.delete_endpoint(EndpointName=ENDPOINT)


def test_every_variant_serves_by_weight_each_instance_a_process(
    sagemaker: Any, runtime: Any, cloud: Cloud, two_variants: str
) -> None:
    variants = {
        v["VariantName"]: v
        for v in sagemaker.describe_endpoint(EndpointName=two_variants)["ProductionVariants"]
    }
    assert [variants[n]["CurrentInstanceCount"] for n in "AB"] == [2, 1]
    assert [variants[n]["CurrentWeight"] for n in "AB"] == [3.0, 1.0]
    assert variants["A"]["DeployedImages"][0]["SpecifiedImage"] == PYTORCH_IMAGE
    assert len(instances(cloud, "A")) == 2 and len(instances(cloud, "B")) == 1
    (shadow,) = sagemaker.describe_endpoint(EndpointName=two_variants)["ShadowProductionVariants"]
    assert (shadow["VariantName"], shadow["CurrentInstanceCount"]) == ("S", 1)
    assert len(instances(cloud, "S")) == 1

    counts = split(runtime, 400)
    assert abs(counts["A"] / 400 - 0.75) <= 0.07, counts
    assert counts["A"] + counts["B"] == 400


def test_target_variant_routes_and_an_unknown_one_is_refused(
    runtime: Any, two_variants: str
) -> None:
    assert {call(runtime, TargetVariant="B") for _ in range(10)} == {("B", "B")}
    for target in ("Nope", "S"):  # a shadow variant never answers a caller
        with pytest.raises(ClientError) as caught:
            call(runtime, TargetVariant=target)
        assert caught.value.response["Error"]["Code"] == "ValidationError"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert target in caught.value.response["Error"]["Message"]


def test_custom_attributes_reach_the_model_and_come_back(runtime: Any, two_variants: str) -> None:
    answer = runtime.invoke_endpoint(
        EndpointName=two_variants,
        Body=b"x",
        ContentType="text/plain",
        TargetVariant="A",
        CustomAttributes="trace-id=42",
    )
    assert answer["CustomAttributes"] == "A:trace-id=42"
    assert "CustomAttributes" not in call_raw(runtime)


def test_response_stream_carries_the_body_in_event_stream_parts(
    runtime: Any, two_variants: str
) -> None:
    answer = runtime.invoke_endpoint_with_response_stream(
        EndpointName=two_variants,
        Body=b"x",
        ContentType="text/plain",
        TargetVariant="B",
        CustomAttributes="k=v",
    )
    events = list(answer["Body"])  # botocore parses the event stream
    assert b"".join(e["PayloadPart"]["Bytes"] for e in events) == b"B"
    assert answer["InvokedProductionVariant"] == "B"
    assert answer["ContentType"] == "text/plain"
    assert answer["CustomAttributes"] == "B:k=v"


def test_data_capture_writes_every_sampled_request_as_sagemaker_lays_it_out(
    sagemaker: Any, s3: Any, runtime: Any, two_variants: str
) -> None:
    summary = sagemaker.describe_endpoint(EndpointName=two_variants)["DataCaptureConfig"]
    assert summary == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": CAPTURE,
        "KmsKeyId": "alias/capture",
    }
    ids = [f"capture-{i}" for i in range(5)]
    for inference_id in ids:
        runtime.invoke_endpoint(
            EndpointName=two_variants,
            Body=b"1,2,3",
            ContentType="text/csv",
            TargetVariant="B",
            InferenceId=inference_id,
            CustomAttributes="c=1",
        )

    def records() -> dict[str, dict[str, Any]]:
        found = {}
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"data-capture/{two_variants}/B/"
        )
        for item in (obj for page in pages for obj in page.get("Contents", [])):
            assert re.fullmatch(
                rf"data-capture/{two_variants}/B/\d{{4}}/\d\d/\d\d/\d\d/"
                r"\d\d-\d\d-\d{3}-[0-9a-f-]{36}\.jsonl",
                item["Key"],
            ), item["Key"]
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
            for line in body.splitlines():
                record = json.loads(line)
                found[record["eventMetadata"].get("inferenceId", "")] = record
        return found

    found = poll(
        records,
        lambda got: set(ids) <= set(got),
        lambda got: f"captured: {sorted(got)}",
        timeout_s=30,
        interval_s=0.5,
    )
    record = found["capture-0"]
    assert record["eventVersion"] == "0"
    assert record["captureData"] == {
        "endpointInput": {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": "1,2,3",
            "encoding": "CSV",
        },
        "endpointOutput": {
            "observedContentType": "text/plain",
            "mode": "OUTPUT",
            "data": base64.b64encode(b"B").decode(),
            "encoding": "BASE64",
        },
    }
    metadata = record["eventMetadata"]
    assert metadata["customAttributes"] == ["c=1"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["inferenceTime"])
    assert len({found[i]["eventMetadata"]["eventId"] for i in ids}) == 5


def test_lines_captured_just_before_a_delete_are_written_as_their_variant_s_role(
    sagemaker: Any, s3: Any, runtime: Any
) -> None:
    name = "captured-last"
    url = put_model(s3, f"models/{name}/model.tar.gz", model_archive(NAMED.format(name=name)))
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": PYTORCH_IMAGE, "ModelDataUrl": url},
    )
    variant = {"VariantName": "V", "ModelName": name, "InitialInstanceCount": 1}
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}],
        DataCaptureConfig={
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": CAPTURE,
            "CaptureOptions": [{"CaptureMode": "Input"}],
        },
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        assert wait_endpoint(sagemaker, name)["EndpointStatus"] == "InService"
        ids = [f"last-{i}" for i in range(3)]
        for inference_id in ids:
            runtime.invoke_endpoint(
                EndpointName=name, Body=b"x", ContentType="text/plain", InferenceId=inference_id
            )
    finally:
        # Before the writer's next flush (once a second): the lines are written after it.
        sagemaker.delete_endpoint(EndpointName=name)

    def captured() -> set[str]:
        found = set()
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"data-capture/{name}/V/"
        )
        for item in (obj for page in pages for obj in page.get("Contents", [])):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
            found |= {json.loads(line)["eventMetadata"]["inferenceId"] for line in body.split()}
        return found

    poll(captured, lambda got: set(ids) <= got, lambda got: f"captured: {sorted(got)}", 30, 0.5)


def test_metrics_count_the_calls_and_instances_log_to_their_streams(
    cloud: Cloud, runtime: Any, two_variants: str
) -> None:
    start = math.ceil(time.time())  # a second of its own: earlier tests' calls fall before it
    time.sleep(start - time.time())
    for _ in range(12):
        call(runtime, TargetVariant="B")
    with pytest.raises(ClientError, match="6 MB"):
        call_body(runtime, b"x" * (6 * 1024 * 1024 + 1))
    cloudwatch, logs = cloud.client("cloudwatch"), cloud.client("logs")
    window = {
        "StartTime": datetime.fromtimestamp(start, UTC),
        "EndTime": datetime.fromtimestamp(start + 600, UTC),
    }

    def statistics(name: str, variant: str = "B") -> dict[str, float]:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=name,
            Dimensions=[
                {"Name": "EndpointName", "Value": two_variants},
                {"Name": "VariantName", "Value": variant},
            ],
            Period=600,
            Statistics=["Sum", "SampleCount", "Maximum"],
            **window,
        )["Datapoints"]
        return points[0] if points else {"Sum": 0.0, "SampleCount": 0.0}

    poll(
        lambda: statistics("Invocations"),
        lambda got: got["Sum"] >= 13,
        lambda got: f"Invocations of B: {got}",
        timeout_s=30,
        interval_s=0.5,
    )
    assert statistics("Invocations")["Sum"] == 13
    # The shadow got a copy of each request that reached B's model.
    poll(
        lambda: statistics("Invocations", "S"),
        lambda got: got["Sum"] >= 12,
        lambda got: f"Invocations of S: {got}",
        timeout_s=30,
        interval_s=0.5,
    )
    assert statistics("Invocations", "S")["Sum"] == 12
    assert statistics("InvocationsPerInstance")["Sum"] == 13  # B has one instance
    assert statistics("Invocation4XXErrors")["Sum"] == 1
    assert statistics("Invocation5XXErrors")["Sum"] == 0
    latency = statistics("ModelLatency")
    assert latency["SampleCount"] == 12 and latency["Maximum"] > 0
    assert statistics("OverheadLatency")["SampleCount"] == 13
    data = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "calls",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": "Invocations",
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": two_variants},
                            {"Name": "VariantName", "Value": "B"},
                        ],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        **window,
    )["MetricDataResults"][0]
    assert sum(data["Values"]) == 13

    group = f"/aws/sagemaker/Endpoints/{two_variants}"
    streams = poll(
        lambda: [
            s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
        ],
        lambda names: len(names) >= 4,
        lambda names: f"log streams: {names}",
        timeout_s=30,
        interval_s=0.5,
    )
    assert sorted(name.split("/")[0] for name in streams) == ["A", "A", "B", "S"]
    assert all(re.fullmatch(r"[ABS]/i-[0-9a-f]{17}", name) for name in streams)
    b_stream = next(name for name in streams if name.startswith("B/"))
    events = logs.get_log_events(logGroupName=group, logStreamName=b_stream)["events"]
    assert any("serving" in event["message"] for event in events)


def test_a_killed_instance_is_replaced_and_requests_keep_succeeding(
    runtime: Any, cloud: Cloud, two_variants: str
) -> None:
    before = instances(cloud, "A")
    os.kill(before[0], signal.SIGKILL)
    # Requests right after the kill go to the other instance of A, none fails.
    assert {call(runtime, TargetVariant="A") for _ in range(20)} == {("A", "A")}
    after = poll(
        lambda: instances(cloud, "A"),
        lambda pids: len(pids) == 2 and before[0] not in pids,
        lambda pids: f"instance not replaced: {pids}",
        timeout_s=120,
        interval_s=0.5,
    )
    assert before[1] in after
    assert {call(runtime, TargetVariant="A") for _ in range(10)} == {("A", "A")}


def test_weights_and_capacities_update_shifts_traffic_and_processes(
    sagemaker: Any, runtime: Any, cloud: Cloud, two_variants: str
) -> None:
    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=two_variants,
        DesiredWeightsAndCapacities=[
            {"VariantName": "A", "DesiredWeight": 0.0, "DesiredInstanceCount": 1},
            {"VariantName": "B", "DesiredWeight": 1.0, "DesiredInstanceCount": 2},
        ],
    )
    described = sagemaker.describe_endpoint(EndpointName=two_variants)
    assert described["EndpointStatus"] == "Updating"
    b = next(v for v in described["ProductionVariants"] if v["VariantName"] == "B")
    assert (b["CurrentInstanceCount"], b["DesiredInstanceCount"]) == (1, 2)
    assert b["VariantStatus"][0]["Status"] == "Updating"
    # The weights changed at once: everything goes to B while it scales out.
    assert split(runtime, 20) == Counter(B=20)

    described = wait_endpoint(sagemaker, two_variants)
    assert described["EndpointStatus"] == "InService"
    variants = {v["VariantName"]: v for v in described["ProductionVariants"]}
    assert [variants[n]["CurrentInstanceCount"] for n in "AB"] == [1, 2]
    assert [variants[n]["DesiredInstanceCount"] for n in "AB"] == [1, 2]
    assert [variants[n]["CurrentWeight"] for n in "AB"] == [0.0, 1.0]
    assert variants["B"].get("VariantStatus", []) == []  # nothing under way
    assert len(instances(cloud, "B")) == 2
    poll(
        lambda: instances(cloud, "A"),
        lambda pids: len(pids) == 1,
        lambda pids: f"variant A still runs {pids}",
        timeout_s=60,
        interval_s=0.5,
    )
    assert call(runtime, TargetVariant="A") == ("A", "A")  # weight 0 still serves a target


def test_weights_update_of_an_unknown_variant_is_refused(sagemaker: Any, two_variants: str) -> None:
    with pytest.raises(ClientError) as caught:
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=two_variants,
            DesiredWeightsAndCapacities=[{"VariantName": "C", "DesiredWeight": 1.0}],
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert wait_endpoint(sagemaker, two_variants)["EndpointStatus"] == "InService"


def test_async_endpoint_answers_into_s3_and_refuses_sync_calls(
    sagemaker: Any, s3: Any, runtime: Any
) -> None:
    url = put_model(s3, "models/async/model.tar.gz", model_archive(NAMED.format(name="Q")))
    sagemaker.create_model(
        ModelName="queued",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": PYTORCH_IMAGE, "ModelDataUrl": url},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="queued",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "queued",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        AsyncInferenceConfig={
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2},
            "OutputConfig": {
                "S3OutputPath": f"s3://{BUCKET}/async/out",
                "S3FailurePath": f"s3://{BUCKET}/async/failed",
            },
        },
    )
    sagemaker.create_endpoint(EndpointName="queued", EndpointConfigName="queued")
    assert wait_endpoint(sagemaker, "queued")["EndpointStatus"] == "InService"
    s3.put_object(Bucket=BUCKET, Key="async/in/request.txt", Body=b"question")

    answer = runtime.invoke_endpoint_async(
        EndpointName="queued",
        InputLocation=f"s3://{BUCKET}/async/in/request.txt",
        ContentType="text/plain",
        InferenceId="job-1",
    )
    assert answer["InferenceId"] == "job-1"
    assert answer["OutputLocation"] == f"s3://{BUCKET}/async/out/job-1.out"
    assert answer["FailureLocation"] == f"s3://{BUCKET}/async/failed/job-1-error.out"

    def output() -> bytes | None:
        try:
            return s3.get_object(Bucket=BUCKET, Key="async/out/job-1.out")["Body"].read()
        except ClientError:
            return None

    got = poll(output, lambda body: body is not None, lambda _: "no async output", 30, 0.3)
    assert got == b"Q"  # the model's answer, written by the endpoint
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="queued", Body=b"x", ContentType="text/plain")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "InvokeEndpointAsync" in caught.value.response["Error"]["Message"]
    sagemaker.delete_endpoint(EndpointName="queued")
