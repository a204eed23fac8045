"""Script mode as the SageMaker training toolkit runs it: hyperparameters decoded, the user's
arguments, and a host's `SM_*` environment and config files."""

from __future__ import annotations

import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from training.scriptmode import (
    FetchError,
    decode_hyperparameters,
    fetch_prefix,
    fetch_sourcedir,
    host_environment,
    split_s3,
    user_args,
)
from training.spec import TrainingJobSpec


def test_decode_hyperparameters_json_decodes_and_keeps_other_strings() -> None:
    raw = {"epochs": "3", "lr": "0.01", "backend": '"gloo"', "name": "plain", "on": "true"}
    assert decode_hyperparameters(raw) == {
        "epochs": 3,
        "lr": 0.01,
        "backend": "gloo",
        "name": "plain",
        "on": True,
    }


def test_user_args_skip_the_toolkits_own_and_encode_structures() -> None:
    hps = {"epochs": 3, "sagemaker_program": "mnist.py", "layers": [1, 2], "on": True}
    assert user_args(hps) == ["--epochs", "3", "--layers", "[1, 2]", "--on", "True"]


def test_host_environment_writes_the_config_and_names_everything(tmp_path: Path) -> None:
    request = TrainingJobSpec(
        job_name="env-job",
        role_arn="arn:aws:iam::123456789012:role/SageMaker-local",
        image_uri="pytorch-training:2.5-cpu-py311",
        region="us-east-1",
        sourcedir_uri="s3://bucket/src.tar.gz",
        output_path="s3://bucket/output",
        channels={"training": "s3://bucket/data"},
        hyperparameters={"epochs": 1, "backend": "gloo"},
        instance_count=2,
    ).to_request()
    hps = decode_hyperparameters(request["HyperParameters"])
    env = host_environment(
        root=tmp_path,
        request=request,
        hyperparameters=hps,
        hosts=["algo-1", "algo-2"],
        current_host="algo-2",
        num_cpus=4,
        num_gpus=0,
        master_port=29500,
    )
    assert env["SM_CHANNEL_TRAINING"] == str(tmp_path / "input" / "data" / "training")
    assert env["SM_HP_EPOCHS"] == "1" and env["SM_HP_BACKEND"] == "gloo"
    assert json.loads(env["SM_USER_ARGS"]) == ["--epochs", "1", "--backend", "gloo"]
    assert env["SM_MODULE_NAME"] == "mnist"
    assert env["SM_MODULE_DIR"] == "s3://bucket/src.tar.gz"
    assert env["SM_IS_MASTER"] == "false" and env["MASTER_ADDR"] == "algo-1"
    assert env["MASTER_PORT"] == "29500" and env["TRAINING_JOB_NAME"] == "env-job"
    assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.c5.2xlarge"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["hyperparameters"] == {"epochs": 1, "backend": "gloo"}
    assert training_env["hosts"] == ["algo-1", "algo-2"]
    config = tmp_path / "input" / "config"
    resource = json.loads((config / "resourceconfig.json").read_text())
    # As SageMaker writes it; the SDK v3's drivers read current_instance_type.
    assert resource == {
        "current_host": "algo-2",
        "current_instance_type": "ml.c5.2xlarge",
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1", "algo-2"],
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "ml.c5.2xlarge",
                "hosts": ["algo-1", "algo-2"],
            }
        ],
        "network_interface_name": "lo",
    }
    assert json.loads((config / "inputdataconfig.json").read_text()) == {
        "training": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
    }
    assert json.loads((config / "hyperparameters.json").read_text()) == request["HyperParameters"]
    assert (tmp_path / "model").is_dir() and (tmp_path / "checkpoints").is_dir()


@pytest.fixture
def private_umask() -> Iterator[None]:
    """The cloud's umask (077) while the test runs."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def test_local_files_land_with_their_mode_narrowed_by_the_umask(
    tmp_path: Path, private_umask: None
) -> None:
    """A user's 0644 channel file or sourcedir archive copied in is 0600 under umask 077, as
    everything the cloud creates in its state dir (shutil.copy2 set the source's 0644 after)."""
    data = tmp_path / "train.csv"
    data.write_text("1,2\n")
    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    archive = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(script, arcname="train.py")
    for path in (data, archive):
        path.chmod(0o644)

    assert fetch_prefix(f"file://{data}", tmp_path / "job" / "data", None) == 1
    fetch_sourcedir(str(archive), tmp_path / "job" / "code", None)

    copied = [tmp_path / "job" / "data" / "train.csv", tmp_path / "job" / "sourcedir.tar.gz"]
    assert [stat.S_IMODE(p.stat().st_mode) for p in copied] == [0o600, 0o600]
    assert copied[0].read_text() == "1,2\n"
    assert (tmp_path / "job" / "code" / "train.py").read_text() == "print('hi')\n"


def test_an_s3_uri_keeps_its_whole_key() -> None:
    """`?` and `#` are characters of an S3 key, not a query or a fragment (the one splitter,
    `smlocal.core.s3uri`, as every room takes a URI apart)."""
    assert split_s3("s3://bucket/data/run#2/part?1.csv") == ("bucket", "data/run#2/part?1.csv")
    assert split_s3("s3://bucket") == ("bucket", "")
    with pytest.raises(FetchError, match="'file:///x' is not an s3:// URI"):
        split_s3("file:///x")
