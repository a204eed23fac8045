"""A SageMaker resource's ARN, written once (`localcloud.shared.arns`) for the authorizer, the
role check at create and the sessions of what runs: names lowercased as SageMaker writes them,
an ARN given for a name kept as it is."""

from __future__ import annotations

from localcloud.gateway.arns import checks
from localcloud.shared.arns import sagemaker_arn

ACCOUNT, REGION = "123456789012", "eu-west-1"


def test_a_name_is_lowercased_in_its_arn() -> None:
    assert sagemaker_arn("training-job", ACCOUNT, REGION, "Mnist-Run-7") == (
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/mnist-run-7"
    )


def test_an_arn_given_for_a_name_is_that_arn() -> None:
    arn = "arn:aws:sagemaker:us-east-1:111111111111:endpoint/Other"
    assert sagemaker_arn("endpoint", ACCOUNT, REGION, arn) == arn


def test_the_authorizer_names_the_resource_sagemaker_assumes_roles_for() -> None:
    """The resource IAM authorizes a CreateTrainingJob on is the `aws:SourceArn` SageMaker
    sends when it assumes the job's role: a trust scoped to one job admits that job."""
    [(action, arn)] = checks(
        "sagemaker", "CreateTrainingJob", {"TrainingJobName": "Mnist-Run-7"}, ACCOUNT, REGION
    )
    assert action == "sagemaker:CreateTrainingJob"
    assert arn == sagemaker_arn("training-job", ACCOUNT, REGION, "Mnist-Run-7")
