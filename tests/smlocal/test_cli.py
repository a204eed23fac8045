"""The CLI's manners: expected failures are one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import SMLOCAL, one_line_refusal, run
from tests.helpers.moto import key_checking_moto_server
from tests.helpers.ports import free_port


def _shell(tmp_path: Path, **variables: str) -> dict[str, str]:
    """A shell without the cloud's environment or any AWS setting (no profile, no instance
    metadata), whose state dir holds no cloud, plus `variables`."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SMLOCAL_")) and not name.lower().endswith("_proxy")
    }
    return {
        **kept,
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SMLOCAL_STATE_DIR": str(tmp_path / "no-cloud"),
        **variables,
    }


def test_a_cloud_that_does_not_answer_is_one_line_naming_the_url(tmp_path: Path) -> None:
    url = f"http://localhost:{free_port()}"
    env = _shell(
        tmp_path,
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEEXAMPLE00",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
    )
    line = one_line_refusal(run([SMLOCAL, "predict", "--env", "dev", "--n", "1"], env=env))
    assert line.endswith(
        f"cannot reach {url}: no local cloud answers there (smlocal cloud start --detach; "
        f'eval "$(smlocal cloud env)")'
    )


@pytest.mark.parametrize(
    "command",
    [["predict", "--env", "dev", "--n", "1"], ["train", "--env", "dev", "--data", "s3://b-1/d"]],
    ids=["predict", "train"],
)
def test_no_credentials_and_no_cloud_is_one_line_with_the_fix(
    tmp_path: Path, command: list[str]
) -> None:
    line = one_line_refusal(run([SMLOCAL, *command], env=_shell(tmp_path)))
    assert line == (
        "error: no AWS credentials, and no local cloud answers at http://localhost:4566 (for "
        'the local cloud: smlocal cloud start --detach; eval "$(smlocal cloud env)"; for AWS: '
        "a profile or AWS_ACCESS_KEY_ID)"
    )


@pytest.fixture(scope="module")
def aws_stand_in() -> Iterator[str]:
    with key_checking_moto_server() as url:
        yield url


@pytest.mark.parametrize(
    ("command", "code", "reason"),
    [
        (
            ["predict", "--env", "dev", "--n", "1"],
            "InvalidClientTokenId",  # CloudFormation's DescribeStacks
            "The security token included in the request is invalid",
        ),
        (
            ["train", "--env", "dev", "--data", "s3://b-1/d"],
            "InvalidAccessKeyId",  # S3's PutObject of the sourcedir
            "The AWS Access Key Id you provided does not exist in our records",
        ),
    ],
    ids=["predict", "train"],
)
def test_a_key_aws_refuses_is_one_line_with_its_reason(
    tmp_path: Path, aws_stand_in: str, command: list[str], code: str, reason: str
) -> None:
    env = _shell(
        tmp_path,
        AWS_ENDPOINT_URL=aws_stand_in,
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEEXAMPLE00",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
    )
    line = one_line_refusal(run([SMLOCAL, *command], env=env))
    assert line == (
        f"error: {aws_stand_in} refused this shell's key ({code}): {reason}; check the profile "
        "or AWS_ACCESS_KEY_ID"
    )


def test_version() -> None:
    result = run([SMLOCAL, "--version"], timeout=60)
    assert result.returncode == 0, result.stderr
    from importlib.metadata import version

    assert result.stdout.strip() == f"smlocal {version('smlocal')}"


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subcommands = getattr(command, "commands", {})
    found = [path]
    for name, sub in subcommands.items():
        found += _command_paths(sub, (*path, name))
    return found


def test_flags_show_no_value_placeholder_in_help() -> None:
    import typer
    from typer.testing import CliRunner

    from smlocal.cli import app

    paths = _command_paths(typer.main.get_command(app))
    assert ("train",) in paths and ("cloud", "start") in paths
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
    train = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    lines = {line.split()[1]: line for line in train.splitlines() if line.startswith("│  ")}
    assert "<int>" in lines["--epochs"]  # options that take a value still name its type
    assert lines["--wait"].split()[2] == "Wait,"  # a flag: its help right after its name
