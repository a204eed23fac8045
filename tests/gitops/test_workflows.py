"""The CI workflows: valid for actionlint and the GitHub workflow schema, and shaped as the
promotion flow needs (order, gates, OIDC, one deploy per environment at a time)."""

from __future__ import annotations

import importlib.util
import re
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
    assert "check-jsonschema: ok (5 files)" in result.stdout
    assert "actionlint: ok (5 files)" in result.stdout


@pytest.mark.parametrize(
    ("old", "new", "checker", "message"),
    [
        ("needs: [environments, dev]", "needs: [environments, deev]", "actionlint", 'job "deev"'),
        (
            "needs.environments.outputs.dev_account",
            "needs.environments.outputs.deev_account",
            "actionlint",
            'property "deev_account"',
        ),
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


def test_deploys_reconcile_every_environment_in_promotion_order():
    wf = load("deploy.yml")
    assert wf["on"]["schedule"], "a scheduled run reports drift"
    jobs = wf["jobs"]
    assert jobs["dev"]["needs"] == "environments"
    assert jobs["staging"]["needs"] == ["environments", "dev"]
    assert jobs["prod"]["needs"] == ["environments", "staging"]
    for env, before in (("staging", "dev"), ("prod", "staging")):
        condition = jobs[env]["if"]
        # not only when its manifest changed: every run reconciles it, after the one before
        # succeeded; the scheduled drift check looks at every environment
        assert "outputs.staging ==" not in condition and "outputs.prod ==" not in condition
        assert f"needs.{before}.result == 'success'" in condition
        assert "github.event_name == 'schedule'" in condition
    for env in ("dev", "staging", "prod"):
        assert jobs[env]["uses"] == "./.github/workflows/deploy-environment.yml"
        assert jobs[env]["with"]["environment"] == env
        assert jobs[env]["with"]["mode"] == (
            "${{ github.event_name == 'schedule' && 'check' || 'deploy' }}"
        )
        assert jobs[env]["permissions"]["id-token"] == "write"


def test_each_environment_deploys_only_when_it_differs_and_is_checked_after():
    jobs = load("deploy-environment.yml")["jobs"]
    reconcile, deploy = jobs["reconcile"], jobs["deploy"]
    assert "environment" not in reconcile  # no reviewers asked when nothing is to deploy
    creds = next(s for s in reconcile["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert creds["with"]["role-to-assume"].endswith(":role/smlocal-github-plan")
    plan = next(s for s in reconcile["steps"] if s.get("id") == "plan")["run"]
    assert "smlocal reconcile --env" in plan and "--github-output" in plan
    assert reconcile["outputs"]["deploy"] == "${{ steps.plan.outputs[inputs.environment] }}"
    assert deploy["needs"] == "reconcile"
    assert deploy["if"] == "inputs.mode == 'deploy' && needs.reconcile.outputs.deploy == 'true'"
    check = deploy["steps"][-1]["run"]
    assert 'smlocal status --env "$ENV_NAME"' in check
    assert 'smlocal predict --env "$ENV_NAME"' in check
    assert check.count("exit 1") == 2


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
    assert "github.event.pull_request.head.repo.full_name == github.repository" in plan["if"]
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


def _steps(workflow: str) -> list[tuple[str, dict]]:
    return [
        (name, step)
        for name, job in load(workflow).get("jobs", {}).items()
        for step in job.get("steps", [])
    ]


def test_third_party_actions_are_pinned_by_full_commit_sha_with_the_tag_in_a_comment():
    pinned = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text().splitlines():
            if "uses:" in line and "./.github/" not in line:
                assert pinned.match(line.split("uses:", 1)[1].strip()), f"{path.name}: {line}"


def test_pull_request_test_job_runs_the_readme_command_and_lint_installs_no_torch():
    readme = (ROOT / "README.md").read_text()
    assert "make test   # lint and the whole test suite" in readme
    jobs = load("pull-request.yml")["jobs"]
    assert [s["run"] for s in jobs["test"]["steps"] if "run" in s] == ["make test"]
    lint = " ".join(s.get("run", "") for s in jobs["lint"]["steps"])
    assert "make setup" not in lint and "torch" not in lint
    for command in ("ruff check .", "ruff format --check .", "lint-imports --no-cache"):
        assert command in lint


def test_pip_caches_are_keyed_on_the_constraints():
    for workflow in ("pull-request.yml", "deploy-environment.yml"):
        for job, step in _steps(workflow):
            if step.get("with", {}).get("cache") == "pip":
                assert step["with"]["cache-dependency-path"] == "constraints*.txt", (workflow, job)


def test_fork_pull_requests_get_a_comment_not_a_red_plan():
    wf = load("fork-plan.yml")
    assert list(wf["on"]) == ["pull_request_target"]
    (job,) = wf["jobs"].values()
    assert job["if"] == "github.event.pull_request.head.repo.full_name != github.repository"
    assert job["permissions"] == {"pull-requests": "write"}
    # pull_request_target runs with a write token: it must never run the fork's code
    assert all("uses" not in s for s in job["steps"])
    assert "maintainer's run is needed" in job["steps"][0]["run"]


def test_idle_dev_endpoints_are_destroyed_on_a_schedule():
    wf = load("idle-dev.yml")
    assert wf["on"]["schedule"]
    job = wf["jobs"]["destroy-if-idle"]
    assert job["environment"]["name"] == "dev"
    assert job["concurrency"]["group"] == "deploy-dev"  # never during a dev deploy
    idle, destroy, park = job["steps"][-3:]
    assert idle["run"] == ".venv/bin/smlocal idle --env dev --github-output"
    assert destroy["if"] == "steps.idle.outputs.idle == 'true'"
    assert destroy["run"] == "npx cdk destroy SageMakerEndpoint-dev -c env=dev --force"
    # then git records it (parked: true), so reconcile neither redeploys it nor calls it drift
    assert park["if"] == destroy["if"]
    assert park["run"].startswith(".venv/bin/smlocal park --env dev --note ")
    assert 'git push origin "HEAD:$BRANCH"' in park["run"]
    assert job["permissions"]["contents"] == "write"
