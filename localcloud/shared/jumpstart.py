"""JumpStart's S3 buckets, which the local cloud does not have.

The SageMaker SDK finds JumpStart's catalog, models, scripts and images through its region
table (`sagemaker/jumpstart/region_config.json`): `jumpstart-cache-prod-<region>` (public
content), `jumpstart-private-cache-prod-<region>` (gated content) and, in some regions,
`sagemaker-sd-models-prod-<region>` (Neo-compiled content). Those buckets are AWS's; offline
there is nothing to serve from them, so S3 and SageMaker refuse requests that reach them with
one message that says so.
"""

from __future__ import annotations

import re

from smlocal.core.s3uri import split_s3_uri

_BUCKET = re.compile(
    r"^(?:jumpstart-cache-prod|jumpstart-private-cache-prod|sagemaker-sd-models-prod)-[a-z0-9-]+$"
)


def is_jumpstart_bucket(name: str) -> bool:
    """Whether `name` is one of JumpStart's buckets."""
    return bool(_BUCKET.match(name))


def bucket_of(uri: str) -> str | None:
    """The JumpStart bucket an `s3://` URI points into; None for any other URI."""
    try:
        bucket, _key = split_s3_uri(uri or "")
    except ValueError:
        return None
    return bucket if is_jumpstart_bucket(bucket) else None


def not_offline(bucket: str) -> str:
    """The one explanation, naming the bucket."""
    return (
        f"JumpStart is not available offline: {bucket} is AWS's JumpStart bucket, and the local "
        "cloud has no copy of JumpStart's models, scripts or images. Use your own model "
        "artifact in a bucket of the local cloud with a SageMaker PyTorch framework image."
    )
