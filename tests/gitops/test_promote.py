"""`promote` against a real moto server: dev (one account) → staging (another account)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from moto.sagemaker.models import sagemaker_backends
from typer.testing import CliRunner

from smlocal.cli import app
from smlocal.core import files, pins
from smlocal.core.errors import UserError
from smlocal.gitops import checks
from smlocal.gitops.artifacts import ArtifactError, promoted_key
from smlocal.gitops.checks import CheckFailed
from smlocal.gitops.git import GitError
from smlocal.gitops.promote import SilentReporter, promote
from smlocal.gitops.sessions import CredentialsError
from tests.helpers.gitops import (
    DEV_ACCOUNT,
    DEV_BUCKET,
    DEV_REGION,
    OTHER_BUCKET,
    commit,
    deploy,
    git,
    pin_of,
    train,
)

JAN, FEB = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
# over the 8 MiB multipart threshold, so the managed copy goes part by part
BIG = bytes(range(256)) * (9 * 4096)


def test_promotes_dev_to_staging_across_accounts(cloud, repo):
    pin = train(cloud, repo, "mnist-1", BIG, JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    source_commit = git(repo.parent, "rev-parse", "HEAD").strip()
    reporter = SilentReporter()

    change = promote("dev", "staging", envdir=repo, reporter=reporter)

    key = promoted_key(pin.sha256)
    assert change.copy == "server-side"
    assert change.model_data_url == f"s3://{OTHER_BUCKET}/{key}"
    copied = cloud.other.client("s3").get_object(Bucket=OTHER_BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(copied).hexdigest() == pin.sha256
    # the copy lives in the other account: the dev account does not own that bucket
    dev_buckets = [b["Name"] for b in cloud.dev.client("s3").list_buckets()["Buckets"]]
    assert OTHER_BUCKET not in dev_buckets

    staged = pin_of(repo, "staging")
    assert staged.model_data_url == change.model_data_url
    assert (staged.sha256, staged.training_job, staged.metrics) == (
        pin.sha256,
        "mnist-1",
        pin.metrics,
    )
    assert staged.pinned_at == JAN
    assert staged.promotion is not None
    assert staged.promotion.promoted_from == "dev"
    assert staged.promotion.source_model_data_url == pin.model_data_url
    assert staged.promotion.source_commit == source_commit
    assert staged.promotion.skipped_checks == []
    assert "+  model_data_url: s3://" + OTHER_BUCKET in change.diff
    assert "-model: {}" in change.diff
    assert change.diff.startswith("--- a/environments/staging.yaml")
    # comments of the manifest survive, and only staging changed (nothing is committed)
    assert "# Desired state of staging" in (repo / "staging.yaml").read_text()
    assert git(repo.parent, "status", "--porcelain").split() == ["M", "environments/staging.yaml"]
    assert any("InService and serves the pinned model" in m for m in reporter.messages)


def test_promoting_the_same_model_again_changes_nothing(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"weights", JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    promote("dev", "staging", envdir=repo)
    commit(repo.parent, "staging: promote mnist-1")
    before = (repo / "staging.yaml").read_text()
    change = promote("dev", "staging", envdir=repo)
    assert not change.changed
    assert (repo / "staging.yaml").read_text() == before


def test_refuses_a_missing_artifact(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"weights", JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    cloud.dev.client("s3").delete_object(Bucket=DEV_BUCKET, Key="mnist-1/output/model.tar.gz")
    with pytest.raises(ArtifactError, match=r"dev\.yaml: model: model artifact .* does not exist"):
        promote("dev", "staging", envdir=repo)
    assert not pin_of(repo, "staging").is_set


def test_refuses_a_sha256_mismatch(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"weights", JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    s3 = cloud.dev.client("s3")
    s3.put_object(Bucket=DEV_BUCKET, Key="mnist-1/output/model.tar.gz", Body=b"tampered")
    with pytest.raises(ArtifactError, match=f"but the manifest pins {pin.sha256}"):
        promote("dev", "staging", envdir=repo)
    assert not pin_of(repo, "staging").is_set


def test_refuses_when_the_source_endpoint_is_not_deployed(cloud, repo):
    train(cloud, repo, "mnist-1", b"weights", JAN)
    with pytest.raises(CheckFailed, match="stack SageMakerEndpoint-dev is not deployed"):
        promote("dev", "staging", envdir=repo)


def test_refuses_when_the_source_endpoint_is_not_in_service(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"weights", JAN)
    endpoint = deploy(cloud.dev, "dev", pin.model_data_url)
    # moto makes every endpoint InService at once; a failed deployment is set on its backend
    sagemaker_backends[DEV_ACCOUNT][DEV_REGION].endpoints[endpoint].endpoint_status = "Failed"
    with pytest.raises(CheckFailed, match=f"endpoint {endpoint} is Failed, not InService"):
        promote("dev", "staging", envdir=repo)
    assert not pin_of(repo, "staging").is_set


def test_refuses_when_the_source_endpoint_serves_another_model(cloud, repo):
    old = train(cloud, repo, "mnist-1", b"old weights", JAN)
    deploy(cloud.dev, "dev", old.model_data_url)  # deployed before the new pin
    new = train(cloud, repo, "mnist-2", b"new weights", FEB)
    with pytest.raises(CheckFailed, match=f"serves {old.model_data_url}, not the pinned"):
        promote("dev", "staging", envdir=repo)
    # the check can be skipped, and the skip is recorded in the pin
    change = promote("dev", "staging", envdir=repo, skip_endpoint_check=True)
    staged = pin_of(repo, "staging")
    assert staged.sha256 == new.sha256
    assert staged.promotion is not None
    assert staged.promotion.skipped_checks == [checks.ENDPOINT_CHECK]
    assert change.skipped_checks == (checks.ENDPOINT_CHECK,)


@pytest.mark.parametrize("edit", ["modified", "untracked"])
def test_refuses_a_dirty_target_manifest(cloud, repo, edit):
    pin = train(cloud, repo, "mnist-1", b"weights", JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    target = repo / "staging.yaml"
    if edit == "modified":
        target.write_text(target.read_text() + "# a local edit\n")
    else:
        git(repo.parent, "rm", "-q", "--cached", "environments/staging.yaml")
        git(repo.parent, "commit", "-q", "-m", "untrack staging")
    before = target.read_text()
    with pytest.raises(GitError, match=r"staging\.yaml: manifest has uncommitted changes"):
        promote("dev", "staging", envdir=repo)
    assert target.read_text() == before


def test_refuses_an_older_model_unless_rollback_is_allowed(cloud, repo):
    old = train(cloud, repo, "mnist-1", b"old weights", JAN)
    deploy(cloud.dev, "dev", old.model_data_url)
    new = train(cloud, repo, "mnist-2", b"new weights", FEB)
    promote("dev", "staging", envdir=repo, skip_endpoint_check=True)
    commit(repo.parent, "staging: promote mnist-2")
    # dev goes back to the older model; staging holds the newer one
    pins.write_pin(repo / "dev.yaml", old)
    commit(repo.parent, "dev: back to mnist-1")
    with pytest.raises(CheckFailed, match="pass --allow-rollback"):
        promote("dev", "staging", envdir=repo)
    assert pin_of(repo, "staging").sha256 == new.sha256

    promote("dev", "staging", envdir=repo, allow_rollback=True)
    staged = pin_of(repo, "staging")
    assert staged.sha256 == old.sha256
    assert staged.promotion is not None
    assert staged.promotion.skipped_checks == [checks.NEWER_MODEL_CHECK]


def test_refuses_credentials_for_the_wrong_account(cloud, repo, monkeypatch):
    pin = train(cloud, repo, "mnist-1", b"weights", JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    monkeypatch.delenv("SMLOCAL_STAGING_ROLE_ARN")
    with pytest.raises(CredentialsError, match="manifest account is 222222222222 but"):
        promote("dev", "staging", envdir=repo)


def test_refuses_when_the_source_has_no_pin(cloud, repo):
    with pytest.raises(UserError, match="dev has no model pinned"):
        promote("dev", "staging", envdir=repo)


def test_an_interrupted_promotion_leaves_the_manifest_and_a_retry_completes(
    cloud, repo, monkeypatch
):
    pin = train(cloud, repo, "mnist-1", BIG, JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    before = (repo / "staging.yaml").read_text()
    real_write = files.atomic_write_text

    def interrupted(path, text):
        raise KeyboardInterrupt  # as if ^C arrived right after the copy

    monkeypatch.setattr(files, "atomic_write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        promote("dev", "staging", envdir=repo)
    assert (repo / "staging.yaml").read_text() == before
    key = promoted_key(pin.sha256)
    assert cloud.other.client("s3").head_object(Bucket=OTHER_BUCKET, Key=key)

    monkeypatch.setattr(files, "atomic_write_text", real_write)
    reporter = SilentReporter()
    change = promote("dev", "staging", envdir=repo, reporter=reporter)
    assert change.copy == "reused"
    assert any("found a verified earlier copy" in m for m in reporter.messages)
    assert pin_of(repo, "staging").model_data_url == f"s3://{OTHER_BUCKET}/{key}"


def test_a_corrupt_earlier_copy_is_replaced(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"weights", JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    key = promoted_key(pin.sha256)
    cloud.other.client("s3").put_object(Bucket=OTHER_BUCKET, Key=key, Body=b"half a cop")
    change = promote("dev", "staging", envdir=repo)
    assert change.copy == "server-side"
    body = cloud.other.client("s3").get_object(Bucket=OTHER_BUCKET, Key=key)["Body"].read()
    assert body == b"weights"


def test_staging_to_prod_in_the_same_bucket_copies_nothing(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"weights", JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    promote("dev", "staging", envdir=repo)
    commit(repo.parent, "staging: promote mnist-1")
    deploy(cloud.other, "staging", pin_of(repo, "staging").model_data_url)
    change = promote("staging", "prod", envdir=repo)
    assert change.copy == "none"  # staging and prod share account, region and bucket
    prod = pin_of(repo, "prod")
    assert prod.model_data_url == pin_of(repo, "staging").model_data_url
    assert prod.promotion is not None and prod.promotion.promoted_from == "staging"


def test_cli_promote_prints_the_diff_and_refusals_exit_2(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"weights", JAN)
    runner = CliRunner()
    refused = runner.invoke(
        app, ["promote", "--from", "dev", "--to", "staging", "--yes", "--envdir", str(repo)]
    )
    assert isinstance(refused.exception, CheckFailed)
    deploy(cloud.dev, "dev", pin.model_data_url)
    no = runner.invoke(
        app, ["promote", "--from", "dev", "--to", "staging", "--envdir", str(repo)], input="n\n"
    )
    assert isinstance(no.exception, UserError) and "cancelled" in str(no.exception)
    assert not pin_of(repo, "staging").is_set
    ok = runner.invoke(
        app, ["promote", "--from", "dev", "--to", "staging", "--yes", "--envdir", str(repo)]
    )
    assert ok.exit_code == 0, ok.output
    assert "+++ b/environments/staging.yaml" in ok.output
    assert "pinned s3://" in ok.output
