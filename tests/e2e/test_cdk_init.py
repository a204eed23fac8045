"""An app as a new user writes it: `cdk init app --language python` (the CLI's own template,
left as it is but for the stack module and the app command), a stack with an S3 bucket, an IAM
role, the model as an `aws_s3_assets.Asset` and the L1 SageMaker model, endpoint config and
serverless endpoint, with the DEFAULT synthesizer: `cdk bootstrap`, then `cdk deploy` with the
CLI's defaults (assets published through the bootstrap's roles, change sets through its deploy
role), the endpoint invoked, `cdk destroy`, and the bootstrap stack deleted."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np

from localcloud.shared.processes import processes_under
from tests.helpers import ROOT
from tests.helpers.e2e import Cloud, run
from tests.helpers.models import model_archive

CDK = str(ROOT / "node_modules" / ".bin" / "cdk")
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
STACK = "EndpointAppStack"
STACK_MODULE = f'''from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct


class {STACK}(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        bucket = s3.Bucket(self, "Data", removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(
            self, "ExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")
        )
        bucket.grant_read_write(role)
        model_data = s3_assets.Asset(self, "ModelData", path="model.tar.gz")
        model_data.grant_read(role)
        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image="{IMAGE}",
                model_data_url=model_data.s3_object_url,
                environment={{"SAGEMAKER_PROGRAM": "inference.py"}},
            ),
        )
        model.node.add_dependency(role)
        config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name="AllTraffic",
                    model_name=model.attr_model_name,
                    serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                        memory_size_in_mb=2048, max_concurrency=1
                    ),
                )
            ],
        )
        endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=config.attr_endpoint_config_name
        )
        CfnOutput(self, "EndpointName", value=endpoint.attr_endpoint_name)
'''


def _init_app(directory: Path, env: dict[str, str]) -> None:
    """`cdk init` in `directory`, then the stack module, the model and the app command."""
    run([CDK, "init", "app", "--language", "python", "--generate-only"], env, cwd=directory)
    module = directory / directory.name / f"{directory.name}_stack.py"
    assert module.exists(), sorted(p.name for p in directory.iterdir())
    module.write_text(STACK_MODULE)
    (directory / "model.tar.gz").write_bytes(model_archive())
    settings = json.loads((directory / "cdk.json").read_text())
    settings["app"] = f"{ROOT / '.venv' / 'bin' / 'python'} app.py"
    (directory / "cdk.json").write_text(json.dumps(settings, indent=2))


def _expected(archive: Path, images: np.ndarray) -> np.ndarray:
    """What the artifact's own handlers answer for `images`, run here."""
    from inference.inference import input_fn, model_fn, predict_fn

    model_dir = archive.parent / "model"
    with tarfile.open(archive) as tar:
        tar.extractall(model_dir, filter="data")
    data = input_fn(json.dumps(images.tolist()).encode(), "application/json")
    return predict_fn(data, model_fn(str(model_dir))).numpy()


def test_a_cdk_init_app_bootstraps_deploys_serves_and_destroys(
    cloud: Cloud, tmp_path: Path
) -> None:
    app = tmp_path / "endpoint_app"
    app.mkdir()
    _init_app(app, cloud.env)

    def cdk(*args: str) -> str:
        return run([CDK, *args], cloud.env, cwd=app).output  # type: ignore[attr-defined]

    cdk("synth", "--quiet")  # once: the commands below read the cloud assembly
    assert "Environment aws://123456789012/us-east-1 bootstrapped" in cdk(
        "bootstrap", "--app", "cdk.out"
    )
    deployed = cdk("deploy", "--app", "cdk.out", "--require-approval", "never")
    assert "Published ModelData" in deployed  # through the file publishing role

    cfn = cloud.client("cloudformation")
    (stack,) = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    endpoint = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["EndpointName"]
    sm = cloud.client("sagemaker")
    config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    variant = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"].startswith(
        "s3://cdk-hnb659fds-assets-123456789012-us-east-1/"
    )

    images = np.random.default_rng(0).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint,
        Body=json.dumps(images.tolist()),
        ContentType="application/json",
        Accept="application/json",
    )
    served = np.asarray([p["probabilities"] for p in json.load(answer["Body"])["predictions"]])
    np.testing.assert_allclose(served, _expected(app / "model.tar.gz", images), atol=1e-5)

    assert f"{STACK}: destroyed" in cdk("destroy", "--app", "cdk.out", "--force")
    assert endpoint not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    assert processes_under(cloud.state_dir / "endpoints") == []
    # The bootstrap stack goes too (its bucket is retained, as the template says), so the
    # session's other tests find only their own stacks.
    cfn.delete_stack(StackName="CDKToolkit")
    cfn.get_waiter("stack_delete_complete").wait(
        StackName="CDKToolkit", WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    summaries = cfn.list_stacks()["StackSummaries"]
    live = {s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"}
    assert {STACK, "CDKToolkit"}.isdisjoint(live)
