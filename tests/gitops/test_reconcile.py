"""`smlocal reconcile`: every environment whose deployed state differs from main is deployed,
not only those the last push touched; `--check` fails naming the environment and the field.

Against the session's moto server (reset per test) with EndpointStack stand-ins deployed
through CloudFormation, as `tests/smlocal/test_status.py` does: the decision reads the same
boto3 calls on AWS, on moto and on the local cloud.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from smlocal.cli import app
from smlocal.core.environments import load_all
from smlocal.core.manifest import ModelPin
from smlocal.core.naming import endpoint_stack_name
from smlocal.core.pins import write_pin
from smlocal.gitops.reconcile import plan
from tests.helpers.moto import deploy_endpoint_stand_in, use_moto


def _changed_environments(paths: list[str], envdir: Path) -> list[dict]:
    """The old rule, scripts/changed_environments.py: the manifests the push changed."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "changed_environments.py"
    spec = importlib.util.spec_from_file_location("changed_environments", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.changed_environments(paths, envdir)


ACCOUNT, REGION = "123456789012", "us-east-1"
URL_1 = f"s3://sagemaker-{REGION}-{ACCOUNT}/training-jobs/job-1/output/model.tar.gz"
URL_2 = f"s3://sagemaker-{REGION}-{ACCOUNT}/training-jobs/job-2/output/model.tar.gz"
SHA_1, SHA_2 = "1" * 64, "2" * 64
MANIFEST = """\
name: {name}
account: "123456789012"
region: us-east-1
endpoint_kind: serverless
serverless: {{memory_size_mb: 2048, max_concurrency: 5}}
model: {{}}
"""


@pytest.fixture
def session(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    use_moto(monkeypatch, moto_url)
    return boto3.Session(region_name=REGION)


def _pin(envdir: Path, name: str, url: str, sha: str) -> None:
    write_pin(envdir / f"{name}.yaml", ModelPin(model_data_url=url, sha256=sha))


def _deploy(session: boto3.Session, envdir: Path, name: str, memory: int = 2048) -> None:
    """What `cdk deploy -c env=<name>` leaves behind: the stand-in serving the manifest's pin."""
    env = load_all(envdir)[name]
    # a redeploy replaces the stand-in (deleting a stack that does not exist is a no-op)
    session.client("cloudformation").delete_stack(StackName=endpoint_stack_name(name))
    variant = {"ServerlessConfig": {"MemorySizeInMB": memory, "MaxConcurrency": 5}}
    deploy_endpoint_stand_in(
        session, name, str(env.model.model_data_url), variant, image=env.image_uri
    )


def _manifests(envdir: Path, session: boto3.Session, *names: str, deploy: bool = True) -> Path:
    """The environments pinned to model 1 and (unless `deploy` is False) deployed: in sync."""
    envdir.mkdir(exist_ok=True)
    for name in names:
        (envdir / f"{name}.yaml").write_text(MANIFEST.format(name=name))
        _pin(envdir, name, URL_1, SHA_1)
        if deploy:
            _deploy(session, envdir, name)
    return envdir


def _cli(envdir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["reconcile", "--envdir", str(envdir), *args])
    return result.exit_code, result.stdout, result.stderr


def test_an_environment_a_previous_run_skipped_is_deployed_by_the_next(
    tmp_path: Path, session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    envdir = _manifests(tmp_path / "environments", session, "dev", "staging", "prod")
    # Push 1 pins model 2 in staging; its deploy is cancelled while queued: not deployed.
    _pin(envdir, "staging", URL_2, SHA_2)
    # Push 2 touches dev only (here: dev's pin).
    _pin(envdir, "dev", URL_2, SHA_2)
    # The old rule (the manifests the push changed) deploys dev alone:
    old = _changed_environments([f"{envdir.name}/dev.yaml"], envdir)
    assert [e["name"] for e in old] == ["dev"]

    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    code, out, _ = _cli(envdir, "--github-output")
    decisions = {d["name"]: d for d in json.loads(out)}
    assert code == 0
    assert [n for n, d in decisions.items() if d["deploy"]] == ["dev", "staging"]
    assert decisions["staging"]["reasons"] == [
        f"model_data_url: manifest '{URL_2}', deployed '{URL_1}'"
    ]
    assert decisions["prod"] == {
        "name": "prod",
        "account": ACCOUNT,
        "region": REGION,
        "deploy": False,
        "reasons": ["in sync"],
        "destroy": False,
    }
    lines = outputs.read_text().splitlines()
    assert lines[0] == 'deploy=["dev", "staging"]'
    assert {"dev=true", "staging=true", "prod=false", f"prod_account={ACCOUNT}"} <= set(lines)

    # Both deployed in order: the next run has nothing left to do.
    for name in ("dev", "staging"):
        _deploy(session, envdir, name)
    assert not [d for d in plan(load_all(envdir)) if d.deploy]


def test_check_fails_naming_the_environment_and_the_field(
    tmp_path: Path, session: boto3.Session
) -> None:
    envdir = _manifests(tmp_path, session, "staging")
    assert _cli(envdir, "--check")[0] == 0
    # main's `cdk synth`: the deployed template, then one change of infrastructure code
    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    stack = endpoint_stack_name("staging")
    body = session.client("cloudformation").get_template(StackName=stack)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    (cdk_out / f"{stack}.template.json").write_text(json.dumps(template))
    assert _cli(envdir, "--check", "--cdk-out", str(cdk_out))[0] == 0
    template["Resources"]["Endpoint"]["Properties"]["Tags"] = [{"Key": "team", "Value": "ml"}]
    (cdk_out / f"{stack}.template.json").write_text(json.dumps(template))
    (decision,) = plan(load_all(envdir), cdk_out=cdk_out)
    assert decision.reasons == [
        f"template: stack {stack} differs from {cdk_out / f'{stack}.template.json'}"
    ]
    _deploy(session, envdir, "staging", memory=3072)  # changed by hand in the console
    code, _, err = _cli(envdir, "--check")
    assert code == 1
    assert err.strip() == (
        f"drift: staging ({ACCOUNT}/{REGION}): memory_size_mb: manifest 2048, deployed 3072"
    )


def test_never_deployed_is_deployed_and_unpinned_has_nothing_to_deploy(
    tmp_path: Path, session: boto3.Session
) -> None:
    envdir = _manifests(tmp_path, session, "prod", deploy=False)
    (tmp_path / "dev.yaml").write_text(MANIFEST.format(name="dev"))
    dev, prod = plan(load_all(envdir))
    assert (dev.deploy, dev.reasons) == (False, ["no model is pinned; nothing to deploy"])
    assert prod.deploy
    assert prod.reasons[0].startswith("not deployed: stack SageMakerEndpoint-prod is not deployed")


def test_a_parked_dev_is_neither_redeployed_nor_drift_until_unparked(
    tmp_path: Path, session: boto3.Session
) -> None:
    """The idle-dev workflow destroys dev's endpoint stack and commits `parked: true`: the
    next reconcile leaves dev alone (without the line it would redeploy it), `--check`
    passes; a parked dev whose stack is still there is drift; unparked, it is deployed."""
    envdir = _manifests(tmp_path / "environments", session, "dev")
    manifest = envdir / "dev.yaml"
    manifest.write_text("# dev: tried first\n" + manifest.read_text())
    session.client("cloudformation").delete_stack(StackName=endpoint_stack_name("dev"))
    (dev,) = plan(load_all(envdir), ["dev"])
    assert (dev.deploy, dev.reasons[0].startswith("not deployed")) == (True, True)  # the old clash

    code, out, _ = (
        CliRunner()
        .invoke(app, ["park", "--env", "dev", "--envdir", str(envdir), "--note", "idle 24 h"])
        .exit_code,
        None,
        None,
    )
    assert code == 0
    text = manifest.read_text()
    assert text.startswith("# dev: tried first\n") and "\nparked: true  # idle 24 h\n" in text
    code, out, err = _cli(envdir, "--check")
    assert code == 0, err
    dev_decision = {d["name"]: d for d in json.loads(out)}["dev"]
    assert (dev_decision["deploy"], dev_decision["destroy"]) == (False, False)
    assert dev_decision["reasons"] == ["parked: stack SageMakerEndpoint-dev absent"]

    _deploy(session, envdir, "dev")  # someone deployed it by hand while parked
    code, _, err = _cli(envdir, "--check")
    assert code == 1
    assert "drift: dev (123456789012/us-east-1): parked: manifest parked, deployed stack" in err

    session.client("cloudformation").delete_stack(StackName=endpoint_stack_name("dev"))
    assert (
        CliRunner()
        .invoke(app, ["park", "--env", "dev", "--unpark", "--envdir", str(envdir)])
        .exit_code
        == 0
    )
    assert "parked" not in manifest.read_text()
    (dev,) = plan(load_all(envdir), ["dev"])
    assert dev.deploy is True
