"""One local cloud for the SDK tests (v2 and v3 alike), started as a user would start it, and
`smlocal cloud env`'s environment as the only way clients find it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud import control
from tests.helpers.cloud import ROLE_NAME, SAGEMAKER_TRUST, TESTS_POLICY, Cloud, create_role

CLI = "from smlocal.cli import main; main()"


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    state_dir = tmp_path_factory.mktemp("clients") / "cloud"
    record = control.start_detached(state_dir, 0)
    try:
        made = Cloud(Path(record["state_dir"]), int(record["port"]))
        # The execution role the walkthroughs pass, made as the PlatformStack makes it on AWS.
        create_role(made.client("iam"), ROLE_NAME, SAGEMAKER_TRUST, TESTS_POLICY)
        yield made.state_dir, made.port
    finally:
        assert control.stop(state_dir) is not None


@pytest.fixture
def cloud_env(cloud: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`eval "$(smlocal cloud env)"`, run as a user would, applied to this process."""
    state_dir, _ = cloud
    out = subprocess.run(
        [sys.executable, "-c", CLI, "cloud", "env", "--state-dir", state_dir],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("export ")
    variables = dict(item.split("=", 1) for item in shlex.split(out)[1:])
    for name in [n for n in os.environ if n.startswith("AWS_") or n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables
