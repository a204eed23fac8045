"""An app as a new user writes it: `cdk init app --language python` (the CLI's own template,
left as it is but for the stack module and the app command), with the DEFAULT synthesizer,
bootstrapped once (`cdk bootstrap`; the bootstrap stack is deleted at the end):
- a stack with an S3 bucket, an IAM role, the model as an `aws_s3_assets.Asset` and the L1
  SageMaker model, endpoint config and serverless endpoint: `cdk deploy` with the CLI's
  defaults (assets published through the bootstrap's roles, change sets through its deploy
  role), the endpoint invoked, `cdk destroy`;
- a stack with a container image asset (`DockerImageAsset`): refused with one line naming the
  limitation (the cloud has no Docker engine and no registry).
The app is synthesized once; each command reads its cloud assembly (`--app cdk.out`)."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from localcloud.shared.processes import processes_under
from tests.helpers import ROOT
from tests.helpers.e2e import Cloud, run
from tests.helpers.models import model_archive

CDK = str(ROOT / "node_modules" / ".bin" / "cdk")
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
STACK = "EndpointAppStack"
IMAGE_STACK = "ImageAssetStack"
STACK_MODULE = f'''from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
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


class {IMAGE_STACK}(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        ecr_assets.DockerImageAsset(self, "Image", directory="image")
'''


def _init_app(directory: Path, env: dict[str, str]) -> None:
    """`cdk init` in `directory`, then the stack module, the model and the app command."""
    run([CDK, "init", "app", "--language", "python", "--generate-only"], env, cwd=directory)
    module = directory / directory.name / f"{directory.name}_stack.py"
    assert module.exists(), sorted(p.name for p in directory.iterdir())
    module.write_text(STACK_MODULE)
    entry = directory / "app.py"
    stack_import = f"from {directory.name}.{directory.name}_stack import"
    text = entry.read_text().replace(
        f"{stack_import} {STACK}", f"{stack_import} {STACK}, {IMAGE_STACK}"
    )
    entry.write_text(
        text.replace("app.synth()", f'{IMAGE_STACK}(app, "{IMAGE_STACK}")\napp.synth()')
    )
    (directory / "image").mkdir()
    (directory / "image" / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
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


@dataclass(frozen=True)
class App:
    """The app's folder and the CDK CLI run in it with the cloud's environment."""

    path: Path
    env: dict[str, str]

    def cdk(self, *args: str, check: bool = True) -> str:
        """The command's output (stdout and stderr); a failure fails the test unless not
        `check`."""
        proc = run([CDK, *args, "--app", "cdk.out"], self.env, cwd=self.path, check=check)
        return proc.output  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def app(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The app, synthesized once and bootstrapped; the bootstrap stack deleted after (its
    bucket is retained, as its template says), so the session's other tests find only their
    own stacks."""
    path = tmp_path_factory.mktemp("init") / "endpoint_app"
    path.mkdir()
    _init_app(path, cloud.env)
    made = App(path, cloud.env)
    run([CDK, "synth", "--quiet"], cloud.env, cwd=path)
    assert "Environment aws://123456789012/us-east-1 bootstrapped" in made.cdk("bootstrap")
    yield made
    cfn = cloud.client("cloudformation")
    cfn.delete_stack(StackName="CDKToolkit")
    cfn.get_waiter("stack_delete_complete").wait(
        StackName="CDKToolkit", WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def test_a_cdk_init_app_deploys_with_the_default_synthesizer_serves_and_destroys(
    cloud: Cloud, app: App
) -> None:
    deployed = app.cdk("deploy", STACK, "--require-approval", "never")
    assert "Published ModelData" in deployed  # through the bootstrap's file publishing role

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
    np.testing.assert_allclose(served, _expected(app.path / "model.tar.gz", images), atol=1e-5)

    assert f"{STACK}: destroyed" in app.cdk("destroy", STACK, "--force")
    assert endpoint not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    assert processes_under(cloud.state_dir / "endpoints") == []
    (gone,) = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == STACK]
    assert gone["StackStatus"] == "DELETE_COMPLETE"


def test_a_container_image_asset_is_refused_with_one_line_naming_why(
    cloud: Cloud, app: App
) -> None:
    refused = app.cdk("deploy", IMAGE_STACK, "--require-approval", "never", check=False)
    assert (
        "fail: The local cloud does not run ecr:GetAuthorizationToken (container image assets "
        "cannot be published to the local cloud: it has no Docker engine and no image registry"
    ) in refused
    names = {s["StackName"] for s in cloud.client("cloudformation").list_stacks()["StackSummaries"]}
    assert IMAGE_STACK not in names
