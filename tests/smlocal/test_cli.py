"""The CLI's manners: expected failures are one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import os

from tests.helpers.cli import SMLOCAL, one_line_refusal, run
from tests.helpers.ports import free_port


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
    line = one_line_refusal(run([SMLOCAL, "predict", "--env", "dev", "--n", "1"], env=env))
    assert f"cannot reach {url}/" in line
    assert "smlocal cloud start" in line


def test_version() -> None:
    result = run([SMLOCAL, "--version"], timeout=60)
    assert result.returncode == 0, result.stderr
    from importlib.metadata import version

    assert result.stdout.strip() == f"smlocal {version('smlocal')}"
