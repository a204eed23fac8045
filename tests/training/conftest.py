"""Fixtures of the training tests: prepared digits data, a sourcedir, and S3 on the session's
moto server (`moto_url`, tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.moto import CREDENTIALS, moto_client
from training.data import prepare
from training.sourcedir import pack_sourcedir

BUCKET = "sagemaker-us-east-1-123456789012"


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits data set in MNIST IDX format (built once per session)."""
    out = tmp_path_factory.mktemp("digits")
    prepare(out, echo=lambda _: None)
    return out


@pytest.fixture(scope="session")
def sourcedir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sourcedir.tar.gz` with mnist.py and inference.py, as `smlocal train` uploads it."""
    return pack_sourcedir(tmp_path_factory.mktemp("src") / "sourcedir.tar.gz")


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # moto accepts any credentials; these keep boto3 from looking for real ones.
    for key, value in {**CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def s3(moto_url: str) -> object:
    """An S3 client on the session's moto server with the environment's default bucket."""
    client = moto_client("s3", moto_url)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def inputs(s3: object, digits_dir: Path, sourcedir: Path) -> dict[str, str]:
    """The digits channel and the sourcedir uploaded to the moto bucket, as s3:// URIs."""
    for path in sorted(digits_dir.iterdir()):
        s3.upload_file(str(path), BUCKET, f"data/mnist/{path.name}")  # type: ignore[attr-defined]
    s3.upload_file(str(sourcedir), BUCKET, "src/sourcedir.tar.gz")  # type: ignore[attr-defined]
    return {
        "data": f"s3://{BUCKET}/data/mnist/",
        "sourcedir": f"s3://{BUCKET}/src/sourcedir.tar.gz",
        "output": f"s3://{BUCKET}/training-jobs",
    }
