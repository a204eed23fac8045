"""AWS managed policies (`arn:aws:iam::aws:policy/...`) exist in every account, as on AWS:
`AttachRolePolicy ... AmazonSageMakerFullAccess` works and `ListPolicies --scope AWS` lists
them. moto ships them (its `aws_managed_policies` data, some 1,400 policies) but loads them
only when asked, and then parses the data again for every account's backend.

Here they are loaded always, from one parse: the documents are shared by every account's
policy objects (they are read-only on AWS), so a further account costs the objects only. A
snapshot (`shared.persistence` pickles the IAM backends) leaves out the policies that are as
AWS ships them (unattached, one version, untagged) and a restore puts them back, so the
snapshot written after every change does not carry megabytes of AWS's documents.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, IAMBackend, iam_backends


@functools.cache
def _catalogue() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(name, fields) of every AWS managed policy; each document serialised once."""
    parsed = json.loads(aws_managed_policies_data)
    return tuple(
        (
            name,
            {
                "default_version_id": data.get("DefaultVersionId"),
                "path": data.get("Path"),
                "document": json.dumps(data.get("Document")),
                "create_date": datetime.fromisoformat(data["CreateDate"]),
                "update_date": datetime.fromisoformat(data["UpdateDate"]),
            },
        )
        for name, data in parsed.items()
    )


def aws_policies(account_id: str, region_name: str) -> list[AWSManagedPolicy]:
    """Fresh objects of every AWS managed policy, for one account's backend."""
    return [
        AWSManagedPolicy(name, account_id=account_id, region=region_name, **fields)
        for name, fields in _catalogue()
    ]


def _as_shipped(policy: Any) -> bool:
    """An AWS managed policy nothing in the account has touched."""
    return (
        isinstance(policy, AWSManagedPolicy)
        and policy.attachment_count == 0
        and len(policy.versions) == 1
        and not policy.tags
    )


def _init_aws_policies(self: IAMBackend) -> list[AWSManagedPolicy]:
    return aws_policies(self.account_id, self.region_name)


def _getstate(self: IAMBackend) -> dict[str, Any]:
    state = dict(self.__dict__)
    state["managed_policies"] = {
        arn: p for arn, p in self.managed_policies.items() if not _as_shipped(p)
    }
    state["aws_managed_policies"] = [p for p in self.aws_managed_policies if not _as_shipped(p)]
    return state


def _fill(backend: IAMBackend) -> None:
    """Give `backend` every AWS managed policy it lacks."""
    for policy in aws_policies(backend.account_id, backend.region_name):
        if policy.arn not in backend.managed_policies:
            backend.managed_policies[policy.arn] = policy
            backend.aws_managed_policies.append(policy)


def _setstate(self: IAMBackend, state: dict[str, Any]) -> None:
    self.__dict__.update(state)
    _fill(self)


def install() -> None:
    """Load AWS managed policies into every IAM backend, now and as accounts appear."""
    IAMBackend._init_aws_policies = _init_aws_policies  # type: ignore[method-assign]
    IAMBackend.__getstate__ = _getstate  # type: ignore[method-assign]
    IAMBackend.__setstate__ = _setstate  # type: ignore[attr-defined]
    for regions in list(iam_backends.values()):
        for backend in list(regions.values()):
            _fill(backend)
