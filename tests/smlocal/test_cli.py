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
