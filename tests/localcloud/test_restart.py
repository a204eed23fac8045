"""State survives a restart: objects byte-identical, IAM and stacks back, an endpoint that was
InService serves again, a job that was running is Failed with the reason. A cloud of its own."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from cloudkit import (
    BUCKET,
    create_model_and_config,
    model_archive,
    put_model,
    start_cloud,
    stop_cloud,
    training_request,
    upload_sourcedir,
    wait_endpoint,
)

pytestmark = pytest.mark.slow

STACK = """{"Resources": {"Topic": {"Type": "AWS::SSM::Parameter",
  "Properties": {"Name": "/smlocal/restart", "Type": "String", "Value": "kept"}}}}"""


def test_everything_comes_back_after_a_restart(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path / "state")
    big = os.urandom(10 * 1024 * 1024)
    try:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="big.bin", Body=big)
        cloud.client("iam").create_role(RoleName="SageMaker-local", AssumeRolePolicyDocument="{}")
        cloud.client("cloudformation").create_stack(StackName="kept", TemplateBody=STACK)
        sagemaker = cloud.client("sagemaker")
        url = put_model(s3, "models/m/model.tar.gz", model_archive())
        create_model_and_config(sagemaker, "m", url)
        sagemaker.create_endpoint(EndpointName="survivor", EndpointConfigName="m")
        assert wait_endpoint(sagemaker, "survivor")["EndpointStatus"] == "InService"
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
    finally:
        stop_cloud(cloud)

    cloud = start_cloud(cloud.state_dir)  # the same state dir, a new process and port
    try:
        s3 = cloud.client("s3")
        assert s3.get_object(Bucket=BUCKET, Key="big.bin")["Body"].read() == big
        assert cloud.client("iam").get_role(RoleName="SageMaker-local")["Role"]["RoleName"]
        stack = cloud.client("cloudformation").describe_stacks(StackName="kept")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        parameter = cloud.client("ssm").get_parameter(Name="/smlocal/restart")["Parameter"]
        assert parameter["Value"] == "kept"

        sagemaker = cloud.client("sagemaker")
        assert sagemaker.describe_endpoint(EndpointName="survivor")["EndpointStatus"] == "InService"
        answer = cloud.client("sagemaker-runtime").invoke_endpoint(
            EndpointName="survivor",
            Body=json.dumps([[[0.0] * 28] * 28]),
            ContentType="application/json",
        )
        assert len(json.loads(answer["Body"].read())["predictions"]) == 1

        job = sagemaker.describe_training_job(TrainingJobName="interrupted")
        assert job["TrainingJobStatus"] == "Failed"
        assert job["FailureReason"] == "the local cloud restarted while the job ran"
    finally:
        stop_cloud(cloud)
