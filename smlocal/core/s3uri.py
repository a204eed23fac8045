"""`s3://bucket/key` URIs taken apart, one way for every room."""

from __future__ import annotations


def split_s3_uri(uri: str, *, key_required: bool = False) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key); the key is "" for `s3://bucket` or `s3://bucket/`.
    ValueError naming the URI when it is not `s3://`, has no bucket, or (`key_required`) no
    key."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} names no bucket")
    if key_required and not key:
        raise ValueError(f"{uri!r} names no object key")
    return bucket, key
