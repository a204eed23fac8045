"""The container entrypoint contract (the SageMaker Python SDK v3's `ModelTrainer`): the request's
`ContainerEntrypoint` + `ContainerArguments` run a driver from the `sm_drivers` channel that
names `/opt/ml` literally; each host runs it in its own tree, with this machine's Python. The
SDK's own drivers run in tests/sdk/test_sdk3.py."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

from training.executor import run_training_job
from training.inputs import map_opt_ml

BUCKET = "sagemaker-us-east-1-123456789012"
ROLE = "arn:aws:iam::123456789012:role/SageMaker-local"

# A driver as the SDK's are written: fixed /opt/ml paths, `python3` from PATH, config files.
SM_TRAIN = """\
set -e
cd /opt/ml/input/data/code
python3 /opt/ml/input/data/sm_drivers/driver.py "$@"
"""
DRIVER = """\
import json, os, shutil, sys
config = json.load(open("/opt/ml/input/config/resourceconfig.json"))
hps = json.load(open("/opt/ml/input/config/hyperparameters.json"))
os.makedirs("/opt/ml/model", exist_ok=True)
with open("/opt/ml/model/seen.json", "w") as f:
    json.dump({"host": config["current_host"], "hosts": config["hosts"],
               "type": config["current_instance_type"], "hps": hps, "cwd": os.getcwd(),
               "python": sys.executable, "job": os.environ["TRAINING_JOB_NAME"]}, f)
shutil.copy("train.py", "/opt/ml/model/train.py")
"""


def _upload(s3: Any, prefix: str, files: dict[str, str]) -> str:
    for name, text in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{name}", Body=text.encode())
    return f"s3://{BUCKET}/{prefix}/"


def _channel(name: str, uri: str) -> dict[str, Any]:
    source = {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
    return {"ChannelName": name, "DataSource": {"S3DataSource": source}, "InputMode": "File"}


def test_map_opt_ml_maps_the_folder_only() -> None:
    root = Path("/w/algo-1")
    mapped = map_opt_ml("cd /opt/ml/input && ls /opt/ml", root)
    assert mapped == "cd /w/algo-1/input && ls /w/algo-1"
    assert map_opt_ml('"/opt/ml"', root) == '"/w/algo-1"'
    assert map_opt_ml("/opt/mlflow /opt/ml.bak /x/opt/mlx", root) == (
        "/opt/mlflow /opt/ml.bak /x/opt/mlx"
    )


def test_each_host_runs_the_drivers_in_its_own_tree(s3: Any, tmp_path: Path) -> None:
    drivers = _upload(s3, "entrypoint/sm_drivers", {"sm_train.sh": SM_TRAIN, "driver.py": DRIVER})
    code = _upload(s3, "entrypoint/code", {"train.py": "print('user code')\n"})
    request = {
        "TrainingJobName": "v3-contract",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {
            "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0",
            "TrainingInputMode": "File",
            "ContainerEntrypoint": ["/bin/bash"],
            "ContainerArguments": [
                "-c",
                "chmod +x /opt/ml/input/data/sm_drivers/sm_train.sh && "
                "/opt/ml/input/data/sm_drivers/sm_train.sh",
            ],
        },
        "HyperParameters": {"epochs": "1"},
        "InputDataConfig": [_channel("code", code), _channel("sm_drivers", drivers)],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/entrypoint/out"},
        "ResourceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    run = run_training_job(request, tmp_path, s3)
    assert run.status == "Completed", (run.failure_reason, run.logs)

    seen = {}
    for host in ("algo-1", "algo-2"):
        root = tmp_path / host
        seen[host] = json.loads((root / "model" / "seen.json").read_text())
        assert seen[host]["cwd"] == str(root / "input" / "data" / "code")
        # This machine's Python (the one running the executor), found on PATH as `python3`.
        assert Path(seen[host]["python"]).parent == Path(sys.executable).parent
        # Each host's copy of the drivers is its own; the shared download is untouched.
        assert str(root) in (root / "input" / "data" / "sm_drivers" / "sm_train.sh").read_text()
    assert "/opt/ml/" in (tmp_path / "shared" / "data" / "sm_drivers" / "sm_train.sh").read_text()
    assert seen["algo-1"]["host"] == "127.0.0.1" and seen["algo-2"]["host"] == "127.0.0.2"
    assert seen["algo-1"]["hosts"] == ["127.0.0.1", "127.0.0.2"]
    assert seen["algo-1"]["type"] == "ml.c5.xlarge" and seen["algo-1"]["hps"] == {"epochs": "1"}
    assert seen["algo-1"]["job"] == "v3-contract"

    # Host 1's model dir is the artifact, as in script mode.
    body = s3.get_object(Bucket=BUCKET, Key="entrypoint/out/v3-contract/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(body["Body"].read())) as tar:
        assert sorted(tar.getnames()) == ["seen.json", "train.py"]
        assert json.load(tar.extractfile("seen.json"))["host"] == "127.0.0.1"  # type: ignore[arg-type]
