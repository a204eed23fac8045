"""State survives a restart: objects byte-identical, IAM and stacks back, an endpoint that was
InService serves again (one recorded before endpoints acted as their role too), in one
generation of work dirs, a job that was running is Failed with the reason, a deployment that was
under way is rolled back. Object bodies live as
files under the state dir, the snapshot holds metadata only: bodies and versions come back after
a restart or a kill -9, and bodies nothing refers to are deleted. Each test runs a cloud of its
own."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from localcloud import control
from localcloud.dataplane.rollout import RESTART_REASON
from tests.helpers.cloud import (
    ACCOUNT,
    BUCKET,
    ROLE_ARN,
    create_model_and_config,
    put_model,
    start_cloud,
    stop_cloud,
    training_request,
    upload_sourcedir,
    wait_endpoint,
)
from tests.helpers.models import model_archive

pytestmark = pytest.mark.slow

VERSIONED = "localcloud-versioned"
CANARY = {  # waits at its first step long past the restart
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": 3600,
        }
    }
}
STACK = """{"Resources": {"Topic": {"Type": "AWS::SSM::Parameter",
  "Properties": {"Name": "/smlocal/restart", "Type": "String", "Value": "kept"}}}}"""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bodies(state_dir: Path) -> set[str]:
    return {p.name for p in (state_dir / "objects").iterdir() if not p.name.startswith(".")}


def _metadata_bytes(state_dir: Path) -> bytes:
    """Every file of the state dir but the bodies and the server's log."""
    files = [p for p in state_dir.rglob("*") if p.is_file() and "objects" not in p.parts]
    return b"".join(p.read_bytes() for p in files if not p.name.endswith(".log"))


def test_bodies_and_versions_survive_a_restart_and_garbage_goes(tmp_path: Path) -> None:
    marker = os.urandom(16).hex().encode()
    big = marker + os.urandom(10 * 1024 * 1024)
    versions = [marker + f" version {n}".encode() for n in range(3)]
    replaced, deleted, kept = b"replaced " + marker, b"deleted " + marker, b"kept " + marker
    cloud = start_cloud(tmp_path / "state")
    try:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="big.bin", Body=big)
        s3.put_object(Bucket=BUCKET, Key="over", Body=replaced)
        s3.put_object(Bucket=BUCKET, Key="over", Body=kept)
        s3.put_object(Bucket=BUCKET, Key="gone", Body=deleted)
        s3.delete_object(Bucket=BUCKET, Key="gone")
        s3.create_bucket(Bucket=VERSIONED)
        s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        ids = [s3.put_object(Bucket=VERSIONED, Key="v", Body=v)["VersionId"] for v in versions]
        s3.delete_object(Bucket=VERSIONED, Key="v")  # a delete marker on top of the versions
        s3.put_object_acl(Bucket=BUCKET, Key="over", ACL="public-read")  # a change in place
        live = {_sha(big), _sha(kept), *map(_sha, versions)}
        assert _bodies(cloud.state_dir) == live  # replaced and deleted bodies are gone
        assert marker not in _metadata_bytes(cloud.state_dir)
    finally:
        stop_cloud(cloud)

    cloud = start_cloud(cloud.state_dir)
    try:
        s3 = cloud.client("s3")
        assert s3.get_object(Bucket=BUCKET, Key="big.bin")["Body"].read() == big
        assert s3.get_object(Bucket=BUCKET, Key="over")["Body"].read() == kept
        grants = s3.get_object_acl(Bucket=BUCKET, Key="over")["Grants"]
        assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in grants)
        listed = s3.list_object_versions(Bucket=VERSIONED, Prefix="v")
        assert sorted(v["VersionId"] for v in listed["Versions"]) == sorted(ids)
        assert [m["IsLatest"] for m in listed["DeleteMarkers"]] == [True]
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket=VERSIONED, Key="v")
        for version_id, body in zip(ids, versions, strict=True):
            got = s3.get_object(Bucket=VERSIONED, Key="v", VersionId=version_id)
            assert got["Body"].read() == body
        s3.delete_object(Bucket=BUCKET, Key="big.bin")
        assert _bodies(cloud.state_dir) == live - {_sha(big)}
        assert marker not in _metadata_bytes(cloud.state_dir)
    finally:
        stop_cloud(cloud)


def test_a_killed_cloud_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path / "state")
    body = os.urandom(256 * 1024)
    try:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="acknowledged", Body=body)
        record = control.read_record(cloud.state_dir)
        assert record is not None
        os.kill(record["pid"], signal.SIGKILL)  # no final snapshot, no cleanup
        deadline = time.monotonic() + 10
        while control.running(cloud.state_dir) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    except BaseException:
        stop_cloud(cloud)
        raise

    cloud = start_cloud(cloud.state_dir)
    try:
        s3 = cloud.client("s3")
        assert s3.get_object(Bucket=BUCKET, Key="acknowledged")["Body"].read() == body
    finally:
        stop_cloud(cloud)


def _generations(state_dir: Path, endpoint: str) -> list[str]:
    """The generation folders of an endpoint's work dirs."""
    folder = state_dir / "endpoints" / ACCOUNT / "us-east-1" / endpoint
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def _record(state_dir: Path, endpoint: str) -> Path:
    return state_dir / "endpoints" / ACCOUNT / "us-east-1" / endpoint / "current.json"


def test_everything_comes_back_after_a_restart(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path / "state")
    big = os.urandom(10 * 1024 * 1024)
    try:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="big.bin", Body=big)
        cloud.client("iam").create_role(RoleName="kept", AssumeRolePolicyDocument="{}")
        cloud.client("cloudformation").create_stack(StackName="kept", TemplateBody=STACK)
        sagemaker = cloud.client("sagemaker")
        url = put_model(s3, "models/m/model.tar.gz", model_archive())
        create_model_and_config(sagemaker, "m", url)
        sagemaker.create_endpoint(EndpointName="survivor", EndpointConfigName="m")
        sagemaker.create_endpoint(EndpointName="veteran", EndpointConfigName="m")
        assert wait_endpoint(sagemaker, "survivor")["EndpointStatus"] == "InService"
        assert wait_endpoint(sagemaker, "veteran")["EndpointStatus"] == "InService"
        create_model_and_config(sagemaker, "m2", url)
        sagemaker.update_endpoint(
            EndpointName="survivor", EndpointConfigName="m2", DeploymentConfig=CANARY
        )
        script = tmp_path / "sleepy.py"
        script.write_text("import time\ntime.sleep(300)\n")
        sourcedir = upload_sourcedir(s3, "code/sleepy.tar.gz", {"sleepy.py": script})
        request = training_request(
            "interrupted", sourcedir, f"s3://{BUCKET}/models/m", program="sleepy.py"
        )
        sagemaker.create_training_job(**request)
        deadline = time.monotonic() + 60
        while (
            sagemaker.describe_training_job(TrainingJobName="interrupted")["SecondaryStatus"]
            != "Training"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        while True:  # the canary takes its share of the traffic
            pending = sagemaker.describe_endpoint(EndpointName="survivor").get(
                "PendingDeploymentSummary", {}
            )
            steps = [v["VariantStatus"][0]["Status"] for v in pending.get("ProductionVariants", [])]
            if steps == ["ActivatingTraffic"]:
                break
            assert time.monotonic() < deadline, pending
            time.sleep(0.2)
    finally:
        stop_cloud(cloud)
    # What the cloud recorded before its endpoints acted as their role: no role in the record.
    record = json.loads(_record(cloud.state_dir, "veteran").read_text())
    for variant in record["variants"]:
        del variant["role_arn"]
    _record(cloud.state_dir, "veteran").write_text(json.dumps(record))

    cloud = start_cloud(cloud.state_dir)  # the same state dir, a new process and port
    try:
        s3 = cloud.client("s3")
        assert s3.get_object(Bucket=BUCKET, Key="big.bin")["Body"].read() == big
        assert cloud.client("iam").get_role(RoleName="kept")["Role"]["RoleName"]
        stack = cloud.client("cloudformation").describe_stacks(StackName="kept")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        parameter = cloud.client("ssm").get_parameter(Name="/smlocal/restart")["Parameter"]
        assert parameter["Value"] == "kept"

        sagemaker = cloud.client("sagemaker")
        survivor = sagemaker.describe_endpoint(EndpointName="survivor")
        assert survivor["EndpointStatus"] == "InService"
        # The canary the restart cut short is rolled back, and says so.
        assert survivor["EndpointConfigName"] == "m"
        assert "PendingDeploymentSummary" not in survivor
        assert survivor["FailureReason"] == RESTART_REASON.format(
            target=" to endpoint configuration m2", config="m"
        )
        answer = cloud.client("sagemaker-runtime").invoke_endpoint(
            EndpointName="survivor",
            Body=json.dumps([[[0.0] * 28] * 28]),
            ContentType="application/json",
        )
        assert len(json.loads(answer["Body"].read())["predictions"]) == 1

        veteran = sagemaker.describe_endpoint(EndpointName="veteran")
        assert veteran["EndpointStatus"] == "InService", veteran.get("FailureReason")
        answer = cloud.client("sagemaker-runtime").invoke_endpoint(
            EndpointName="veteran",
            Body=json.dumps([[[0.0] * 28] * 28]),
            ContentType="application/json",
        )
        assert len(json.loads(answer["Body"].read())["predictions"]) == 1
        record = json.loads(_record(cloud.state_dir, "veteran").read_text())
        assert [v["role_arn"] for v in record["variants"]] == [ROLE_ARN]  # its model's
        # The generation the restart started serves; those before it left nothing behind.
        for endpoint in ("survivor", "veteran"):
            record = json.loads(_record(cloud.state_dir, endpoint).read_text())
            assert _generations(cloud.state_dir, endpoint) == [str(record["generation"])]

        job = sagemaker.describe_training_job(TrainingJobName="interrupted")
        assert job["TrainingJobStatus"] == "Failed"
        assert job["FailureReason"] == "the local cloud restarted while the job ran"
    finally:
        stop_cloud(cloud)
