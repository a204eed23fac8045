"""Model artifacts in S3: locate, checksum (streamed) and copy across buckets and accounts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from smlocal.core.errors import UserError
from smlocal.core.s3uri import split_s3_uri
from smlocal.gitops.sessions import client

CHUNK = 8 * 1024 * 1024
Progress = Callable[[int], None]


class ArtifactError(UserError):
    """A model artifact that is missing, unreadable or not the pinned bytes."""


@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str

    @classmethod
    def parse(cls, url: str) -> S3Url:
        try:
            return cls(*split_s3_uri(url, key_required=True))
        except ValueError as err:
            raise ArtifactError(f"not an s3://bucket/key url: {err}") from None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def promoted_key(sha256: str) -> str:
    """Where a promoted artifact lands in the target bucket: content-addressed, so a retried
    promotion finds (and verifies) the copy it made before instead of making another."""
    return f"promoted/{sha256}/model.tar.gz"


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def size(session: boto3.Session, url: S3Url) -> int | None:
    """The object's size in bytes, or None when it does not exist."""
    try:
        head = client(session, "s3").head_object(Bucket=url.bucket, Key=url.key)
    except ClientError as err:
        if _code(err) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            return None
        raise ArtifactError(f"{url}: cannot read ({_code(err)}: {err})") from None
    return int(head["ContentLength"])


def sha256_of(session: boto3.Session, url: S3Url, progress: Progress | None = None) -> str:
    """sha256 of the object's bytes, streamed in chunks (artifacts can be gigabytes)."""
    try:
        body = client(session, "s3").get_object(Bucket=url.bucket, Key=url.key)["Body"]
    except ClientError as err:
        raise ArtifactError(f"{url}: cannot read ({_code(err)})") from None
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(CHUNK), b""):
        digest.update(chunk)
        if progress:
            progress(len(chunk))
    return digest.hexdigest()


def verify(
    session: boto3.Session,
    url: S3Url,
    expected_sha256: str,
    what: str,
    progress: Progress | None = None,
) -> int:
    """Check that the artifact exists and hashes to `expected_sha256`; returns its size."""
    nbytes = size(session, url)
    if nbytes is None:
        raise ArtifactError(f"{what}: model artifact {url} does not exist")
    actual = sha256_of(session, url, progress)
    if actual != expected_sha256:
        raise ArtifactError(
            f"{what}: sha256 of {url} is {actual}, but the manifest pins {expected_sha256}"
        )
    return nbytes


def bucket_exists(session: boto3.Session, bucket: str) -> bool:
    try:
        client(session, "s3").head_bucket(Bucket=bucket)
    except ClientError as err:
        if _code(err) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise ArtifactError(f"s3://{bucket}: cannot access ({_code(err)})") from None
    return True


def copy(
    source: boto3.Session,
    src: S3Url,
    target: boto3.Session,
    dst: S3Url,
    progress: Progress | None = None,
) -> str:
    """Copy `src` to `dst`; returns "server-side" or "streamed".

    Server side first (the target's credentials read the source; managed multipart copy for
    large objects). When the target account may not read the source bucket (no bucket policy
    across accounts), the bytes are streamed through this machine: source read with the
    source's credentials, target write with the target's.
    """
    s3 = client(target, "s3")
    try:
        s3.copy({"Bucket": src.bucket, "Key": src.key}, dst.bucket, dst.key, Callback=progress)
        return "server-side"
    except ClientError as err:
        if _code(err) not in ("AccessDenied", "403", "AllAccessDisabled"):
            raise ArtifactError(f"copy {src} → {dst} failed ({_code(err)}: {err})") from None
    body: Any = client(source, "s3").get_object(Bucket=src.bucket, Key=src.key)["Body"]
    s3.upload_fileobj(body, dst.bucket, dst.key, Callback=progress)
    return "streamed"
