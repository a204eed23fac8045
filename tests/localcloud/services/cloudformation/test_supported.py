"""The supported resource types: one table in code, its copy in docs/localcloud.md, and every
type the project's stacks and the CDK's bootstrap template declare among the supported ones
(so both still deploy)."""

from __future__ import annotations

import re
from pathlib import Path

from localcloud.services.cloudformation.supported import (
    CREATES,
    REFUSED,
    SUPPORTED,
    markdown,
    support,
)

ROOT = Path(__file__).resolve().parents[4]
DOCS = ROOT / "docs" / "localcloud.md"
SNAPSHOTS = ROOT / "tests" / "stacks" / "__snapshots__"
BOOTSTRAP = (
    ROOT / "node_modules" / "aws-cdk" / "lib" / "api" / "bootstrap" / "bootstrap-template.yaml"
)


def test_the_table_in_the_docs_is_the_code_s() -> None:
    assert markdown() in DOCS.read_text(), (
        "docs/localcloud.md's CloudFormation table is stale: "
        "python -m localcloud.services.cloudformation.supported prints the current one"
    )


def test_the_project_s_stacks_and_cdk_bootstrap_use_supported_types_only() -> None:
    declared = set(
        re.findall(
            r'"Type": "(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)"',
            "".join(path.read_text() for path in SNAPSHOTS.rglob("*.json")),
        )
    )
    declared |= set(re.findall(r"^\s+Type: (AWS::\S+)$", BOOTSTRAP.read_text(), re.MULTILINE))
    assert "AWS::SageMaker::Endpoint" in declared and "AWS::KMS::Key" in declared
    assert {t for t in declared if support(t, {})[0] == REFUSED} == set()


def test_sagemaker_types_follow_the_api_audit() -> None:
    refused = {"CreateDomain": "Studio would report InService", "CreateMonitoringSchedule": ""}
    assert support("AWS::SageMaker::Domain", refused) == (
        REFUSED,
        "the cloud refuses sagemaker:CreateDomain (Studio would report InService)",
    )
    assert support("AWS::SageMaker::MonitoringSchedule", refused) == (
        REFUSED,
        "the cloud refuses sagemaker:CreateMonitoringSchedule",
    )
    assert support("AWS::SageMaker::Endpoint", refused)[0] == CREATES
    assert support("AWS::SageMaker::Pipeline", refused)[0] == REFUSED  # no CloudFormation here
    assert all(kind != REFUSED for kind, _ in SUPPORTED.values())
