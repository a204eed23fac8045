"""Every synthesized template: snapshot, cfn-lint, cdk-nag, determinism."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.helpers.cli import run
from tests.helpers.stacks import CI_ACCESS, PLATFORM_EU, PLATFORM_US, REPO, STACKS, Synth


def test_builds_one_platform_per_account_region_and_one_endpoint_per_pinned_env(
    synth: Synth,
) -> None:
    artifacts = synth.manifest()["artifacts"]
    stacks = {name for name, a in artifacts.items() if a["type"] == "aws:cloudformation:stack"}
    assert stacks == set(STACKS)


def test_endpoint_stacks_depend_on_their_platform(synth: Synth) -> None:
    artifacts = synth.manifest()["artifacts"]
    assert artifacts["SageMakerEndpoint-prod"]["dependencies"] == [
        "SageMakerPlatform-123456789012-us-east-1"
    ]
    assert artifacts["SageMakerEndpoint-eu"]["dependencies"] == [
        "SageMakerPlatform-210987654321-eu-west-1"
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_template_snapshot(synth: Synth, stack: str, snapshot: SnapshotAssertion) -> None:
    assert synth.template(stack) == snapshot(extension_class=JSONSnapshotExtension)


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_clean(synth: Synth, stack: str) -> None:
    matches = lint_file(synth.outdir / f"{stack}.template.json")
    assert [str(m) for m in matches] == []


def test_cdk_nag_aws_solutions_has_no_unacknowledged_findings(synth: Synth) -> None:
    report = synth.outdir / "validation-report.json"
    details = report.read_text() if report.exists() else ""
    assert synth.validation_error is None, details


def _checkov_line(check: dict[str, Any]) -> str:
    return f"{Path(check['file_path']).name} {check['resource']} {check['check_id']}"


def test_checkov_has_no_unjustified_findings(checkov: dict[str, Any]) -> None:
    failed = [f"{_checkov_line(c)}: {c['check_name']}" for c in checkov["results"]["failed_checks"]]
    assert failed == []
    assert checkov["summary"]["parsing_errors"] == 0


def test_checkov_scanned_every_template(checkov: dict[str, Any]) -> None:
    results = checkov["results"]
    checks = results["passed_checks"] + results["failed_checks"] + results["skipped_checks"]
    assert {Path(c["file_path"]).name for c in checks} == {f"{s}.template.json" for s in STACKS}


CHECKOV_SKIPS = {
    (PLATFORM_US, "AccessLogs", "CKV_AWS_18"),  # the log bucket does not log into itself
    (PLATFORM_EU, "DefaultBucket", "CKV_AWS_18"),  # `destroy` bucket: no log bucket to empty
    ("SageMakerEndpoint-dev", "Model", "CKV_AWS_370"),  # serverless: no network isolation
    ("SageMakerEndpoint-staging", "Model", "CKV_AWS_370"),
    (CI_ACCESS, "DeployRoleDefaultPolicy", "CKV_AWS_111"),  # autoscaling: no resource ARNs
}
"""Every checkov suppression, reviewed: (stack, logical id prefix, check). The reasons are in
each resource's `Metadata.checkov.skip[].comment`."""


def test_checkov_skips_are_the_reviewed_ones_each_justified_and_used(
    synth: Synth, checkov: dict[str, Any]
) -> None:
    declared = set()
    for stack in STACKS:
        for logical_id, resource in synth.template(stack)["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(skip["comment"]) > 20, (stack, logical_id, skip)
                declared.add((stack, logical_id, skip["id"]))
    reviewed = {
        (stack, logical_id, check)
        for stack, logical_id, check in declared
        for s, prefix, c in CHECKOV_SKIPS
        if (s, c) == (stack, check) and logical_id.startswith(prefix)
    }
    assert declared == reviewed
    assert len(declared) == len(CHECKOV_SKIPS)
    # A skip whose check no longer runs on the resource is stale: checkov reports each one used.
    used = {
        (
            Path(c["file_path"]).stem.removesuffix(".template"),
            c["resource"].split(".")[1],
            c["check_id"],
        )
        for c in checkov["results"]["skipped_checks"]
    }
    assert used == declared


def test_templates_carry_no_asset_or_bootstrap_references(synth: Synth) -> None:
    for stack in STACKS:
        text = synth.template_text(stack)
        assert "BootstrapVersion" not in text
        assert "cdk-hnb659fds" not in text  # the default bootstrap qualifier
        assert "AWS::CDK::Metadata" not in text


@pytest.mark.slow
def test_cli_synth_is_byte_identical_to_in_process_synth(synth: Synth, tmp_path: Path) -> None:
    """Two synths (this session's and the CDK CLI's, in another process) give the same bytes."""
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1"}
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    out = tmp_path / "cdk.out"
    synth_argv = ["npx", "cdk", "synth", "--quiet", "-c", f"envdir={synth.manifests}"]
    result = run([*synth_argv, "-o", str(out)], cwd=REPO, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    for stack in STACKS:
        cli = (out / f"{stack}.template.json").read_bytes()
        assert cli == (synth.outdir / f"{stack}.template.json").read_bytes(), stack
