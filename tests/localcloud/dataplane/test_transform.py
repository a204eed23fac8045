"""Batch transform on the local cloud, through boto3: the model serves in a transient process,
every object under the input prefix goes through it, `<key>.out` lands under the output path,
with the split, batching, filters and join asked for; a failing model fails the job with why."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from localcloud.dataplane.transform import TransformError, batches, select
from tests.helpers.cloud import BUCKET, PYTORCH_IMAGE, ROLE_ARN, poll, put_model
from tests.helpers.models import model_archive


@pytest.fixture(scope="module")
def test_images() -> np.ndarray:
    from training.data import digits_splits

    images, _ = digits_splits()["test"]
    return images[:5]


@pytest.fixture(scope="module")
def expected(test_images: np.ndarray) -> list[int]:
    """The labels the seeded Net predicts for the images, computed here, in-process."""
    import io

    import torch

    from inference import inference

    model = inference.Net()
    model.load_state_dict(torch.load(io.BytesIO(model_archive_weights()), weights_only=True))
    model.eval()
    tensor = inference.input_fn(csv(test_images).encode(), "text/csv")
    return inference.predict_fn(tensor, model).argmax(dim=1).tolist()


def model_archive_weights() -> bytes:
    from tests.helpers.models import seeded_weights

    return seeded_weights(0)


def csv(images: np.ndarray) -> str:
    return "".join(",".join(str(int(v)) for v in image.reshape(-1)) + "\n" for image in images)


@pytest.fixture(scope="module")
def model(s3: Any, sagemaker: Any) -> str:
    url = put_model(s3, "transform/model.tar.gz", model_archive(seed=0))
    sagemaker.create_model(
        ModelName="transform-model",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": PYTORCH_IMAGE, "ModelDataUrl": url},
    )
    return "transform-model"


def wait_transform(sagemaker: Any, name: str, timeout_s: float = 180) -> dict[str, Any]:
    read = partial(sagemaker.describe_transform_job, TransformJobName=name)
    return poll(
        read,
        lambda got: got["TransformJobStatus"] not in ("InProgress", "Stopping"),
        lambda got: f"transform job {name} still {got['TransformJobStatus']}",
        timeout_s,
        0.5,
    )


def job(name: str, model: str, prefix: str, **extra: Any) -> dict[str, Any]:
    transform_input = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": prefix}},
        "ContentType": "text/csv",
        "SplitType": "Line",
        **extra.pop("TransformInput", {}),
    }
    return {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": transform_input,
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/transform-out/{name}"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    }


def read(s3: Any, key: str) -> str:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


@pytest.mark.slow
def test_a_batch_transform_writes_one_out_per_input_with_the_model_s_predictions(
    s3: Any, sagemaker: Any, cloud: Any, model: str, test_images: np.ndarray, expected: list[int]
) -> None:
    s3.put_object(Bucket=BUCKET, Key="transform-in/csv/a.csv", Body=csv(test_images[:3]))
    s3.put_object(Bucket=BUCKET, Key="transform-in/csv/more/b.csv", Body=csv(test_images[3:]))
    request = job(
        "transform-csv",
        model,
        f"s3://{BUCKET}/transform-in/csv",
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
    )
    request["TransformOutput"].update(Accept="text/csv", AssembleWith="Line")
    sagemaker.create_transform_job(**request)

    done = wait_transform(sagemaker, "transform-csv")

    assert done["TransformJobStatus"] == "Completed", done.get("FailureReason")
    assert done["TransformStartTime"] <= done["TransformEndTime"]
    out = "transform-out/transform-csv"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=out)["Contents"]
    assert sorted(o["Key"] for o in listed) == [f"{out}/a.csv.out", f"{out}/more/b.csv.out"]
    lines = (
        read(s3, f"{out}/a.csv.out").splitlines() + read(s3, f"{out}/more/b.csv.out").splitlines()
    )
    assert [int(line.split(",")[0]) for line in lines] == expected
    assert all(len(line.split(",")) == 11 for line in lines)  # label, 10 probabilities
    logs = cloud.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TransformJobs")
    names = [s["logStreamName"] for s in streams["logStreams"]]
    assert any(n.startswith("transform-csv/") for n in names)


@pytest.mark.slow
def test_filters_and_join_source_keep_each_record_s_id_beside_its_prediction(
    s3: Any, sagemaker: Any, model: str, test_images: np.ndarray, expected: list[int]
) -> None:
    lines = [
        json.dumps({"id": f"img-{i}", "pixels": image.astype(int).tolist()})
        for i, image in enumerate(test_images[:2])
    ]
    s3.put_object(Bucket=BUCKET, Key="transform-in/json/x.jsonl", Body="\n".join(lines))
    request = job(
        "transform-join",
        model,
        f"s3://{BUCKET}/transform-in/json/",
        TransformInput={"ContentType": "application/json"},
        BatchStrategy="SingleRecord",
        DataProcessing={
            "InputFilter": "$.pixels",
            "JoinSource": "Input",
            "OutputFilter": "$['id','SageMakerOutput']",
        },
    )
    request["TransformOutput"].update(Accept="application/json", AssembleWith="Line")
    sagemaker.create_transform_job(**request)

    done = wait_transform(sagemaker, "transform-join")

    assert done["TransformJobStatus"] == "Completed", done.get("FailureReason")
    rows = [
        json.loads(line)
        for line in read(s3, "transform-out/transform-join/x.jsonl.out").splitlines()
    ]
    assert [r["id"] for r in rows] == ["img-0", "img-1"]
    assert [r["SageMakerOutput"]["predictions"][0]["label"] for r in rows] == expected[:2]
    assert all(set(r) == {"id", "SageMakerOutput"} for r in rows)


@pytest.mark.slow
def test_a_model_that_refuses_the_input_fails_the_job_with_the_reason(
    s3: Any, sagemaker: Any, model: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key="transform-in/bad/x.txt", Body=b"not pixels")
    request = job(
        "transform-bad",
        model,
        f"s3://{BUCKET}/transform-in/bad",
        TransformInput={"ContentType": "text/plain", "SplitType": "None"},
    )
    sagemaker.create_transform_job(**request)

    done = wait_transform(sagemaker, "transform-bad")

    assert done["TransformJobStatus"] == "Failed"
    assert "415" in done["FailureReason"] and "x.txt" in done["FailureReason"]
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="transform-out/transform-bad")


@pytest.fixture(scope="module")
def slow_model(s3: Any, sagemaker: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose every request takes an hour, and the file it writes when one arrives."""
    marker = tmp_path_factory.mktemp("slow") / "predicting"
    script = f"""
import pathlib, time
def model_fn(model_dir):
    return None
def transform_fn(model, body, content_type, accept):
    pathlib.Path({str(marker)!r}).write_text("in flight")
    time.sleep(3600)
"""
    url = put_model(s3, "transform/slow/model.tar.gz", model_archive(script))
    sagemaker.create_model(
        ModelName="transform-slow",
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": PYTORCH_IMAGE, "ModelDataUrl": url},
    )
    s3.put_object(Bucket=BUCKET, Key="transform-in/slow/x.csv", Body=b"1,2,3\n")
    return marker


@pytest.mark.slow
def test_stop_ends_a_request_in_flight_and_the_job_ends_stopped(
    s3: Any, sagemaker: Any, slow_model: Path
) -> None:
    slow_model.unlink(missing_ok=True)
    sagemaker.create_transform_job(
        **job("transform-slow", "transform-slow", f"s3://{BUCKET}/transform-in/slow")
    )
    poll(slow_model.exists, bool, lambda _: "the request never reached the model", 120, 0.2)

    sagemaker.stop_transform_job(TransformJobName="transform-slow")
    stopping = sagemaker.describe_transform_job(TransformJobName="transform-slow")
    assert stopping["TransformJobStatus"] in ("Stopping", "Stopped")
    # The request sleeps for an hour: only a stop that ends it ends the job within the wait.
    done = wait_transform(sagemaker, "transform-slow", timeout_s=60)

    assert done["TransformJobStatus"] == "Stopped"
    assert "FailureReason" not in done
    written = s3.list_objects_v2(Bucket=BUCKET, Prefix="transform-out/transform-slow")
    assert "Contents" not in written


@pytest.mark.slow
def test_a_request_past_the_invocation_timeout_fails_the_job_after_its_retries(
    sagemaker: Any, slow_model: Path
) -> None:
    sagemaker.create_transform_job(
        **job(
            "transform-timeout",
            "transform-slow",
            f"s3://{BUCKET}/transform-in/slow",
            ModelClientConfig={"InvocationsTimeoutInSeconds": 1, "InvocationsMaxRetries": 1},
        )
    )

    done = wait_transform(sagemaker, "transform-timeout", timeout_s=120)

    assert done["TransformJobStatus"] == "Failed"
    assert "within InvocationsTimeoutInSeconds (1 s), 2 attempt(s)" in done["FailureReason"]
    assert "x.csv" in done["FailureReason"]


def test_what_the_cloud_does_not_run_is_refused_before_it_is_recorded(
    sagemaker: Any, model: str
) -> None:
    request = job(
        "transform-recordio",
        model,
        f"s3://{BUCKET}/transform-in/csv",
        TransformInput={"SplitType": "RecordIO"},
    )
    with pytest.raises(ClientError) as raised:
        sagemaker.create_transform_job(**request)
    assert raised.value.response["Error"]["Code"] == "NotImplementedException"
    assert "SplitType RecordIO" in raised.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_transform_job(TransformJobName="transform-recordio")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as no_model:
        sagemaker.create_transform_job(**job("transform-nomodel", "no-such-model", "s3://x/y"))
    assert "Could not find model 'no-such-model'" in no_model.value.response["Error"]["Message"]


def test_multirecord_packs_records_up_to_the_payload_limit() -> None:
    items = [b"a" * 400_000, b"b" * 400_000, b"c" * 400_000]
    assert [len(b) for b in batches(items, "MultiRecord", 1024 * 1024)] == [2, 1]
    assert [len(b) for b in batches(items, "SingleRecord", 1024 * 1024)] == [1, 1, 1]
    with pytest.raises(TransformError, match="larger than MaxPayloadInMB"):
        list(batches([b"x" * 2_000_000], "MultiRecord", 1024 * 1024))


def test_filters_select_json_members_and_array_items() -> None:
    record = {"id": 7, "features": [1, 2, 3], "label": 1}
    assert select(record, "$.features[1:]") == [2, 3]
    assert select(record, "$['id','label']") == {"id": 7, "label": 1}
    assert select([5, 6, 7], "$[0,2]") == [5, 7]
    with pytest.raises(TransformError, match="does not apply"):
        select(record, "$.missing")
