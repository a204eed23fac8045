"""history, rollback and diff: pins read back from git with the same manifest models."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from smlocal.cli import app
from smlocal.gitops.artifacts import ArtifactError
from smlocal.gitops.diffing import pin_diff
from smlocal.gitops.git import GitError
from smlocal.gitops.history import pin_history
from smlocal.gitops.promote import promote, rollback
from tests.helpers.gitops import OTHER_BUCKET, commit, deploy, pin_of, train

JAN, FEB = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def two_promotions(cloud, repo):
    """staging got mnist-1, then mnist-2; returns the two staging commits (oldest first)."""
    shas = []
    for job, payload, when, acc in (("mnist-1", b"one", JAN, 0.91), ("mnist-2", b"two", FEB, 0.97)):
        train(cloud, repo, job, payload, when, accuracy=acc)
        promote("dev", "staging", envdir=repo, skip_endpoint_check=True)
        shas.append(commit(repo.parent, f"staging: promote {job}"))
    return shas


def test_history_lists_pins_newest_first_with_metrics(repo, two_promotions):
    records = pin_history("staging", repo)
    assert [r.commit for r in records[:2]] == two_promotions[::-1]
    assert [r.pin.training_job for r in records[:2]] == ["mnist-2", "mnist-1"]
    assert records[0].pin.metrics["test_accuracy"] == 0.97
    assert not records[-1].pin.is_set  # the first commit had no model
    assert len(records) == 3
    # a commit that does not touch the pin is not a new entry
    (repo / "staging.yaml").write_text((repo / "staging.yaml").read_text() + "# note\n")
    commit(repo.parent, "staging: a comment")
    assert len(pin_history("staging", repo)) == 3


def test_history_cli_prints_a_table(repo, two_promotions):
    result = CliRunner().invoke(
        app, ["history", "--env", "staging", "--envdir", str(repo)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert two_promotions[1][:10] in result.output
    assert "test_accuracy=0.97" in result.output
    # each promoted model is a version of the registry in staging's account (issue 17)
    assert "│ 1 PendingManualApproval" in result.output
    assert "│ 2 PendingManualApproval" in result.output


def test_rollback_pins_an_earlier_model(cloud, repo, two_promotions):
    first = two_promotions[0]
    change = rollback("staging", first, envdir=repo)
    staged = pin_of(repo, "staging")
    assert staged.training_job == "mnist-1"
    assert staged.model_data_url.startswith(f"s3://{OTHER_BUCKET}/promoted/")
    assert staged.promotion.promoted_from == f"staging@{first[:12]}"
    assert staged.promotion.source_commit == first
    assert "-  training_job: mnist-2" in change.diff


def test_rollback_refuses_a_deleted_artifact_and_a_dirty_manifest(cloud, repo, two_promotions):
    first = two_promotions[0]
    url = pin_history("staging", repo)[1].pin.model_data_url
    cloud.other.client("s3").delete_object(Bucket=OTHER_BUCKET, Key=url.split("/", 3)[3])
    with pytest.raises(ArtifactError, match="does not exist"):
        rollback("staging", first, envdir=repo)
    (repo / "staging.yaml").write_text("# edited\n" + (repo / "staging.yaml").read_text())
    with pytest.raises(GitError, match="uncommitted changes"):
        rollback("staging", "HEAD~1", envdir=repo)


def test_rollback_refuses_a_revision_without_a_pin_or_unknown(repo, two_promotions):
    root_commit = pin_history("staging", repo)[-1].commit
    with pytest.raises(Exception, match="no model was pinned"):
        rollback("staging", root_commit, envdir=repo)
    with pytest.raises(GitError, match="unknown git revision 'nope'"):
        rollback("staging", "nope", envdir=repo)


def test_diff_shows_the_pin_change_against_a_revision(cloud, repo):
    pin = train(cloud, repo, "mnist-1", b"one", JAN)
    deploy(cloud.dev, "dev", pin.model_data_url)
    assert not pin_diff("staging", "HEAD", repo).changed
    promote("dev", "staging", envdir=repo)
    d = pin_diff("staging", "HEAD", repo)
    assert d.changed and not d.before.is_set and d.after.training_job == "mnist-1"
    assert "no model →" in d.summary()
    result = CliRunner().invoke(
        app, ["diff", "--env", "staging", "--no-cdk", "--envdir", str(repo)]
    )
    assert result.exit_code == 0, result.output
    assert "+  training_job: mnist-1" in result.output
    # nothing is deployed in staging: the diff says so instead of failing
    assert "deployed: unknown (staging: stack SageMakerEndpoint-staging is not deployed" in (
        result.output
    )
    dev = CliRunner().invoke(app, ["diff", "--env", "dev", "--no-cdk", "--envdir", str(repo)])
    assert f"serves {pin.model_data_url}" in dev.output
