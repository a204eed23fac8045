"""One synthesis per session: every fixture manifest's stacks in one App, with cdk-nag."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.helpers.stacks import REPO, SHA_B, STACKS, URL_B, Synth, write_manifests

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
"""checkov lives in a venv of its own (`make checkov-setup`): it pins boto3 older than ours."""


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    from smlocal.core.environments import load_all
    from smlocal.core.manifest import ModelPin
    from stacks.endpoint_stack import EndpointStack
    from stacks.wiring import add_stacks

    manifests = write_manifests(tmp_path_factory.mktemp("manifests"))
    outdir = tmp_path_factory.mktemp("cdk.out")
    changed_outdir = tmp_path_factory.mktemp("changed-pin.cdk.out")
    envs = load_all(manifests)
    # The same context (feature flags) the CLI passes from cdk.json, so the templates match.
    context = json.loads((REPO / "cdk.json").read_text())["context"]
    context["aws:cdk:enable-path-metadata"] = True  # the CLI's default
    app = cdk.App(outdir=str(outdir), context=context, analytics_reporting=False)
    add_stacks(app, envs)
    prod = envs["prod"]
    changed = prod.model_copy(
        update={"model": ModelPin(model_data_url=URL_B, sha256=SHA_B, training_job="job-b")}
    )
    # Same construct id, in an App of its own, so that paths (and names derived from them)
    # match the prod stack: only what the pin changes may differ.
    changed_app = cdk.App(outdir=str(changed_outdir), context=context, analytics_reporting=False)
    EndpointStack(
        changed_app,
        "SageMakerEndpoint-prod",
        environment=changed,
        env=cdk.Environment(account=prod.account, region=prod.region),
        synthesizer=cdk.BootstraplessSynthesizer(),
    )
    changed_app.synth()
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    error = None
    try:
        app.synth()
    except RuntimeError as err:  # nag findings fail the synth after the templates are written
        error = str(err)
    return Synth(
        manifests=manifests,
        outdir=outdir,
        validation_error=error,
        changed_pin_prod=json.loads(
            (changed_outdir / "SageMakerEndpoint-prod.template.json").read_text()
        ),
    )


@pytest.fixture(scope="session")
def checkov(synth: Synth) -> dict[str, Any]:
    """checkov's CloudFormation checks over every synthesized stack, run once (slow to start)."""
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed at {CHECKOV}; `make checkov-setup` builds it")
    files = [arg for s in STACKS for arg in ("-f", str(synth.outdir / f"{s}.template.json"))]
    # No network: no Prisma Cloud guidelines (BC_SKIP_MAPPING) and no downloaded checks.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}
    result = subprocess.run(
        [str(CHECKOV), *files, "--framework", "cloudformation", "--skip-download", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # checkov exits 1 when a check fails; the report on stdout says which.
    assert result.returncode in (0, 1), result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert isinstance(report, dict), "one framework, one report"
    return report
