"""Model artifact URLs, taken apart by the one splitter (`smlocal.core.s3uri`)."""

from __future__ import annotations

import pytest

from smlocal.gitops.artifacts import ArtifactError, S3Url


def test_an_artifact_url_names_a_bucket_and_a_key() -> None:
    assert S3Url.parse("s3://bucket/models/run#2/model.tar.gz") == S3Url(
        "bucket", "models/run#2/model.tar.gz"
    )
    for url in ("s3://bucket/", "s3://bucket", "https://bucket/key", "s3:///key"):
        with pytest.raises(ArtifactError, match=f"not an s3://bucket/key url: '{url}'"):
            S3Url.parse(url)
