"""IAM's matching of identity-policy statements (`localcloud.shared.policies`): Action and
Resource wildcards as IAM's policy reference defines them, policy variables, NotAction and
NotResource, condition values with variables; called directly (no cloud)."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.shared.policies import action_matches, conditions_hold, decide, resource_matches

PARAMETER = "arn:aws:ssm:us-east-1:123456789012:parameter/cdk-bootstrap/hnb659fds/version"
STREAM = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/E:log-stream:AllTraffic/i"


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        (PARAMETER, PARAMETER, True),
        ("arn:aws:ssm:*", PARAMETER, True),  # a segment-ending `*` runs past the colons
        ("arn:aws:ssm:*:*:parameter/*", PARAMETER, True),
        ("arn:aws:ssm:*:*:parameter/cdk-bootstrap/*/version", PARAMETER, True),
        ("arn:aws:ssm:*:*:parameter/other/*", PARAMETER, False),
        ("arn:aws:ssm:us-west-2:*:parameter/*", PARAMETER, False),
        ("arn:aws:logs:*:*:log-group:/aws/sagemaker/*", STREAM, True),
        ("arn:aws:logs:*:*:log-group:/aws/sagemaker/E", STREAM, False),  # the group, not a stream
        ("arn:aws:logs:*:*:log-group:/aws/*/E:log-stream:*", STREAM, True),
        ("arn:aws:logs:*:*:log-group:/aws/sage*stream:AllTraffic/i", STREAM, False),  # inside
        ("arn:aws:s3:::b?t/*", "arn:aws:s3:::bat/key", True),
        ("arn:aws:s3:::b?t/*", "arn:aws:s3:::boot/key", False),
        ("arn:aws:s3:::b.t/*", "arn:aws:s3:::bat/key", False),  # `.` is a character
        ("arn:aws:s3:::a+b/(x)", "arn:aws:s3:::a+b/(x)", True),
        ("arn:aws:iam::123456789012:role/Deploy", "arn:aws:iam::123456789012:role/deploy", False),
        ("*", "*", True),
        ("arn:aws:s3:::*", "*", False),  # an action without resource-level permissions
    ],
)
def test_resource_wildcards(pattern: str, arn: str, matches: bool) -> None:
    assert resource_matches(pattern, arn, {}) is matches


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("ssm:GetParameter", "ssm:GetParameter", True),
        ("SSM:getparameter", "ssm:GetParameter", True),  # actions are case-insensitive
        ("ssm:GetParameter*", "ssm:GetParametersByPath", True),
        ("ssm:Get?arameter", "ssm:GetParameter", True),
        ("ssm:GetParameter", "ssm:GetParameters", False),
        ("s3:*", "ssm:GetParameter", False),
    ],
)
def test_action_wildcards(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


HOME = "arn:aws:s3:::home/${aws:username}/*"


@pytest.mark.parametrize(
    ("pattern", "arn", "context", "version", "matches"),
    [
        (HOME, "arn:aws:s3:::home/bob/notes", {"aws:username": ["bob"]}, "2012-10-17", True),
        (HOME, "arn:aws:s3:::home/eve/notes", {"aws:username": ["bob"]}, "2012-10-17", False),
        # no such key (a role session has no aws:username): the entry matches nothing
        (HOME, "arn:aws:s3:::home/${aws:username}/x", {}, "2012-10-17", False),
        (
            "arn:aws:s3:::home/${aws:username, 'anon'}/*",
            "arn:aws:s3:::home/anon/x",
            {},
            "2012-10-17",
            True,
        ),
        # a variable's value is text, not a wildcard
        (HOME, "arn:aws:s3:::home/bob/x", {"aws:username": ["*"]}, "2012-10-17", False),
        ("arn:aws:s3:::a${*}b", "arn:aws:s3:::a*b", {}, "2012-10-17", True),
        ("arn:aws:s3:::a${*}b", "arn:aws:s3:::axb", {}, "2012-10-17", False),
        # before the 2012-10-17 policy language, `${...}` is text
        (HOME, "arn:aws:s3:::home/${aws:username}/x", {}, "2008-10-17", True),
        (
            "arn:aws:iam::${aws:PrincipalAccount}:role/*",
            "arn:aws:iam::123456789012:role/r",
            {"aws:principalaccount": ["123456789012"]},
            "2012-10-17",
            True,
        ),
        (
            "arn:aws:s3:::sessions/${aws:userid}/*",
            "arn:aws:s3:::sessions/AROAEXAMPLE:ci/x",
            {"aws:userid": ["AROAEXAMPLE:ci"]},
            "2012-10-17",
            True,
        ),
    ],
)
def test_policy_variables(
    pattern: str, arn: str, context: dict[str, list[str]], version: str, matches: bool
) -> None:
    assert resource_matches(pattern, arn, context, version) is matches


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_not_action_and_not_resource() -> None:
    everything_but = _policy(
        {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"}
    )
    assert decide([everything_but], "s3:GetObject", "arn:aws:s3:::open/k", {}) == "allowed"
    assert decide([everything_but], "s3:GetObject", "arn:aws:s3:::secret/k", {}) == "implicitDeny"
    assert decide([everything_but], "iam:GetRole", "*", {}) == "implicitDeny"


def test_an_explicit_deny_wins_and_an_unknown_operator_denies() -> None:
    allow = {"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "ssm:GetParameter", "Resource": PARAMETER}
    assert decide([_policy(allow, deny)], "ssm:GetParameter", PARAMETER, {}) == "explicitDeny"
    guarded = {**deny, "Resource": "*", "Condition": {"NumericLessThan": {"k": "1"}}}
    assert decide([_policy(allow, guarded)], "ssm:GetParameter", PARAMETER, {}) == "explicitDeny"


@pytest.mark.parametrize(
    ("conditions", "context", "holds"),
    [
        (
            {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}},
            {"aws:resourceaccount": ["1"], "aws:principalaccount": ["1"]},
            True,
        ),
        (
            {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}},
            {"aws:resourceaccount": ["2"], "aws:principalaccount": ["1"]},
            False,
        ),
        (
            {"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
            {"s3:prefix": ["home/bob/a"], "aws:username": ["bob"]},
            True,
        ),
        ({"StringLike": {"k": "a[b]"}}, {"k": ["a[b]"]}, True),  # only `*` and `?` are special
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:*:*:endpoint/*"}},
            {"aws:sourcearn": ["arn:aws:sagemaker:us-east-1:1:endpoint/e"]},
            True,
        ),
        (
            {"ArnEquals": {"aws:SourceArn": "arn:aws:sagemaker:*:*:endpoint/*"}},
            {"aws:sourcearn": ["arn:aws:sagemaker:us-east-1:1:model/m"]},
            False,
        ),
    ],
)
def test_condition_values_with_variables(
    conditions: dict[str, Any], context: dict[str, list[str]], holds: bool
) -> None:
    assert conditions_hold(conditions, context) is holds
