"""Fixtures of the gitops tests: the session's moto server (tests/conftest.py) reset for each
test with two accounts' sessions, and manifests in a temporary git repo. The helpers they use
live in tests/helpers/gitops.py."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.helpers.gitops import (
    DEV_ACCOUNT,
    DEV_BUCKET,
    DEV_REGION,
    MANIFEST,
    OTHER_ACCOUNT,
    OTHER_BUCKET,
    OTHER_REGION,
    PROMOTER_ROLE,
    Accounts,
    commit,
    git,
)
from tests.helpers.moto import use_moto


@pytest.fixture
def cloud(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Accounts:
    """dev's and the other account's sessions on a freshly reset moto server, each with its
    default bucket; the environment points boto3 and `smlocal` at it."""
    use_moto(monkeypatch, moto_url, drop=("AWS_", "SMLOCAL_"))
    monkeypatch.setenv("SMLOCAL_STAGING_ROLE_ARN", PROMOTER_ROLE)
    monkeypatch.setenv("SMLOCAL_PROD_ROLE_ARN", PROMOTER_ROLE)
    dev = boto3.Session(region_name=DEV_REGION)
    creds = dev.client("sts").assume_role(RoleArn=PROMOTER_ROLE, RoleSessionName="tests")
    c = creds["Credentials"]
    other = boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=OTHER_REGION,
    )
    dev.client("s3").create_bucket(Bucket=DEV_BUCKET)
    other.client("s3").create_bucket(
        Bucket=OTHER_BUCKET, CreateBucketConfiguration={"LocationConstraint": OTHER_REGION}
    )
    return Accounts(moto_url, dev, other)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with environments/{dev,staging,prod}.yaml committed, no model pinned."""
    envdir = tmp_path / "environments"
    envdir.mkdir()
    for name, account, region in (
        ("dev", DEV_ACCOUNT, DEV_REGION),
        ("staging", OTHER_ACCOUNT, OTHER_REGION),
        ("prod", OTHER_ACCOUNT, OTHER_REGION),
    ):
        text = MANIFEST.format(name=name, account=account, region=region)
        (envdir / f"{name}.yaml").write_text(text)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "tests@example.com")
    git(tmp_path, "config", "user.name", "tests")
    git(tmp_path, "config", "commit.gpgsign", "false")
    commit(tmp_path, "environments: dev, staging, prod")
    return envdir
