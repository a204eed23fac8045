"""The import contracts of pyproject.toml (docs/DEVELOPING.md's layers) hold, and they catch a
broken rule: each case plants one forbidden import in a copy of the tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("smlocal", "stacks", "training", "inference", "localcloud")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, to break one rule in."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_project_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("smlocal/core/naming.py", "import localcloud", "CLI > application > local cloud"),
        ("training/submit.py", "import aws_cdk", "training and inference run in containers"),
        (
            "inference/server.py",
            "import localcloud.dataplane.training",
            "training and inference run in",
        ),
        ("stacks/endpoint_stack.py", "import training.spec", "stacks only declare"),
        ("smlocal/core/catalog.py", "import torch", "the core stays light"),
        ("inference/inference.py", "import boto3", "inference/inference.py (shipped in"),
        (
            "localcloud/dataplane/training.py",
            "import smlocal.demo",
            "CLI > application > local cloud",
        ),
        ("localcloud/shared/bodies.py", "import localcloud.gateway", "local cloud: entry >"),
        ("localcloud/services/runtime/invoke.py", "import localcloud.services.sagemaker", "each"),
    ],
)
def test_a_broken_rule_is_caught(tree: Path, module: str, planted: str, contract: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{planted}  # planted by the test\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
    assert module.removesuffix(".py").replace("/", ".") in broken
