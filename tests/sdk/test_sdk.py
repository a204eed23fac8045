"""The SageMaker Python SDK v2, unmodified, against the local cloud: fit on 2 instances, deploy,
predict, delete, and a serverless deploy. The SDK lives in its own venv (`make sdk-setup`);
its pins would fight the project's, and it needs no torch: it only talks to the cloud."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud import control
from tests.helpers.cloud import running_cloud

ROOT = Path(__file__).resolve().parents[2]
SDK_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"
WALKTHROUGH = Path(__file__).with_name("walkthrough.py")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not SDK_PYTHON.exists(),
        reason="the SageMaker SDK venv .venv-sdk is absent here; `make sdk-setup` builds it "
        "(CI does)",
    ),
]


@pytest.fixture
def cloud_port(tmp_path: Path) -> Iterator[int]:
    with running_cloud(tmp_path / "cloud") as cloud:
        yield cloud.port


def test_the_pytorch_mnist_walkthrough_runs_unmodified(cloud_port: int, tmp_path: Path) -> None:
    state_dir = tmp_path / "cloud"
    from training.data import prepare
    from training.sourcedir import sourcedir_files

    data_dir, source_dir = tmp_path / "data", tmp_path / "source"
    prepare(data_dir, "digits", echo=lambda _line: None)
    source_dir.mkdir()
    for name, path in sourcedir_files().items():
        shutil.copy(path, source_dir / name)

    # No telemetry calls to AWS from a machine that is not on it (the SDK's own config file).
    config = tmp_path / ".config" / "sagemaker" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
        "      TelemetryOptOut: true\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        **control.environment(cloud_port, state_dir),
    }
    done = subprocess.run(
        [str(SDK_PYTHON), str(WALKTHROUGH), str(source_dir), str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    # The SDK's progress dots share the line: the result starts at its own brace.
    marker = '{"bucket"'
    result = [line[line.index(marker) :] for line in done.stdout.splitlines() if marker in line]
    assert result, done.stdout[-4000:] + done.stderr[-4000:]
    seen = json.loads(result[-1])
    assert seen["bucket"] == "sagemaker-us-east-1-123456789012"
    assert seen["job_status"] == "Completed"
    assert seen["model_data"].startswith("s3://sagemaker-us-east-1-123456789012/")
    assert seen["realtime_shape"] == [2, 10]
    assert seen["serverless_shape"] == [2, 10]

    sagemaker = control.client("sagemaker", cloud_port, state_dir)
    assert sagemaker.list_endpoints()["Endpoints"] == []  # both deleted through the SDK
