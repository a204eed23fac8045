"""The CLI's manners: expected failures are one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.ports import free_port

SMLOCAL = str(Path(sys.executable).with_name("smlocal"))


def test_a_cloud_that_does_not_answer_is_one_line_naming_the_url() -> None:
    url = f"http://localhost:{free_port()}"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = subprocess.run(
        [SMLOCAL, "predict", "--env", "dev", "--n", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot reach {url}/" in lines[0]
    assert "smlocal cloud start" in lines[0]


def test_version() -> None:
    result = subprocess.run([SMLOCAL, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    from importlib.metadata import version

    assert result.stdout.strip() == f"smlocal {version('smlocal')}"
