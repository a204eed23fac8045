"""S3 requests for JumpStart's buckets answer S3's error shape with a message that says JumpStart
is not available offline (the SDK's `image_uris.retrieve(model_id=...)` reads
`models_manifest.json` from `jumpstart-cache-prod-<region>` first)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

CACHE = "jumpstart-cache-prod-us-east-1"


@pytest.mark.parametrize("bucket", [CACHE, "jumpstart-private-cache-prod-eu-west-1"])
def test_the_sdk_s_manifest_get_says_jumpstart_is_not_available_offline(
    s3: Any, bucket: str
) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="models_manifest.json")
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Code"] == "NoSuchBucket"
    assert error["BucketName"] == bucket
    assert error["Message"].startswith(f"JumpStart is not available offline: {bucket} is AWS's")


def test_listing_heading_and_creating_jumpstart_s_buckets(s3: Any) -> None:
    with pytest.raises(ClientError, match="JumpStart is not available offline") as caught:
        s3.list_objects_v2(Bucket=CACHE, Prefix="pytorch-ic")
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=CACHE, Key="models_manifest.json")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404  # HEAD: no body
    with pytest.raises(ClientError, match="JumpStart is not available offline") as caught:
        s3.create_bucket(Bucket=CACHE)  # the name is AWS's
    assert caught.value.response["Error"]["Code"] == "BucketAlreadyExists"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    # A bucket of the same prefix that is not JumpStart's is an ordinary bucket.
    s3.create_bucket(Bucket="jumpstart-cache-mine")
    s3.delete_bucket(Bucket="jumpstart-cache-mine")
