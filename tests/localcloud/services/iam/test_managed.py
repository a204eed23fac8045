"""AWS managed policies exist in every account (`managed`): attachable and listed through the
API, and a snapshot of an account's IAM leaves out the ones as AWS ships them and a restore puts
them back, the attached ones kept as they were."""

from __future__ import annotations

import json
import pickle
from typing import Any

from moto.iam.models import AWSManagedPolicy, IAMBackend

from localcloud.services.iam import managed

FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
TRUST = {"Version": "2012-10-17", "Statement": []}


def test_an_aws_managed_policy_attaches_and_lists(cloud: Any) -> None:
    iam = cloud.client("iam")
    iam.create_role(RoleName="managed-api", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_role_policy(RoleName="managed-api", PolicyArn=FULL_ACCESS)
    attached = iam.list_attached_role_policies(RoleName="managed-api")["AttachedPolicies"]
    assert attached == [{"PolicyName": "AmazonSageMakerFullAccess", "PolicyArn": FULL_ACCESS}]
    assert iam.list_policies(Scope="AWS", MaxItems=100)["IsTruncated"]
    listed = iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]
    assert FULL_ACCESS in [p["Arn"] for p in listed]
    assert iam.get_policy(PolicyArn=FULL_ACCESS)["Policy"]["AttachmentCount"] == 1
    iam.detach_role_policy(RoleName="managed-api", PolicyArn=FULL_ACCESS)
    iam.delete_role(RoleName="managed-api")


class _Snapshotted(IAMBackend):
    """An IAM backend pickled as the installed patch pickles every one (without patching moto's
    class in the test process)."""

    __getstate__ = managed._getstate
    __setstate__ = managed._setstate


def test_a_snapshot_carries_only_what_the_account_changed() -> None:
    backend = _Snapshotted("aws", "111122223333")
    managed._fill(backend)  # what the installed patch does for every backend
    count = len(backend.managed_policies)
    assert count > 1000
    role = backend.create_role("r", json.dumps(TRUST), "/", "", "", [], 3600)
    backend.attach_role_policy(FULL_ACCESS, "r")

    snapshot = pickle.dumps(backend)
    assert len(snapshot) < 100_000  # not AWS's megabytes of documents

    restored = pickle.loads(snapshot)
    assert len(restored.managed_policies) == count
    policy = restored.managed_policies[FULL_ACCESS]
    assert isinstance(policy, AWSManagedPolicy) and policy.attachment_count == 1
    assert restored.roles[role.id].managed_policies[FULL_ACCESS] is policy
    assert restored.managed_policies["arn:aws:iam::aws:policy/ReadOnlyAccess"].versions
