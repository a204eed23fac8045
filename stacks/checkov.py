"""Justified checkov suppressions, written into the template next to the resource they excuse."""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct


def skip_checkov(construct: IConstruct, check_id: str, comment: str) -> None:
    """Record in the resource's `Metadata.checkov.skip` that `check_id` does not apply, and why.

    `construct` is an L1 resource or an L2 construct whose default child is one.
    """
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(resource, CfnResource), f"{construct.node.path} has no CFN resource"
    metadata = resource.get_metadata("checkov") or {"skip": []}
    metadata["skip"].append({"id": check_id, "comment": comment})
    resource.add_metadata("checkov", metadata)
