"""Async inference as SageMaker runs it, through boto3: answers and failures land in S3, the
config's success and error topics hear of each (read back through an SQS subscription),
InvocationTimeoutSeconds and RequestTTLSeconds are honoured; the input is read at the request's
turn, as the role of the variant it is routed to (an unreadable one fails as any request does);
`smlocal predict`'s client asks an async endpoint through S3.

On the fast cloud (60x): a request's time to live (60 s at least) is counted in cloud seconds,
so a request queued behind another for two real seconds has outlived it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from inference import client
from inference.errors import PredictError
from tests.helpers.cloud import (
    PYTORCH_IMAGE,
    ROLE_ARN,
    SAGEMAKER_TRUST,
    Cloud,
    create_role,
    poll,
    wait_endpoint,
)
from tests.helpers.models import INFERENCE_SCRIPT, model_archive

pytestmark = pytest.mark.slow

ENDPOINT = "queued"
BUCKET = "async-tests"

# The MNIST serving script, plus: a text/plain "<text>" is answered "M:<text>"; "sleep:<s>"
# first sleeps; "fail", and any text/csv request, fail with a 500.
MODEL = (
    INFERENCE_SCRIPT.read_text()
    + """

# The handlers it defines, under other names: a script defines transform_fn or the three.
_input_fn, _predict_fn, _output_fn = input_fn, predict_fn, output_fn
del input_fn, predict_fn, output_fn


def transform_fn(model, body, content_type, accept, context=None):
    import time

    if content_type.startswith("text/csv") or bytes(body) == b"fail":
        raise RuntimeError("the model refuses this request")
    if not content_type.startswith("text/plain"):
        return _output_fn(_predict_fn(_input_fn(body, content_type), model), accept)
    text = bytes(body).decode()
    if text.startswith("sleep:"):
        time.sleep(float(text[len("sleep:") :]))
    return "M:" + text, "text/plain"
"""
)


@pytest.fixture(scope="module")
def cloud(fast_cloud: Cloud) -> Cloud:
    return fast_cloud


@pytest.fixture(scope="module")
def s3(cloud: Cloud) -> Any:
    client = cloud.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def runtime(cloud: Cloud) -> Any:
    return cloud.client("sagemaker-runtime", retries=1)


@pytest.fixture(scope="module")
def topics(cloud: Cloud) -> dict[str, tuple[str, str]]:
    """The success and error topics, each with an SQS queue subscribed: name → (topic, queue)."""
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    result = {}
    for name in ("success", "error"):
        topic = sns.create_topic(Name=f"async-{name}")["TopicArn"]
        queue = sqs.create_queue(QueueName=f"async-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        result[name] = (topic, queue)
    return result


@pytest.fixture(scope="module")
def endpoint(cloud: Cloud, s3: Any, topics: dict[str, tuple[str, str]]) -> Iterator[str]:
    sagemaker = cloud.client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="models/async/model.tar.gz", Body=model_archive(MODEL))
    url = f"s3://{BUCKET}/models/async/model.tar.gz"
    sagemaker.create_model(
        ModelName=ENDPOINT,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": PYTORCH_IMAGE, "ModelDataUrl": url},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=ENDPOINT,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": ENDPOINT,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        AsyncInferenceConfig={
            # One at a time: a request queued behind a slow one waits for it.
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 1},
            "OutputConfig": {
                "S3OutputPath": f"s3://{BUCKET}/async/out",
                "S3FailurePath": f"s3://{BUCKET}/async/failed",
                "NotificationConfig": {
                    "SuccessTopic": topics["success"][0],
                    "ErrorTopic": topics["error"][0],
                },
            },
        },
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    assert wait_endpoint(sagemaker, ENDPOINT)["EndpointStatus"] == "InService"
    yield ENDPOINT
    sagemaker.delete_endpoint(EndpointName=ENDPOINT)


def submit(s3: Any, runtime: Any, inference_id: str, body: bytes, **options: Any) -> Any:
    s3.put_object(Bucket=BUCKET, Key=f"async/in/{inference_id}", Body=body)
    return runtime.invoke_endpoint_async(
        EndpointName=ENDPOINT,
        InputLocation=f"s3://{BUCKET}/async/in/{inference_id}",
        ContentType="text/plain",
        InferenceId=inference_id,
        **options,
    )


def landed(s3: Any, uri: str) -> dict[str, Any]:
    """The object at `uri` once it exists: its body and content type."""
    bucket, key = uri[len("s3://") :].split("/", 1)

    def read() -> dict[str, Any] | None:
        try:
            got = s3.get_object(Bucket=bucket, Key=key)
        except ClientError:
            return None
        return {"body": got["Body"].read(), "type": got["ContentType"]}

    return poll(read, lambda got: got is not None, lambda _: f"nothing at {uri}", 60, 0.2)


def notices(cloud: Cloud, queue: str, count: int) -> dict[str, dict[str, Any]]:
    """The first `count` notifications of a topic's queue, by inference id."""
    sqs = cloud.client("sqs")
    got: dict[str, dict[str, Any]] = {}

    def read() -> dict[str, dict[str, Any]]:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            body = json.loads(message["Body"])
            got[body["inferenceId"]] = body
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return got

    return poll(read, lambda g: len(g) >= count, lambda g: f"only {sorted(g)}", 60, 0.2)


def test_answers_and_failures_land_in_s3_and_notify_their_topics(
    cloud: Cloud, s3: Any, runtime: Any, endpoint: str, topics: dict[str, tuple[str, str]]
) -> None:
    ok = submit(s3, runtime, "ok-1", b"hello")
    failed = submit(s3, runtime, "bad-1", b"fail")

    assert landed(s3, ok["OutputLocation"]) == {"body": b"M:hello", "type": "text/plain"}
    failure = landed(s3, failed["FailureLocation"])["body"].decode()
    assert "500" in failure and "the model refuses this request" in failure

    (success,) = notices(cloud, topics["success"][1], 1).values()
    assert success["invocationStatus"] == "Completed"
    assert success["inferenceId"] == "ok-1"
    assert success["requestParameters"] == {
        "contentType": "text/plain",
        "endpointName": endpoint,
        "inputLocation": f"s3://{BUCKET}/async/in/ok-1",
    }
    assert success["responseParameters"] == {
        "contentType": "text/plain",
        "outputLocation": ok["OutputLocation"],
    }
    assert (success["eventSource"], success["eventName"]) == ("aws:sagemaker", "InferenceResult")
    assert success["awsRegion"] == "us-east-1"
    assert success["receivedTime"] <= success["eventTime"]

    (error,) = notices(cloud, topics["error"][1], 1).values()
    assert (error["invocationStatus"], error["inferenceId"]) == ("Failed", "bad-1")
    assert "the model refuses this request" in error["failureReason"]
    assert error["responseParameters"] == {"failureLocation": failed["FailureLocation"]}


def test_a_slow_answer_times_out_and_a_request_queued_behind_it_expires(
    cloud: Cloud, s3: Any, runtime: Any, endpoint: str, topics: dict[str, tuple[str, str]]
) -> None:
    # The slow one holds the only slot for two real seconds (its timeout): 120 cloud seconds,
    # so the one behind it has outlived its 60 s to live before its turn.
    slow = submit(s3, runtime, "slow-1", b"sleep:4", InvocationTimeoutSeconds=2)
    late = submit(s3, runtime, "late-1", b"hello", RequestTTLSeconds=60)

    assert "timed out" in landed(s3, slow["FailureLocation"])["body"].decode()
    expired = landed(s3, late["FailureLocation"])["body"].decode()
    assert "expired" in expired and "RequestTTLSeconds of 60" in expired
    errors = notices(cloud, topics["error"][1], 2)
    assert "timed out" in errors["slow-1"]["failureReason"]
    assert "expired" in errors["late-1"]["failureReason"]
    with pytest.raises(ClientError):  # the answer of neither was written
        s3.head_object(Bucket=BUCKET, Key="async/out/late-1.out")


def test_an_input_that_cannot_be_read_fails_into_the_failure_location(
    cloud: Cloud, s3: Any, runtime: Any, endpoint: str, topics: dict[str, tuple[str, str]]
) -> None:
    # The caller's request reads nothing: the input is read when the request's turn comes.
    missing = f"s3://{BUCKET}/async/in/never-uploaded"
    answer = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=missing, ContentType="text/plain", InferenceId="gone-1"
    )
    failure = landed(s3, answer["FailureLocation"])["body"].decode()
    assert f"Could not read the input {missing}: " in failure and "NoSuchKey" in failure
    error = notices(cloud, topics["error"][1], 1)["gone-1"]
    assert error["invocationStatus"] == "Failed"
    assert error["failureReason"] == f"ClientError: {failure}"
    assert error["requestParameters"]["inputLocation"] == missing


def test_a_request_is_read_and_answered_as_the_role_of_the_variant_it_is_routed_to(
    cloud: Cloud, s3: Any, runtime: Any, endpoint: str
) -> None:
    # The first variant takes no traffic (weight 0) and its role may read its model only.
    models_only = create_role(
        cloud.client("iam"),
        "async-models-only",
        SAGEMAKER_TRUST,
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{BUCKET}/models/*",
                }
            ],
        },
    )
    sagemaker = cloud.client("sagemaker")
    url = f"s3://{BUCKET}/models/async/model.tar.gz"
    variants = []
    for name, role, weight in (("First", models_only, 0.0), ("Second", ROLE_ARN, 1.0)):
        sagemaker.create_model(
            ModelName=f"routed-{name}",
            ExecutionRoleArn=role,
            PrimaryContainer={"Image": PYTORCH_IMAGE, "ModelDataUrl": url},
        )
        variants.append(
            {
                "VariantName": name,
                "ModelName": f"routed-{name}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
        )
    output = {"S3OutputPath": f"s3://{BUCKET}/routed/out"}
    sagemaker.create_endpoint_config(
        EndpointConfigName="routed",
        ProductionVariants=variants,
        AsyncInferenceConfig={"OutputConfig": output},
    )
    sagemaker.create_endpoint(EndpointName="routed", EndpointConfigName="routed")
    try:
        described = wait_endpoint(sagemaker, "routed")
        assert described["EndpointStatus"] == "InService", described.get("FailureReason")
        s3.put_object(Bucket=BUCKET, Key="async/in/routed-1", Body=b"hello")
        answer = runtime.invoke_endpoint_async(
            EndpointName="routed",
            InputLocation=f"s3://{BUCKET}/async/in/routed-1",
            ContentType="text/plain",
            InferenceId="routed-1",
        )
        assert landed(s3, answer["OutputLocation"]) == {"body": b"M:hello", "type": "text/plain"}
    finally:
        sagemaker.delete_endpoint(EndpointName="routed")


def test_request_settings_out_of_range_are_refused(s3: Any, runtime: Any, endpoint: str) -> None:
    # botocore checks only the minimum; the maximum is the service's.
    with pytest.raises(ClientError) as caught:
        submit(s3, runtime, "long-1", b"hello", RequestTTLSeconds=21601)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "'requestTTLSeconds'" in error["Message"] and "21600" in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_predict_client_uploads_waits_and_reads_the_answer(
    s3: Any, runtime: Any, endpoint: str
) -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    indices, labels = np.arange(3), np.array([1, 2, 3])
    result = client.invoke_async(runtime, s3, BUCKET, endpoint, indices, images, labels)
    assert result.content_type == "application/json"
    assert [p.index for p in result.predictions] == [0, 1, 2]
    assert all(abs(sum(p.probabilities) - 1) < 1e-4 for p in result.predictions)
    inputs = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{client.ASYNC_INPUT_PREFIX}/")
    assert inputs["KeyCount"] == 1  # the request, where the role may read it

    with pytest.raises(PredictError, match=r"failed request .*the model refuses") as caught:
        client.invoke_async(
            runtime, s3, BUCKET, endpoint, indices, images, labels, content_type="text/csv"
        )
    assert "\n" not in str(caught.value)
