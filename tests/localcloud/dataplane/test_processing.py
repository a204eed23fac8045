"""Processing jobs on the local cloud, through boto3: the entry point runs with this Python,
its inputs downloaded to the `/opt/ml/processing` paths it was told (rewritten under the job's
folder), sharded by key across instances, its outputs uploaded; the output feeds a training
job; a script that fails fails the job with its exit and message."""

from __future__ import annotations

import io
import json
from functools import partial
from typing import Any

import numpy as np
import pytest

from tests.helpers.cloud import BUCKET, ROLE_ARN, poll, training_request, wait_job

pytestmark = pytest.mark.slow

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
# A user's preprocessing script: raw npz in, the MNIST IDX files a training channel holds out.
PREPROCESS = """
import argparse, gzip, json, os, struct, sys
from pathlib import Path
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--raw")
p.add_argument("--shards")
p.add_argument("--config")
args = p.parse_args()
out = Path(os.environ["OUT_DIR"])
host = json.loads((Path(args.config) / "resourceconfig.json").read_text())["current_host"]
shards = sorted(f.name for f in Path(args.shards).iterdir())
(out / "shards").mkdir(parents=True, exist_ok=True)
(out / "shards" / f"{host}.json").write_text(json.dumps(shards))
if host != "algo-1":
    sys.exit(0)

def idx(array):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.tobytes())

raw = np.load(Path(args.raw) / "digits.npz")
for split in ("train", "t10k"):
    (out / "train" / f"{split}-images-idx3-ubyte.gz").parent.mkdir(parents=True, exist_ok=True)
    (out / "train" / f"{split}-images-idx3-ubyte.gz").write_bytes(idx(raw[f"{split}_images"]))
    (out / "train" / f"{split}-labels-idx1-ubyte.gz").write_bytes(idx(raw[f"{split}_labels"]))
print("wrote the training channel from", args.raw)
"""
FAILING = """
from pathlib import Path
import sys
Path(sys.argv[1]).write_text("the raw data has no header row")
print("giving up", file=sys.stderr)
sys.exit(3)
"""


def wait_processing(sagemaker: Any, name: str, timeout_s: float = 180) -> dict[str, Any]:
    read = partial(sagemaker.describe_processing_job, ProcessingJobName=name)
    return poll(
        read,
        lambda got: got["ProcessingJobStatus"] not in ("InProgress", "Stopping"),
        lambda got: f"processing job {name} still {got['ProcessingJobStatus']}",
        timeout_s,
        0.5,
    )


def s3_input(name: str, uri: str, local: str, **extra: Any) -> dict[str, Any]:
    s3 = {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"}
    return {"InputName": name, "S3Input": {**s3, **extra}}


def request(name: str, script_uri: str, instances: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "ProcessingJobName": name,
        "RoleArn": ROLE_ARN,
        "AppSpecification": {
            "ImageUri": IMAGE,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/script.py"],
            **extra.pop("AppSpecification", {}),
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": instances,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 1,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        **extra,
    }


def put_script(s3: Any, key: str, text: str) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode())
    return f"s3://{BUCKET}/{key.rsplit('/', 1)[0]}"


def test_a_processing_job_s_output_feeds_a_training_job(
    s3: Any, sagemaker: Any, cloud: Any, mnist_sourcedir: str
) -> None:
    from training.data import digits_splits

    splits = digits_splits()
    buffer = io.BytesIO()
    np.savez(
        buffer,
        train_images=splits["train"][0][:200],
        train_labels=splits["train"][1][:200],
        t10k_images=splits["test"][0][:50],
        t10k_labels=splits["test"][1][:50],
    )
    s3.put_object(Bucket=BUCKET, Key="processing/raw/digits.npz", Body=buffer.getvalue())
    for i in range(4):
        s3.put_object(Bucket=BUCKET, Key=f"processing/shards/part-{i}.txt", Body=b"x")
    code = put_script(s3, "processing/code/script.py", PREPROCESS)
    out = f"s3://{BUCKET}/processing/out"
    sagemaker.create_processing_job(
        **request(
            "preprocess",
            code,
            instances=2,
            AppSpecification={
                "ContainerArguments": [
                    "--raw=/opt/ml/processing/input/raw",
                    "--shards",
                    "/opt/ml/processing/input/shards",
                    "--config",
                    "/opt/ml/config",
                ]
            },
            Environment={"OUT_DIR": "/opt/ml/processing/output"},
            ProcessingInputs=[
                s3_input("code", code, "/opt/ml/processing/input/code"),
                s3_input("raw", f"s3://{BUCKET}/processing/raw", "/opt/ml/processing/input/raw"),
                s3_input(
                    "shards",
                    f"s3://{BUCKET}/processing/shards",
                    "/opt/ml/processing/input/shards",
                    S3DataDistributionType="ShardedByS3Key",
                ),
            ],
            ProcessingOutputConfig={
                "Outputs": [
                    {
                        "OutputName": "out",
                        "S3Output": {
                            "S3Uri": out,
                            "LocalPath": "/opt/ml/processing/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        )
    )

    done = wait_processing(sagemaker, "preprocess")

    assert done["ProcessingJobStatus"] == "Completed", done.get("FailureReason")
    assert done["ProcessingStartTime"] <= done["ProcessingEndTime"]
    assert done["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2

    def shards(host: str) -> list[str]:
        key = f"processing/out/shards/{host}.json"
        return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    assert shards("algo-1") == ["part-0.txt", "part-2.txt"]
    assert shards("algo-2") == ["part-1.txt", "part-3.txt"]
    streams = cloud.client("logs").describe_log_streams(
        logGroupName="/aws/sagemaker/ProcessingJobs", logStreamNamePrefix="preprocess/"
    )["logStreams"]
    assert len(streams) == 2

    train = training_request("trained-on-processed", mnist_sourcedir, f"{out}/train")
    sagemaker.create_training_job(**train)
    trained = wait_job(sagemaker, "trained-on-processed")
    assert trained["TrainingJobStatus"] == "Completed", trained.get("FailureReason")


def test_a_failing_script_fails_the_job_with_its_exit_and_message(s3: Any, sagemaker: Any) -> None:
    code = put_script(s3, "processing/failing/script.py", FAILING)
    sagemaker.create_processing_job(
        **request(
            "preprocess-fails",
            code,
            AppSpecification={"ContainerArguments": ["/opt/ml/output/message"]},
            ProcessingInputs=[s3_input("code", code, "/opt/ml/processing/input/code")],
        )
    )

    done = wait_processing(sagemaker, "preprocess-fails")

    assert done["ProcessingJobStatus"] == "Failed"
    assert "exited with code 3" in done["FailureReason"]
    assert "giving up" in done["FailureReason"]
    assert done["ExitMessage"] == "the raw data has no header row"


def test_a_stopped_job_ends_stopped_and_its_name_stays_taken(s3: Any, sagemaker: Any) -> None:
    from botocore.exceptions import ClientError

    code = put_script(s3, "processing/sleeping/script.py", "import time\ntime.sleep(300)\n")
    job = request(
        "preprocess-stopped",
        code,
        ProcessingInputs=[s3_input("code", code, "/opt/ml/processing/input/code")],
    )
    sagemaker.create_processing_job(**job)
    read = partial(sagemaker.describe_processing_job, ProcessingJobName="preprocess-stopped")
    poll(read, lambda got: "ProcessingStartTime" in got, lambda _: "never started", 120, 0.3)

    sagemaker.stop_processing_job(ProcessingJobName="preprocess-stopped")
    done = wait_processing(sagemaker, "preprocess-stopped")

    assert done["ProcessingJobStatus"] == "Stopped"
    with pytest.raises(ClientError) as again:
        sagemaker.create_processing_job(**job)
    assert again.value.response["Error"]["Code"] == "ResourceInUse"


def test_max_runtime_stops_the_job_as_aws_does(s3: Any, sagemaker: Any, cloud: Any) -> None:
    code = put_script(s3, "processing/overrun/script.py", "import time\ntime.sleep(300)\n")
    sagemaker.create_processing_job(
        **request(
            "preprocess-overrun",
            code,
            ProcessingInputs=[s3_input("code", code, "/opt/ml/processing/input/code")],
            StoppingCondition={"MaxRuntimeInSeconds": 2},
        )
    )

    done = wait_processing(sagemaker, "preprocess-overrun", timeout_s=120)

    # AWS ends such a job Stopped with no FailureReason; the job's log says why.
    assert done["ProcessingJobStatus"] == "Stopped"
    assert "FailureReason" not in done
    events = cloud.client("logs").filter_log_events(
        logGroupName="/aws/sagemaker/ProcessingJobs", logStreamNamePrefix="preprocess-overrun/"
    )["events"]
    assert any("MaxRuntimeInSeconds (2 s)" in e["message"] for e in events)
