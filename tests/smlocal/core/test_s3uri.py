"""`s3://` URIs taken apart."""

from __future__ import annotations

import pytest

from smlocal.core.s3uri import split_s3_uri


@pytest.mark.parametrize(
    ("uri", "parts"),
    [
        ("s3://bucket/key", ("bucket", "key")),
        ("s3://bucket/a/b/model.tar.gz", ("bucket", "a/b/model.tar.gz")),
        ("s3://bucket/prefix/", ("bucket", "prefix/")),
        ("s3://bucket", ("bucket", "")),
        ("s3://bucket/", ("bucket", "")),
    ],
)
def test_split_s3_uri_gives_bucket_and_key(uri: str, parts: tuple[str, str]) -> None:
    assert split_s3_uri(uri) == parts


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("https://bucket/key", "is not an s3:// URI"),
        ("bucket/key", "is not an s3:// URI"),
        ("S3://bucket/key", "is not an s3:// URI"),
        ("s3://", "names no bucket"),
        ("s3:///key", "names no bucket"),
    ],
)
def test_split_s3_uri_refuses_what_is_no_s3_uri(uri: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        split_s3_uri(uri)
    assert repr(uri) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("uri", ["s3://bucket", "s3://bucket/"])
def test_split_s3_uri_with_key_required_refuses_a_bare_bucket(uri: str) -> None:
    with pytest.raises(ValueError, match=f"{uri!r} names no object key"):
        split_s3_uri(uri, key_required=True)
    assert split_s3_uri("s3://bucket/k", key_required=True) == ("bucket", "k")
