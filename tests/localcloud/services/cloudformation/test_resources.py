"""Bucket policies on the local cloud: which statements apply, by IAM's rules for condition keys
the request context holds (`aws:SecureTransport`) and lacks (everything else)."""

from __future__ import annotations

import pytest

from localcloud.services.cloudformation.resources import _conditions_hold


@pytest.mark.parametrize(
    ("conditions", "holds"),
    [
        ({}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, False),  # the CDK's enforce-SSL deny
        ({"Bool": {"aws:SecureTransport": "true"}}, True),
        ({"Bool": {"aws:SecureTransport": ["false", "true"]}}, True),
        # a key the context lacks: false, so a deny on a principal is not applied to everyone
        ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/SageMaker-local"}}, False),
        ({"StringEquals": {"aws:SourceAccount": "123456789012"}}, False),
        ({"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}}, True),
        # a known key under an operator the cloud does not evaluate: not applied
        ({"StringLike": {"aws:SecureTransport": "t*"}}, False),
    ],
)
def test_which_statements_apply(conditions: dict, holds: bool) -> None:
    assert _conditions_hold(conditions) is holds
