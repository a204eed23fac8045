"""app.py through the CDK CLI: context selection, unpinned environments, bad manifests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PIN = """model:
  model_data_url: s3://sagemaker-us-east-1-123456789012/mnist/job/output/model.tar.gz
  sha256: "{sha}"
"""
BASE = """name: {name}
account: "123456789012"
region: us-east-1
endpoint_kind: serverless
serverless: {{memory_size_mb: 2048, max_concurrency: 5}}
"""


def _manifests(directory: Path, *, pinned: tuple[str, ...], unpinned: tuple[str, ...]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in pinned:
        (directory / f"{name}.yaml").write_text(BASE.format(name=name) + PIN.format(sha="c" * 64))
    for name in unpinned:
        (directory / f"{name}.yaml").write_text(BASE.format(name=name) + "model: {}\n")
    return directory


def _synth(tmp_path: Path, *context: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1"}
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    args = [a for c in context for a in ("-c", c)]
    return subprocess.run(
        ["npx", "cdk", "synth", "--quiet", *args, "-o", str(tmp_path / "cdk.out")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _stacks(tmp_path: Path) -> set[str]:
    return {
        p.name.removesuffix(".template.json")
        for p in (tmp_path / "cdk.out").glob("*.template.json")
    }


@pytest.mark.slow
def test_every_environment_without_env_context(tmp_path: Path) -> None:
    envdir = _manifests(tmp_path / "envs", pinned=("dev", "prod"), unpinned=("staging",))
    result = _synth(tmp_path, f"envdir={envdir}")
    assert result.returncode == 0, result.stderr
    assert _stacks(tmp_path) == {
        "SageMakerPlatform-123456789012-us-east-1",
        "SageMakerEndpoint-dev",
        "SageMakerEndpoint-prod",
    }
    # The unpinned environment says why it has no endpoint stack.
    assert "environment 'staging' has no model pin" in result.stderr + result.stdout


@pytest.mark.slow
def test_env_context_selects_one_environment_and_its_platform(tmp_path: Path) -> None:
    envdir = _manifests(tmp_path / "envs", pinned=("dev", "prod"), unpinned=())
    result = _synth(tmp_path, f"envdir={envdir}", "env=prod")
    assert result.returncode == 0, result.stderr
    assert _stacks(tmp_path) == {
        "SageMakerPlatform-123456789012-us-east-1",
        "SageMakerEndpoint-prod",
    }


def test_bad_manifest_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    envdir = _manifests(tmp_path / "envs", pinned=("dev",), unpinned=())
    path = envdir / "dev.yaml"
    path.write_text(path.read_text().replace("2048", "2000"))
    result = _synth(tmp_path, f"envdir={envdir}")
    assert result.returncode != 0
    assert (
        f"error: {path}: serverless.memory_size_mb: must be 1024–6144 in steps of 1024, got 2000"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "jsii" not in result.stderr.lower()
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_unknown_env_context_is_a_clear_error(tmp_path: Path) -> None:
    envdir = _manifests(tmp_path / "envs", pinned=("dev",), unpinned=())
    result = _synth(tmp_path, f"envdir={envdir}", "env=qa")
    assert result.returncode != 0
    assert "error: unknown environment 'qa'; known: dev" in result.stderr
    assert "Traceback" not in result.stderr


def test_training_and_inference_do_not_import_aws_cdk() -> None:
    code = (
        "import sys, training, inference, inference.inference, smlocal.core.pins, smlocal.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aws_cdk', 'jsii')))"
    )
    result = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-c", code], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
