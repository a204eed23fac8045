"""The local executor on real processes, with S3 served by a real moto server."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from inference.inference import Net
from smlocal.core.environments import ENVIRONMENTS_DIR, load_environment
from training.executor import TrainingRun, run_training_job
from training.pin import PinError, pin_description
from training.sourcedir import pack_sourcedir
from training.spec import TrainingJobSpec

# The default bucket of environments/dev.yaml (account 123456789012, us-east-1).
BUCKET = "sagemaker-us-east-1-123456789012"
IMAGE = "pytorch-training:2.6.0-cpu-py312"
ROLE = "arn:aws:iam::123456789012:role/SageMaker-local"


def _request(inputs: dict[str, str], job: str, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "job_name": job,
        "role_arn": ROLE,
        "image_uri": f"763104351884.dkr.ecr.us-east-1.amazonaws.com/{IMAGE}",
        "region": "us-east-1",
        "sourcedir_uri": inputs["sourcedir"],
        "output_path": inputs["output"],
        "channels": {"training": inputs["data"]},
    }
    return TrainingJobSpec(**(fields | overrides)).to_request()


def _two_hosts(inputs: dict[str, str], job: str, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return _request(inputs, job, instance_count=2, hyperparameters=hyperparameters)


def _upload_script(s3: Any, tmp_path: Path, name: str, source: str) -> str:
    script = tmp_path / name
    script.write_text(source)
    archive = pack_sourcedir(tmp_path / f"{name}.tar.gz", {name: script})
    s3.upload_file(str(archive), BUCKET, f"src/{name}.tar.gz")
    return f"s3://{BUCKET}/src/{name}.tar.gz"


def _processes_in_groups(pgids: set[int]) -> list[int]:
    """Live processes whose process group is one of `pgids` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp in pgids and state != "Z":
            found.append(int(entry.name))
    return found


def _keys(s3: Any, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


@pytest.mark.slow
def test_two_host_job_trains_uploads_and_pins(
    s3: Any, inputs: dict[str, str], tmp_path: Path
) -> None:
    request = _two_hosts(inputs, "mnist-two-hosts", {"epochs": 1, "seed": 3})
    run = run_training_job(request, tmp_path / "work", s3)

    assert run.status == "Completed", run.failure_reason
    assert [t["Status"] for t in run.secondary_status_transitions] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    # Both hosts joined one process group of two.
    assert any("rank=0 world_size=2 backend=gloo" in line for line in run.logs["algo-1"])
    assert any("rank=1 world_size=2 backend=gloo" in line for line in run.logs["algo-2"])

    assert run.model_artifact == f"{inputs['output']}/mnist-two-hosts/output/model.tar.gz"
    body = s3.get_object(Bucket=BUCKET, Key="training-jobs/mnist-two-hosts/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(body["Body"].read())) as tar:
        assert sorted(tar.getnames()) == ["code", "code/inference.py", "model.pth"]
        state = torch.load(tar.extractfile("model.pth"), weights_only=True)  # type: ignore[arg-type]
        served = tar.extractfile("code/inference.py").read()  # type: ignore[union-attr]
    Net().load_state_dict(state)  # a plain state_dict of the served network (no DDP prefix)
    assert served == Path("inference/inference.py").read_bytes()
    # The metrics JSON of SM_OUTPUT_DATA_DIR lands in output.tar.gz, as on SageMaker.
    assert "training-jobs/mnist-two-hosts/output/output.tar.gz" in _keys(s3, "training-jobs/")

    metrics = {m["MetricName"]: m["Value"] for m in run.final_metrics}
    assert set(metrics) == {"train_loss", "test_loss", "test_accuracy"}
    last = next(line for line in reversed(run.logs["algo-1"]) if "test_accuracy=" in line)
    assert f"test_accuracy={metrics['test_accuracy']:.4f}" in last
    assert 0.0 <= metrics["test_accuracy"] <= 1.0

    envdir = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, envdir)
    staging_before = (envdir / "staging.yaml").read_text()
    pin = pin_description("dev", run.describe(), s3_client=s3, envdir=envdir)
    env = load_environment(envdir / "dev.yaml")
    assert env.model == pin
    assert env.model.model_data_url == run.model_artifact
    assert env.model.sha256 == run.model_sha256
    assert env.model.training_job == "mnist-two-hosts"
    assert env.model.metrics == metrics
    assert env.model.image == request["AlgorithmSpecification"]["TrainingImage"]
    text = (envdir / "dev.yaml").read_text()
    assert text.startswith("# Desired state of the dev environment.")
    assert "# Serverless: pay per request" in text
    assert (envdir / "staging.yaml").read_text() == staging_before


@pytest.mark.slow
def test_killing_one_host_fails_the_job_and_leaves_nothing(
    s3: Any, inputs: dict[str, str], tmp_path: Path
) -> None:
    request = _two_hosts(inputs, "mnist-killed", {"epochs": 50, "log-interval": 1})
    second_host_training = threading.Event()

    def on_log(host: str, line: str) -> None:
        if host == "algo-2" and line.startswith("Train Epoch"):
            second_host_training.set()

    run = TrainingRun(request, work_dir=tmp_path / "work", s3_client=s3, on_log=on_log)
    run.start()
    assert second_host_training.wait(120), run.logs
    pids = run.pids
    os.kill(pids["algo-2"], signal.SIGKILL)
    assert run.wait(120)

    assert run.status == "Failed"
    assert run.failure_reason is not None
    assert "host algo-2 (127.0.0.2) was killed by SIGKILL" in run.failure_reason
    assert run.model_artifact is None
    assert _keys(s3, "training-jobs/mnist-killed/") == []
    assert _processes_in_groups(set(pids.values())) == []

    envdir = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, envdir)
    before = (envdir / "dev.yaml").read_bytes()
    with pytest.raises(PinError, match=r"training job mnist-killed is Failed .*killed by SIGKILL"):
        pin_description("dev", run.describe(), s3_client=s3, envdir=envdir)
    assert (envdir / "dev.yaml").read_bytes() == before


LOSS = ({"Name": "loss", "Regex": r"loss=([0-9.]+)"},)  # a MetricDefinitions of one

THIRD_PARTY_SCRIPT = """\
import argparse, json, os

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--optimizer", type=str, default="sgd")
parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
parser.add_argument("--hosts", type=list, default=json.loads(os.environ["SM_HOSTS"]))
parser.add_argument("--current-host", type=str, default=os.environ["SM_CURRENT_HOST"])
args, _ = parser.parse_known_args()

env = json.loads(os.environ["SM_TRAINING_ENV"])
files = sorted(os.listdir(args.train))
print(f"files={files} hosts={args.hosts} current={args.current_host}")
for epoch in range(args.epochs):
    print(f"epoch {epoch}: loss={1.0 / (epoch + 1):.3f}")
with open(os.path.join(args.model_dir, "model.json"), "w") as f:
    json.dump({"optimizer": args.optimizer,
               "user_args": json.loads(os.environ["SM_USER_ARGS"]),
               "hps": json.loads(os.environ["SM_HPS"]), "job": env["job_name"],
               "num_gpus": int(os.environ["SM_NUM_GPUS"]),
               "channels": os.environ["SM_CHANNELS"]}, f)
"""


def test_a_third_party_script_mode_script_runs_unmodified(
    s3: Any, inputs: dict[str, str], tmp_path: Path
) -> None:
    source = _upload_script(s3, tmp_path, "train.py", THIRD_PARTY_SCRIPT)
    request = _request(
        inputs,
        "third-party",
        sourcedir_uri=source,
        entry_point="train.py",
        channels={"train": inputs["data"]},
        hyperparameters={"epochs": 3, "optimizer": "adam"},
        metric_definitions=LOSS,
    )
    run = run_training_job(request, tmp_path / "work", s3)

    assert run.status == "Completed", run.failure_reason
    assert run.logs["algo-1"][0] == (
        "files=['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', "
        "'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'] "
        "hosts=['127.0.0.1'] current=127.0.0.1"
    )
    assert [(m["MetricName"], m["Value"]) for m in run.final_metrics] == [("loss", 0.333)]
    body = s3.get_object(Bucket=BUCKET, Key="training-jobs/third-party/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(body["Body"].read())) as tar:
        written = json.load(tar.extractfile("model.json"))  # type: ignore[arg-type]
    assert written == {
        "optimizer": "adam",
        "user_args": ["--epochs", "3", "--optimizer", "adam"],
        "hps": {"epochs": 3, "optimizer": "adam"},
        "job": "third-party",
        "num_gpus": 0,
        "channels": '["train"]',
    }


PER_HOST_LOSS = """\
import json, os
first = os.environ["SM_CURRENT_HOST"] == json.loads(os.environ["SM_HOSTS"])[0]
for step in range(3):
    print(f"step {step}: loss={(step + 1) / (10 if first else 1):.2f}")
"""


def test_on_metrics_hands_on_host_1_s_points_that_make_final_metrics(
    s3: Any, inputs: dict[str, str], tmp_path: Path
) -> None:
    source = _upload_script(s3, tmp_path, "loss.py", PER_HOST_LOSS)
    request = _request(
        inputs,
        "per-host-loss",
        sourcedir_uri=source,
        entry_point="loss.py",
        instance_count=2,
        metric_definitions=LOSS,
    )
    handed: list[dict[str, Any]] = []
    run = run_training_job(request, tmp_path / "work", s3, on_metrics=handed.extend)

    assert run.status == "Completed", run.failure_reason
    # Host 1's matches only (algo-2 logs 1.0, 2.0, 3.0), each once, as they were read.
    assert [(p["MetricName"], p["Value"]) for p in handed] == [
        ("loss", 0.1),
        ("loss", 0.2),
        ("loss", 0.3),
    ]
    # The last of them is FinalMetricDataList's, time and all: the lines were matched once.
    assert run.final_metrics == [handed[-1]]


def test_a_failing_script_fails_the_job_with_its_error(
    s3: Any, inputs: dict[str, str], tmp_path: Path
) -> None:
    source = _upload_script(
        s3,
        tmp_path,
        "broken.py",
        "import os\nprint('starting')\nraise ValueError('learning rate must be positive')\n",
    )
    request = _request(inputs, "broken", sourcedir_uri=source, entry_point="broken.py")
    run = run_training_job(request, tmp_path / "work", s3)

    assert run.status == run.secondary_status == "Failed"
    assert run.failure_reason is not None
    assert run.failure_reason.startswith(
        "AlgorithmError: ExecuteUserScriptError: host algo-1 (127.0.0.1) exited with code 1"
    )
    assert "ValueError: learning rate must be positive" in run.failure_reason
    # stdout and stderr are two pipes read side by side: their lines are not ordered between
    # each other, so the stdout line is only known to be somewhere in the host's log.
    assert "starting" in run.logs["algo-1"]
    assert _keys(s3, "training-jobs/broken/") == []
    assert run.describe()["FailureReason"] == run.failure_reason


SLEEPER = "import time\nprint('sleeping', flush=True)\ntime.sleep(600)\n"


def test_stop_terminates_every_host(s3: Any, inputs: dict[str, str], tmp_path: Path) -> None:
    source = _upload_script(s3, tmp_path, "sleep.py", SLEEPER)
    request = _request(
        inputs, "stopped", sourcedir_uri=source, entry_point="sleep.py", instance_count=3
    )
    sleeping = threading.Semaphore(0)
    run = TrainingRun(
        request,
        work_dir=tmp_path / "work",
        s3_client=s3,
        on_log=lambda host, line: sleeping.release(),
    )
    run.start()
    for _ in range(3):
        assert sleeping.acquire(timeout=60)
    pids = run.pids
    run.stop()
    assert run.status in ("Stopping", "Stopped")
    assert run.wait(60)
    assert (run.status, run.secondary_status) == ("Stopped", "Stopped")
    assert _processes_in_groups(set(pids.values())) == []
    # What host 1 left (nothing here) is still uploaded, where ModelArtifacts says, as on AWS.
    assert _keys(s3, "training-jobs/stopped/") == ["training-jobs/stopped/output/model.tar.gz"]
    assert run.model_artifact == f"s3://{BUCKET}/training-jobs/stopped/output/model.tar.gz"


def test_max_runtime_stops_the_job(s3: Any, inputs: dict[str, str], tmp_path: Path) -> None:
    source = _upload_script(s3, tmp_path, "sleep.py", SLEEPER)
    request = _request(
        inputs, "too-long", sourcedir_uri=source, entry_point="sleep.py", max_runtime_sec=1
    )
    run = run_training_job(request, tmp_path / "work", s3)
    assert (run.status, run.secondary_status) == ("Stopped", "MaxRuntimeExceeded")


def test_missing_inputs_fail_the_job_with_a_client_error(
    s3: Any, inputs: dict[str, str], tmp_path: Path
) -> None:
    request = _request(inputs, "no-data", channels={"training": f"s3://{BUCKET}/nothing-here/"})
    run = run_training_job(request, tmp_path / "work", s3)
    assert run.status == "Failed"
    assert run.failure_reason == f"ClientError: no objects under s3://{BUCKET}/nothing-here/"

    request = _request(inputs, "no-source", sourcedir_uri=f"s3://{BUCKET}/src/missing.tar.gz")
    run = run_training_job(request, tmp_path / "work2", s3)
    assert run.status == "Failed"
    assert run.failure_reason is not None
    assert run.failure_reason.startswith(
        f"ClientError: cannot read sourcedir s3://{BUCKET}/src/missing.tar.gz"
    )
