"""The SageMaker Model Registry in step with git, on a real moto server: pin registers a
version (PendingManualApproval), promote records each environment on it and approves it in
prod, status reports a registry that disagrees with git; all read back through boto3."""

from __future__ import annotations

from datetime import UTC, datetime

from smlocal.core.environments import load_all
from smlocal.core.registry import (
    MODEL_PACKAGE_GROUP,
    disagreements,
    record_promotion,
    register,
    register_quietly,
)
from smlocal.gitops.promote import SilentReporter, promote
from tests.helpers.gitops import DEV_BUCKET, commit, deploy, train

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def test_pin_registers_one_pending_version_per_model(cloud, repo):
    sm = cloud.dev.client("sagemaker")
    pin = train(cloud, repo, "mnist-1", b"model one", JAN, accuracy=0.93)
    dev = load_all(repo)["dev"]

    assert disagreements(sm, dev) == [
        f"registry: {MODEL_PACKAGE_GROUP} has no version of sha256 {pin.sha256[:12]} that git pins"
    ]
    line = register_quietly(sm, dev, pin)
    assert line == (
        f"registered as version 1 of model package group {MODEL_PACKAGE_GROUP} "
        "(PendingManualApproval)"
    )
    assert register(sm, dev, pin).number == 1  # again: the same version, not a new one

    (summary,) = sm.list_model_packages(ModelPackageGroupName=MODEL_PACKAGE_GROUP)[
        "ModelPackageSummaryList"
    ]
    described = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelPackageDescription"] == f"sha256 {pin.sha256}"
    (container,) = described["InferenceSpecification"]["Containers"]
    assert container == {"Image": dev.image_uri, "ModelDataUrl": pin.model_data_url}
    assert described["CustomerMetadataProperties"] == {
        "sha256": pin.sha256,
        "model_data_url": f"s3://{DEV_BUCKET}/mnist-1/output/model.tar.gz",
        "pinned_in": "dev",
        "training_job": "mnist-1",
        "metric:test_accuracy": "0.93",
        "metric:test_loss": "0.07",
    }
    assert disagreements(sm, dev) == []

    other = train(cloud, repo, "mnist-2", b"model two", JAN)
    assert register(sm, load_all(repo)["dev"], other).number == 2


def test_promote_records_each_environment_and_approves_in_prod(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"model one", JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    register(cloud.dev.client("sagemaker"), load_all(repo)["dev"], pin)

    reporter = SilentReporter()
    promote("dev", "staging", envdir=repo, reporter=reporter)
    commit(repo.parent, "staging: promote")
    # staging and prod live in the other account: the version is registered there
    sm = cloud.other.client("sagemaker")
    staging, prod = load_all(repo)["staging"], load_all(repo)["prod"]
    assert reporter.messages[-1] == (
        f"registry: version 1 of {MODEL_PACKAGE_GROUP} records staging (PendingManualApproval)"
    )
    assert disagreements(sm, staging) == []
    assert disagreements(sm, prod) == []  # prod pins nothing yet

    promote("staging", "prod", envdir=repo, skip_endpoint_check=True, reporter=reporter)
    prod = load_all(repo)["prod"]
    (summary,) = sm.list_model_packages(ModelPackageGroupName=MODEL_PACKAGE_GROUP)[
        "ModelPackageSummaryList"
    ]
    described = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    assert described["ModelApprovalStatus"] == "Approved"
    metadata = described["CustomerMetadataProperties"]
    assert {"env:staging", "env:prod"} <= set(metadata)
    assert metadata["sha256"] == pin.sha256
    assert disagreements(sm, prod) == []


def test_status_reports_a_registry_that_disagrees_with_git(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"model one", JAN)
    sm = cloud.dev.client("sagemaker")
    dev = load_all(repo)["dev"]
    prod_like = dev.model_copy(update={"name": "prod"})
    version = record_promotion(sm, dev, pin)
    # git pins it in "prod" but the registry never approved it there
    assert disagreements(sm, prod_like) == [
        f"registry: version {version.number} does not record prod",
        f"registry: version {version.number} is PendingManualApproval, but git pins it in prod",
    ]
    record_promotion(sm, prod_like, pin)
    assert disagreements(sm, prod_like) == []
