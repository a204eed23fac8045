"""What SageMaker refuses before it records anything: a name already taken (ResourceInUse or
ValidationException, as AWS answers each kind) and an instance type AWS does not offer (while
today's types, absent from moto's own lists, are accepted). Through
boto3 on the package's local cloud; the kinds whose jobs other rooms run are checked on a plain
moto backend with the same function the cloud calls."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.sagemaker.models import SageMakerModelBackend

from localcloud.services.sagemaker.names import check_request
from localcloud.services.sagemaker.validation import check_unique
from localcloud.shared.errors import ResourceInUse, SageMakerValidation
from tests.helpers.cloud import BUCKET, PYTORCH_IMAGE, ROLE_ARN, training_request

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = err.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def _model(sagemaker: Any, name: str, url: str = f"s3://{BUCKET}/m.tar.gz") -> None:
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": PYTORCH_IMAGE, "ModelDataUrl": url},
    )


def _variant(model: str) -> dict[str, Any]:
    return {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.xlarge",
    }


def test_a_duplicate_training_job_name_is_resource_in_use(sagemaker: Any, s3: Any) -> None:
    # The sourcedir does not exist: the first job fails at once, its name stays taken.
    request = training_request("dup-job", f"s3://{BUCKET}/none.tar.gz", f"s3://{BUCKET}/none")
    sagemaker.create_training_job(**request)
    with pytest.raises(ClientError) as err:
        sagemaker.create_training_job(**request)
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/dup-job"
    assert _error(err) == (
        "ResourceInUse",
        400,
        "Training job names must be unique within an AWS account and region, and a training "
        f"job with this name already exists ({arn})",
    )


def test_a_duplicate_model_is_refused_and_the_first_is_kept(sagemaker: Any) -> None:
    _model(sagemaker, "dup-model", f"s3://{BUCKET}/first.tar.gz")
    with pytest.raises(ClientError) as err:
        _model(sagemaker, "dup-model", f"s3://{BUCKET}/second.tar.gz")
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/dup-model"
    assert _error(err) == (
        "ValidationException",
        400,
        f'Cannot create already existing model "{arn}".',
    )
    kept = sagemaker.describe_model(ModelName="dup-model")["PrimaryContainer"]
    assert kept["ModelDataUrl"] == f"s3://{BUCKET}/first.tar.gz"


def test_a_duplicate_endpoint_config_and_model_package_group_are_refused(sagemaker: Any) -> None:
    _model(sagemaker, "dup-config-model")
    variant = _variant("dup-config-model")
    sagemaker.create_endpoint_config(EndpointConfigName="dup-config", ProductionVariants=[variant])
    with pytest.raises(ClientError, match="Cannot create already existing endpoint configuration"):
        sagemaker.create_endpoint_config(
            EndpointConfigName="dup-config", ProductionVariants=[variant]
        )
    sagemaker.create_model_package_group(ModelPackageGroupName="dup-group")
    with pytest.raises(ClientError) as err:
        sagemaker.create_model_package_group(ModelPackageGroupName="dup-group")
    assert _error(err)[:2] == ("ValidationException", 400)
    assert "model-package-group/dup-group" in _error(err)[2]


def test_a_duplicate_endpoint_is_refused_and_the_first_is_kept(sagemaker: Any) -> None:
    # The model's data does not exist: the first endpoint fails at once, its name stays taken.
    _model(sagemaker, "dup-endpoint", f"s3://{BUCKET}/none.tar.gz")
    for config in ("dup-endpoint", "dup-endpoint-2"):
        sagemaker.create_endpoint_config(
            EndpointConfigName=config, ProductionVariants=[_variant("dup-endpoint")]
        )
    sagemaker.create_endpoint(EndpointName="dup-endpoint", EndpointConfigName="dup-endpoint")
    with pytest.raises(ClientError) as err:
        sagemaker.create_endpoint(EndpointName="dup-endpoint", EndpointConfigName="dup-endpoint-2")
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/dup-endpoint"
    assert _error(err) == (
        "ValidationException",
        400,
        f'Cannot create already existing endpoint "{arn}".',
    )
    kept = sagemaker.describe_endpoint(EndpointName="dup-endpoint")
    assert kept["EndpointConfigName"] == "dup-endpoint"
    sagemaker.delete_endpoint(EndpointName="dup-endpoint")


def test_an_unknown_training_instance_type_is_refused_and_nothing_runs(sagemaker: Any) -> None:
    request = training_request("fake-type", f"s3://{BUCKET}/x.tar.gz", f"s3://{BUCKET}/x")
    request["ResourceConfig"]["InstanceType"] = "ml.fake.xlarge"
    with pytest.raises(ClientError) as err:
        sagemaker.create_training_job(**request)
    code, status, message = _error(err)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(
        "1 validation error detected: Value 'ml.fake.xlarge' at 'resourceConfig.instanceType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [ml."
    )
    assert "ml.m5.xlarge" in message
    with pytest.raises(ClientError, match=r"Could not find|does not exist|not found"):
        sagemaker.describe_training_job(TrainingJobName="fake-type")


def test_unknown_instance_types_of_endpoint_configs_processing_and_transform(
    sagemaker: Any,
) -> None:
    variants = [
        {
            "VariantName": name,
            "ModelName": "any",
            "InitialInstanceCount": 1,
            "InstanceType": instance_type,
        }
        for name, instance_type in (("a", "ml.m5.xlarge"), ("b", "ml.fake.xlarge"))
    ]
    with pytest.raises(ClientError, match=r"at 'productionVariants\.2\.member\.instanceType'"):
        sagemaker.create_endpoint_config(
            EndpointConfigName="fake-type", ProductionVariants=variants
        )
    with pytest.raises(ClientError, match=r"at 'processingResources\.clusterConfig\.instanceType'"):
        sagemaker.create_processing_job(
            ProcessingJobName="fake-type",
            RoleArn=ROLE_ARN,
            AppSpecification={"ImageUri": PYTORCH_IMAGE},
            ProcessingResources={
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.fake.xlarge",
                    "VolumeSizeInGB": 1,
                }
            },
        )
    with pytest.raises(ClientError, match=r"at 'transformResources\.instanceType'"):
        sagemaker.create_transform_job(
            TransformJobName="fake-type",
            ModelName="any",
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/i"}}
            },
            TransformOutput={"S3OutputPath": "s3://b/o"},
            TransformResources={"InstanceType": "ml.fake.xlarge", "InstanceCount": 1},
        )


@pytest.mark.parametrize(
    ("action", "member", "create"),
    [
        (
            "CreateProcessingJob",
            "ProcessingJobName",
            lambda b: b.create_processing_job(
                app_specification={"ImageUri": PYTORCH_IMAGE},
                experiment_config=None,
                network_config=None,
                processing_inputs=[],
                processing_job_name="taken",
                processing_output_config={},
                role_arn=ROLE_ARN,
                stopping_condition=None,
                tags=[],
            ),
        ),
        (
            "CreateTransformJob",
            "TransformJobName",
            lambda b: b.create_transform_job(
                transform_job_name="taken",
                model_name="m",
                max_concurrent_transforms=None,
                model_client_config=None,
                max_payload_in_mb=None,
                batch_strategy=None,
                environment=None,
                transform_input={},
                transform_output={"S3OutputPath": "s3://b/o"},
                data_capture_config=None,
                transform_resources={},
                data_processing=None,
                tags=[],
                experiment_config=None,
            ),
        ),
    ],
)
def test_duplicate_job_names_of_other_kinds_are_resource_in_use(
    action: str, member: str, create: Any
) -> None:
    backend = SageMakerModelBackend("us-east-1", ACCOUNT)
    check_unique(action, {member: "taken"}, backend)  # free: no error
    create(backend)
    with pytest.raises(ResourceInUse, match=r"names must be unique .* already exists \(arn:"):
        check_unique(action, {member: "taken"}, backend)


def test_instance_types_of_tuning_job_definitions_are_checked() -> None:
    params = {
        "HyperParameterTuningJobName": "t",
        "TrainingJobDefinition": {"ResourceConfig": {"InstanceType": "ml.fake.xlarge"}},
    }
    path = r"'trainingJobDefinition\.resourceConfig\.instanceType'"
    with pytest.raises(SageMakerValidation, match=path):
        check_request("CreateHyperParameterTuningJob", params)
    params["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] = "ml.c5.xlarge"
    with pytest.raises(SageMakerValidation) as err:  # the required members are missing
        check_request("CreateHyperParameterTuningJob", params)
    assert "instanceType" not in str(err.value)


def test_today_s_instance_types_are_accepted_for_endpoints(sagemaker: Any) -> None:
    # moto's own list (2023) refused ml.g5.* and newer for endpoints; botocore's model decides.
    _model(sagemaker, "g5-model")
    types = ["ml.g5.xlarge", "ml.g6.xlarge", "ml.inf2.xlarge", "ml.m7i.large", "ml.p5.48xlarge"]
    variants = [
        {
            "VariantName": f"v{i}",
            "ModelName": "g5-model",
            "InitialInstanceCount": 1,
            "InstanceType": instance_type,
        }
        for i, instance_type in enumerate(types)
    ]
    sagemaker.create_endpoint_config(EndpointConfigName="g5-config", ProductionVariants=variants)
    described = sagemaker.describe_endpoint_config(EndpointConfigName="g5-config")
    assert [v["InstanceType"] for v in described["ProductionVariants"]] == types


def _race(create: Any, count: int = 8) -> list[str]:
    """`create()` from `count` threads at once; each one's outcome: "ok" or the error code."""
    barrier = threading.Barrier(count)

    def attempt() -> str:
        barrier.wait()
        try:
            create()
        except ClientError as err:
            return err.response["Error"]["Code"]
        return "ok"

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: attempt(), range(count)))


def test_simultaneous_creates_of_one_name_make_exactly_one(cloud: Any) -> None:
    # Clients of their own: botocore clients are not shared across threads.
    clients = [cloud.client("sagemaker") for _ in range(8)]
    model = iter(clients)
    outcomes = _race(
        lambda: next(model).create_model(
            ModelName="raced-model",
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={"Image": PYTORCH_IMAGE},
        )
    )
    assert sorted(outcomes) == ["ValidationException"] * 7 + ["ok"]

    job = iter(clients)
    request = {
        "ProcessingJobName": "raced-job",
        "RoleArn": ROLE_ARN,
        "AppSpecification": {"ImageUri": PYTORCH_IMAGE, "ContainerEntrypoint": ["true"]},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 1,
            }
        },
    }
    outcomes = _race(lambda: next(job).create_processing_job(**request))
    assert sorted(outcomes) == ["ResourceInUse"] * 7 + ["ok"]
