"""Running a SageMaker SDK script (v2 in `.venv-sdk`, v3 in `.venv-sdk3`) against the local
cloud with nothing but `smlocal cloud env`'s environment, and reading the one JSON line of
what it saw."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers import ROOT

SDK_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"
SDK3_PYTHON = ROOT / ".venv-sdk3" / "bin" / "python"


def mnist_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """(data dir with the digits split as MNIST IDX files, source dir of the training script)."""
    from training.data import prepare
    from training.sourcedir import sourcedir_files

    data_dir, source_dir = tmp_path / "data", tmp_path / "source"
    prepare(data_dir, "digits", echo=lambda _line: None)
    source_dir.mkdir()
    for name, path in sourcedir_files().items():
        shutil.copy(path, source_dir / name)
    return data_dir, source_dir


def run_script(
    python: Path,
    script: Path,
    args: list[str],
    cloud_env: dict[str, str],
    home: Path,
    marker: str,
    timeout_s: float = 540,
    telemetry_opt_out: bool = True,
) -> dict[str, Any]:
    """Run `script` with the SDK's `python`, HOME `home` and the cloud's environment only; the
    last JSON object on stdout that starts with `marker` (the SDK's progress output may share
    its line). Fails with the script's output if it exits non-zero or prints none.

    `telemetry_opt_out` writes the SDK's own config file that turns its telemetry off. With a
    config file, SDK v2 validates it against its JSON schema at every lookup of a default (65
    times in `batch_jobs.py`: more than half its time, measured); without, its telemetry GETs go
    to `*.amazonaws.com` through the cloud's proxy, i.e. to the cloud's S3 (an unsigned GET:
    403), nowhere else, and must be answered: `requests` trusts the cloud's CA through the
    bundle `cloud env` exports, so no `sagemaker.telemetry` exception is logged."""
    if telemetry_opt_out:
        config = home / ".config" / "sagemaker" / "config.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
            "      TelemetryOptOut: true\n"
        )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        **cloud_env,  # nothing else: no hook, no session built by hand
    }
    done = subprocess.run(
        [str(python), str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    output = done.stdout[-4000:] + done.stderr[-4000:]
    assert done.returncode == 0, output
    if not telemetry_opt_out:
        assert "Request exception" not in done.stderr, done.stderr[-4000:]  # the SDK's telemetry
    lines = [line[line.index(marker) :] for line in done.stdout.splitlines() if marker in line]
    assert lines, output
    return json.loads(lines[-1])
