"""The CI workflows: valid for actionlint and the GitHub workflow schema, and shaped as the
promotion flow needs (order, gates, OIDC, one deploy per environment at a time)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
VALIDATE = [sys.executable, str(ROOT / "scripts" / "validate_workflows.py")]


def load(name: str) -> dict:
    return YAML(typ="safe").load((WORKFLOWS / name).read_text())


def test_workflows_pass_actionlint_and_the_schema():
    result = subprocess.run(VALIDATE, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check-jsonschema: ok (3 files)" in result.stdout
    assert "actionlint: ok (3 files)" in result.stdout


@pytest.mark.parametrize(
    ("old", "new", "checker", "message"),
    [
        ("needs: [changes, dev]", "needs: [changes, deev]", "actionlint", 'needs job "deev"'),
        ("outputs.dev == 'true'", "outputs.deev == 'true'", "actionlint", 'property "deev"'),
        ("\npermissions:\n", "\npermisions:\n", "check-jsonschema", "'permisions' was unexpected"),
    ],
)
def test_the_validator_catches_broken_workflows(tmp_path, old, new, checker, message):
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert old in text
    broken = tmp_path / "deploy.yml"
    broken.write_text(text.replace(old, new, 1))
    result = subprocess.run([*VALIDATE, str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert f"{checker}: FAILED" in result.stdout
    assert message in result.stdout


def test_deploys_run_in_promotion_order_and_stop_after_a_failure():
    jobs = load("deploy.yml")["jobs"]
    assert jobs["dev"]["needs"] == "changes"
    assert jobs["staging"]["needs"] == ["changes", "dev"]
    assert jobs["prod"]["needs"] == ["changes", "staging"]
    for env, before in (("staging", "dev"), ("prod", "staging")):
        condition = jobs[env]["if"]
        assert f"needs.changes.outputs.{env} == 'true'" in condition
        # a skipped earlier stage lets this one run; a failed one does not
        assert f'fromJSON(\'["success", "skipped"]\'), needs.{before}.result' in condition
    for env in ("dev", "staging", "prod"):
        assert jobs[env]["uses"] == "./.github/workflows/deploy-environment.yml"
        assert jobs[env]["with"]["environment"] == env
        assert jobs[env]["permissions"]["id-token"] == "write"


def test_each_deploy_uses_its_github_environment_oidc_and_its_own_concurrency_group():
    wf = load("deploy-environment.yml")
    job = wf["jobs"]["deploy"]
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    assert job["concurrency"] == {
        "group": "deploy-${{ inputs.environment }}",
        "cancel-in-progress": False,
    }
    creds = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert creds["with"]["role-to-assume"].startswith("arn:aws:iam::${{ inputs.account }}:role/")
    assert "npx cdk deploy" in job["steps"][-1]["run"]
    assert '-c "env=$ENV_NAME"' in job["steps"][-1]["run"]


def test_no_workflow_holds_long_lived_aws_keys():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        for key in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID"):
            assert key not in text, f"{path.name} uses {key}"


def test_pull_requests_plan_changed_environments_and_comment():
    wf = load("pull-request.yml")
    jobs = wf["jobs"]
    assert set(jobs) == {"lint", "test", "changes", "plan", "comment"}
    plan = jobs["plan"]
    assert plan["strategy"]["matrix"]["env"] == "${{ fromJSON(needs.changes.outputs.envs) }}"
    script = next(s["run"] for s in plan["steps"] if s.get("name") == "cdk synth and smlocal diff")
    assert "npx cdk synth" in script and "smlocal diff" in script
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}
    assert "gh pr comment" in jobs["comment"]["steps"][-1]["run"]


def _changed_environments_module():
    spec = importlib.util.spec_from_file_location(
        "changed_environments", ROOT / "scripts" / "changed_environments.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_changed_environments_follow_the_manifests_in_promotion_order():
    ce = _changed_environments_module()
    names = lambda paths: [e["name"] for e in ce.changed_environments(paths)]  # noqa: E731
    assert names(["environments/prod.yaml", "environments/dev.yaml"]) == ["dev", "prod"]
    assert names(["README.md", "training/mnist.py"]) == []
    assert names(["stacks/endpoint.py"]) == ["dev", "staging", "prod"]
    assert names(None) == ["dev", "staging", "prod"]  # first push: no base to compare with
    staging = ce.changed_environments(["environments/staging.yaml"])
    env = ce.load_all()["staging"]
    assert staging == [{"name": "staging", "account": env.account, "region": env.region}]
