"""Requests for JumpStart's buckets answer S3's own error, with a message that says JumpStart is
not available offline (`shared.jumpstart`), instead of a bare NoSuchBucket.

Every bucket operation of moto's S3 backend (GetObject, HeadObject, ListObjects, the bucket's
own settings, ...) looks its bucket up through `get_bucket`; CreateBucket of such a name gets
BucketAlreadyExists, as on AWS, where AWS owns the name. A HEAD request has no body, so there the
client sees the status and the code alone, as with any S3 HEAD error.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.s3.exceptions import BucketError, MissingBucket
from moto.s3.models import S3Backend

from localcloud.shared.jumpstart import is_jumpstart_bucket, not_offline


class JumpStartBucketMissing(MissingBucket):
    """404 NoSuchBucket: locally the bucket does not exist; the message says why."""

    def __init__(self, bucket: str) -> None:
        super().__init__(bucket)
        self.message = not_offline(bucket)
        self.args = (self.message,)


class JumpStartBucketTaken(BucketError):
    """409 BucketAlreadyExists: the name is AWS's. (Not moto's class of that code: moto's
    CreateBucket takes that one as "maybe yours" and looks the bucket up.)"""

    code = "BucketAlreadyExists"

    def __init__(self, bucket: str) -> None:
        super().__init__(not_offline(bucket))
        self.bucket_name = bucket


def install() -> None:
    """Wrap moto's S3 bucket lookup and CreateBucket."""
    get_bucket = S3Backend.get_bucket
    if getattr(get_bucket, "_localcloud_jumpstart", False):
        return
    create_bucket = S3Backend.create_bucket

    @functools.wraps(get_bucket)
    def get_bucket_hook(self: S3Backend, bucket_name: str) -> Any:
        if is_jumpstart_bucket(bucket_name):
            raise JumpStartBucketMissing(bucket_name)
        return get_bucket(self, bucket_name)

    @functools.wraps(create_bucket)
    def create_bucket_hook(self: S3Backend, bucket_name: str, *args: Any, **kwargs: Any) -> Any:
        if is_jumpstart_bucket(bucket_name):
            raise JumpStartBucketTaken(bucket_name)
        return create_bucket(self, bucket_name, *args, **kwargs)

    get_bucket_hook._localcloud_jumpstart = True  # type: ignore[attr-defined]
    S3Backend.get_bucket = get_bucket_hook  # type: ignore[method-assign]
    S3Backend.create_bucket = create_bucket_hook  # type: ignore[method-assign]
