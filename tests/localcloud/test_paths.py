"""Nothing leaves its folder, through boto3: malicious sourcedirs, models and channel keys fail
the job or endpoint with a reason naming the member, compression bombs with a reason naming the
archive and leave nothing on disk, and traversal names get SageMaker's ValidationException
before the cloud builds a folder from them."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.archives import MIB, zeros_archive
from tests.helpers.cloud import (
    BUCKET,
    PYTORCH_IMAGE,
    ROLE_ARN,
    create_model_and_config,
    put_model,
    training_request,
    upload_sourcedir,
    wait_endpoint,
    wait_job,
)

pytestmark = pytest.mark.slow

ACCOUNT_REGION = ("123456789012", "us-east-1")
QUICK = "print('trained', flush=True)\n"


def escaping_archive(dest: Path, files: dict[str, bytes]) -> bytes:
    """The CVE-2025-4517 shape for an archive unpacked into `dest`: symlinks whose expansion
    passes PATH_MAX (so Python 3.11.7's `data` filter stops checking), a link `escape` to the
    parent of `dest`, and `escape/newfile` written through it; then `files`."""
    steps = "abcdefghijklmnop"
    component = "d" * ((os.pathconf("/", "PC_PATH_MAX") - len(str(dest)) - 1) // (len(steps) + 1))
    out = io.BytesIO()

    def add(name: str, kind: bytes, linkname: str = "", data: bytes = b"") -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, linkname, len(data)
        tar.addfile(info, io.BytesIO(data) if data else None)

    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            add(name, tarfile.REGTYPE, data=data)
        path = ""
        for step in steps:
            add(os.path.join(path, component), tarfile.DIRTYPE)
            add(os.path.join(path, step), tarfile.SYMTYPE, component)
            path = os.path.join(path, component)
        linkpath = os.path.join(*steps, "l" * 254)
        add(linkpath, tarfile.SYMTYPE, os.path.join(*[".."] * len(steps)))
        add("escape", tarfile.SYMTYPE, os.path.join(linkpath, ".."))
        add("escape/newfile", tarfile.REGTYPE, data=b"new")
    return out.getvalue()


def job_dir(cloud: Any, name: str) -> Path:
    return cloud.state_dir.joinpath("jobs", *ACCOUNT_REGION, name)


def validation_error(caught: pytest.ExceptionInfo[ClientError]) -> str:
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Error"]["Message"]


def test_a_malicious_sourcedir_fails_the_job_and_writes_nothing_outside(
    cloud: Any, sagemaker: Any, s3: Any, training_inputs: str
) -> None:
    name = "evil-sourcedir"
    archive = escaping_archive(
        job_dir(cloud, name) / "shared" / "code", {"quick.py": QUICK.encode()}
    )
    s3.put_object(Bucket=BUCKET, Key="code/evil/sourcedir.tar.gz", Body=archive)
    sourcedir = f"s3://{BUCKET}/code/evil/sourcedir.tar.gz"
    sagemaker.create_training_job(
        **training_request(name, sourcedir, training_inputs, program="quick.py")
    )
    job = wait_job(sagemaker, name, timeout_s=120)
    assert job["TrainingJobStatus"] == "Failed"
    assert f"sourcedir {sourcedir} cannot be unpacked: member 'a/b/c/" in job["FailureReason"]
    assert "goes through the symbolic link 'a'" in job["FailureReason"]
    assert not (job_dir(cloud, name) / "shared" / "newfile").exists()
    assert not job_dir(cloud, name).exists()  # a failed job leaves nothing behind


def test_a_malicious_model_fails_the_endpoint_and_writes_nothing_outside(
    cloud: Any, sagemaker: Any, s3: Any
) -> None:
    name = "evil-model"
    endpoint_dir = cloud.state_dir.joinpath("endpoints", *ACCOUNT_REGION, name)
    archive = escaping_archive(endpoint_dir / "1" / "model", {"model.pth": b"weights"})
    url = put_model(s3, "models/evil/model.tar.gz", archive)
    create_model_and_config(sagemaker, name, url)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    described = wait_endpoint(sagemaker, name)
    assert described["EndpointStatus"] == "Failed"
    assert (
        f"the model data {url} cannot be unpacked: member 'a/b/c/" in (described["FailureReason"])
    )
    assert not (endpoint_dir / "1" / "newfile").exists()
    assert not (endpoint_dir / "1" / "AllTraffic" / "model").exists()
    sagemaker.delete_endpoint(EndpointName=name)


def test_a_channel_key_with_dot_dot_fails_the_job(
    cloud: Any, sagemaker: Any, s3: Any, tmp_path: Path
) -> None:
    name = "evil-channel"
    key = "data/evil/../../../../escaped.txt"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"owned")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="data/evil/")["Contents"]
    assert [o["Key"] for o in listed] == [key]  # S3 keeps the key as sent
    script = tmp_path / "quick.py"
    script.write_text(QUICK)
    sourcedir = upload_sourcedir(s3, "code/quick/sourcedir.tar.gz", {"quick.py": script})
    request = training_request(name, sourcedir, f"s3://{BUCKET}/data/evil", program="quick.py")
    sagemaker.create_training_job(**request)
    job = wait_job(sagemaker, name, timeout_s=120)
    assert job["TrainingJobStatus"] == "Failed"
    assert (
        f"key s3://{BUCKET}/{key} with relative path '../../../../escaped.txt'"
        in (job["FailureReason"])
    )
    assert "has a '..' component" in job["FailureReason"]
    assert not list(cloud.state_dir.rglob("escaped.txt"))


def test_a_sourcedir_folder_with_a_symlink_loop_is_copied_as_a_link_and_runs(
    cloud: Any, sagemaker: Any, training_inputs: str, tmp_path: Path
) -> None:
    name = "loop-sourcedir"
    source = tmp_path / "src"
    source.mkdir()
    (source / "quick.py").write_text(QUICK)
    (source / "loop").symlink_to(".")  # inside the tree, as AWS's tar keeps it
    started = time.monotonic()
    request = training_request(name, f"s3://{BUCKET}/unused", training_inputs, program="quick.py")
    # A local sourcedir folder: the local cloud takes one, the spec (S3 only) does not.
    request["HyperParameters"]["sagemaker_submit_directory"] = json.dumps(f"file://{source}")
    sagemaker.create_training_job(**request)
    job = wait_job(sagemaker, name, timeout_s=60)
    print(f"loop job ended {job['TrainingJobStatus']} after {time.monotonic() - started:.2f} s")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert not job_dir(cloud, name).exists()  # the instances go when the job ends


def tree_bytes(root: Path) -> int:
    """The bytes of the files under `root` (folders and links not counted)."""
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_a_gigabyte_of_zeros_as_a_sourcedir_fails_the_job_naming_it_and_leaves_nothing(
    cloud: Any, sagemaker: Any, s3: Any, training_inputs: str
) -> None:
    name = "zeros-sourcedir"
    bomb = zeros_archive(1024 * MIB)  # the audit's archive: 1 GiB of zeros in about 1 MB
    s3.put_object(Bucket=BUCKET, Key="code/zeros/sourcedir.tar.gz", Body=bomb)
    sourcedir = f"s3://{BUCKET}/code/zeros/sourcedir.tar.gz"
    before = tree_bytes(cloud.state_dir)
    sagemaker.create_training_job(**training_request(name, sourcedir, training_inputs))
    job = wait_job(sagemaker, name, timeout_s=120)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        f"ClientError: sourcedir {sourcedir} cannot be unpacked: member 'zeros.bin' takes the "
        f"unpacked size past {100 * len(bomb)} bytes, 100 times the archive's {len(bomb)} bytes"
    )
    assert not job_dir(cloud, name).exists()
    grown = tree_bytes(cloud.state_dir) - before
    print(f"state dir grew by {grown} bytes")
    assert grown < 16 * MIB  # its logs and records, not the gigabyte


def test_a_gigabyte_of_zeros_as_a_model_fails_the_endpoint_naming_it_and_leaves_nothing(
    cloud: Any, sagemaker: Any, s3: Any
) -> None:
    name = "zeros-model"
    endpoint_dir = cloud.state_dir.joinpath("endpoints", *ACCOUNT_REGION, name)
    bomb = zeros_archive(1024 * MIB)
    url = put_model(s3, "models/zeros/model.tar.gz", bomb)
    create_model_and_config(sagemaker, name, url)
    before = tree_bytes(cloud.state_dir)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    described = wait_endpoint(sagemaker, name)
    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"].startswith(
        f"the model data {url} cannot be unpacked: member 'zeros.bin' takes the unpacked size "
        f"past {100 * len(bomb)} bytes, 100 times the archive's {len(bomb)} bytes"
    )
    assert tree_bytes(endpoint_dir) == 0
    grown = tree_bytes(cloud.state_dir) - before
    print(f"state dir grew by {grown} bytes")
    assert grown < 16 * MIB
    sagemaker.delete_endpoint(EndpointName=name)


@pytest.mark.parametrize("name", ["../x", "../../victim/keepme", "..", "a_b", "-a", "a" * 64])
def test_a_traversal_or_invalid_job_name_is_refused(
    cloud: Any, sagemaker: Any, mnist_sourcedir: str, name: str
) -> None:
    jobs = cloud.state_dir / "jobs"
    before = sorted(jobs.rglob("*"))
    request = training_request("valid-name", mnist_sourcedir, f"s3://{BUCKET}/data/mnist")
    request["TrainingJobName"] = name  # the spec refuses it: this test sends it anyway
    with pytest.raises(ClientError) as caught:
        sagemaker.create_training_job(**request)
    at = f"Value '{name}' at 'trainingJobName' failed to satisfy constraint: Member must"
    pattern = f"{at} satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}"
    expected = (
        f"2 validation errors detected: {at} have length less than or equal to 63; {pattern}"
        if len(name) > 63
        else f"1 validation error detected: {pattern}"
    )
    assert validation_error(caught) == expected
    assert sorted(jobs.rglob("*")) == before
    with pytest.raises(ClientError):
        sagemaker.describe_training_job(TrainingJobName=name)


def test_a_dot_dot_channel_name_is_refused(
    cloud: Any, sagemaker: Any, mnist_sourcedir: str
) -> None:
    request = training_request("dotdot-channel", mnist_sourcedir, f"s3://{BUCKET}/data/mnist")
    request["InputDataConfig"][0]["ChannelName"] = ".."
    with pytest.raises(ClientError) as caught:
        sagemaker.create_training_job(**request)
    assert "name '..' cannot be a folder name" in validation_error(caught)
    assert not job_dir(cloud, "dotdot-channel").exists()
    with pytest.raises(ClientError):
        sagemaker.describe_training_job(TrainingJobName="dotdot-channel")


def test_traversal_endpoint_names_are_refused_and_remove_nothing(
    cloud: Any, sagemaker: Any, s3: Any
) -> None:
    endpoints = cloud.state_dir / "endpoints"
    for folder in (endpoints, endpoints / "keep"):  # private, as the cloud makes its own
        folder.mkdir(mode=0o700, exist_ok=True)
    before = sorted(endpoints.rglob("*"))
    config = "paths-config"
    url = put_model(s3, "models/paths/model.tar.gz", b"not used")
    create_model_and_config(sagemaker, config, url)
    calls = {
        "CreateEndpoint": lambda n: sagemaker.create_endpoint(
            EndpointName=n, EndpointConfigName=config
        ),
        "UpdateEndpoint": lambda n: sagemaker.update_endpoint(
            EndpointName=n, EndpointConfigName=config
        ),
        "DeleteEndpoint": lambda n: sagemaker.delete_endpoint(EndpointName=n),
    }
    for operation, call in calls.items():
        for name in ("..", "../123456789012", "."):
            with pytest.raises(ClientError) as caught:
                call(name)
            assert validation_error(caught) == (
                f"1 validation error detected: Value '{name}' at 'endpointName' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
            ), operation
    after = sorted(endpoints.rglob("*"))
    assert set(before) <= set(after)
    assert (endpoints / "keep").is_dir()


def test_invalid_model_and_config_names_are_refused(sagemaker: Any) -> None:
    container = {"Image": PYTORCH_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}
    with pytest.raises(ClientError) as caught:
        sagemaker.create_model(
            ModelName="../model", ExecutionRoleArn=ROLE_ARN, PrimaryContainer=container
        )
    assert validation_error(caught) == (
        "1 validation error detected: Value '../model' at 'modelName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?"
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1}
    with pytest.raises(ClientError) as caught:
        sagemaker.create_endpoint_config(EndpointConfigName="a/b", ProductionVariants=[variant])
    assert "Value 'a/b' at 'endpointConfigName' failed to satisfy constraint" in (
        validation_error(caught)
    )
