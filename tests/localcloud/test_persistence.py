"""Object bodies live as files under the state dir, the snapshot holds metadata only: bodies and
versions come back after a restart or a kill -9, and bodies nothing refers to are deleted."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import pytest
from cloudkit import BUCKET, start_cloud, stop_cloud

from localcloud import control

pytestmark = pytest.mark.slow

VERSIONED = "localcloud-versioned"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bodies(state_dir: Path) -> set[str]:
    return {p.name for p in (state_dir / "objects").iterdir() if not p.name.startswith(".")}


def _metadata_bytes(state_dir: Path) -> bytes:
    """Every file of the state dir but the bodies and the server's log."""
    files = [p for p in state_dir.rglob("*") if p.is_file() and "objects" not in p.parts]
    return b"".join(p.read_bytes() for p in files if not p.name.endswith(".log"))


def test_bodies_and_versions_survive_a_restart_and_garbage_goes(tmp_path: Path) -> None:
    marker = os.urandom(16).hex().encode()
    big = marker + os.urandom(10 * 1024 * 1024)
    versions = [marker + f" version {n}".encode() for n in range(3)]
    replaced, deleted, kept = b"replaced " + marker, b"deleted " + marker, b"kept " + marker
    cloud = start_cloud(tmp_path / "state")
    try:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="big.bin", Body=big)
        s3.put_object(Bucket=BUCKET, Key="over", Body=replaced)
        s3.put_object(Bucket=BUCKET, Key="over", Body=kept)
        s3.put_object(Bucket=BUCKET, Key="gone", Body=deleted)
        s3.delete_object(Bucket=BUCKET, Key="gone")
        s3.create_bucket(Bucket=VERSIONED)
        s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        ids = [s3.put_object(Bucket=VERSIONED, Key="v", Body=v)["VersionId"] for v in versions]
        s3.delete_object(Bucket=VERSIONED, Key="v")  # a delete marker on top of the versions
        s3.put_object_acl(Bucket=BUCKET, Key="over", ACL="public-read")  # a change in place
        live = {_sha(big), _sha(kept), *map(_sha, versions)}
        assert _bodies(cloud.state_dir) == live  # replaced and deleted bodies are gone
        assert marker not in _metadata_bytes(cloud.state_dir)
    finally:
        stop_cloud(cloud)

    cloud = start_cloud(cloud.state_dir)
    try:
        s3 = cloud.client("s3")
        assert s3.get_object(Bucket=BUCKET, Key="big.bin")["Body"].read() == big
        assert s3.get_object(Bucket=BUCKET, Key="over")["Body"].read() == kept
        grants = s3.get_object_acl(Bucket=BUCKET, Key="over")["Grants"]
        assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in grants)
        listed = s3.list_object_versions(Bucket=VERSIONED, Prefix="v")
        assert sorted(v["VersionId"] for v in listed["Versions"]) == sorted(ids)
        assert [m["IsLatest"] for m in listed["DeleteMarkers"]] == [True]
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket=VERSIONED, Key="v")
        for version_id, body in zip(ids, versions, strict=True):
            got = s3.get_object(Bucket=VERSIONED, Key="v", VersionId=version_id)
            assert got["Body"].read() == body
        s3.delete_object(Bucket=BUCKET, Key="big.bin")
        assert _bodies(cloud.state_dir) == live - {_sha(big)}
        assert marker not in _metadata_bytes(cloud.state_dir)
    finally:
        stop_cloud(cloud)


def test_a_killed_cloud_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path / "state")
    body = os.urandom(256 * 1024)
    try:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="acknowledged", Body=body)
        record = control.read_record(cloud.state_dir)
        assert record is not None
        os.kill(record["pid"], signal.SIGKILL)  # no final snapshot, no cleanup
        deadline = time.monotonic() + 10
        while control.running(cloud.state_dir) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    except BaseException:
        stop_cloud(cloud)
        raise

    cloud = start_cloud(cloud.state_dir)
    try:
        s3 = cloud.client("s3")
        assert s3.get_object(Bucket=BUCKET, Key="acknowledged")["Body"].read() == body
    finally:
        stop_cloud(cloud)
