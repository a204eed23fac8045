"""notebooks/walkthrough.ipynb, every cell executed (nbclient, a kernel of the SDK's venv)
against the local cloud, with nothing but `smlocal cloud env`'s environment set before the
kernel starts, as `eval "$(smlocal cloud env)"; jupyter lab` would give it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud import control
from tests.helpers.cloud import ROLE_NAME, SAGEMAKER_TRUST, TESTS_POLICY, Cloud, create_role

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"
SDK_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"
EXECUTE = """
import sys
import nbformat
from nbclient import NotebookClient

notebook = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(notebook, timeout=540, kernel_name="python3",
                        resources={"metadata": {"path": sys.argv[2]}})
try:
    client.execute()
finally:
    nbformat.write(notebook, sys.argv[3])
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not SDK_PYTHON.exists(),
        reason="the SageMaker SDK venv .venv-sdk is absent here; `make sdk-setup` builds it "
        "(CI does)",
    ),
]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    state_dir = tmp_path / "cloud"
    record = control.start_detached(state_dir, 0)
    try:
        made = Cloud(Path(record["state_dir"]), int(record["port"]))
        # The role the notebook passes: its first cell has the platform stack make it.
        create_role(made.client("iam"), ROLE_NAME, SAGEMAKER_TRUST, TESTS_POLICY)
        yield made.state_dir, made.port
    finally:
        assert control.stop(state_dir) is not None


def _outputs(notebook: dict) -> str:
    text = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output.get("name") == "stdout":
                text.append("".join(output["text"]))
            elif output.get("output_type") == "error":
                text.append(f"{output['ename']}: {output['evalue']}")
    return "".join(text)


def test_the_notebook_runs_against_the_local_cloud(cloud: tuple[Path, int], tmp_path: Path) -> None:
    from training.data import prepare
    from training.sourcedir import sourcedir_files

    state_dir, port = cloud
    # A checkout's layout as the notebook sees it from notebooks/: ../data/mnist (what
    # `smlocal data prepare` writes), ../training/mnist.py, ../inference/inference.py.
    work = tmp_path / "project"
    (work / "notebooks").mkdir(parents=True)
    prepare(work / "data" / "mnist", "digits", echo=lambda _line: None)
    for name, path in sourcedir_files().items():
        room = work / ("inference" if name == "inference.py" else "training")
        room.mkdir(exist_ok=True)
        shutil.copy(path, room / name)
    # No SDK config file either: its telemetry GETs (to an amazonaws.com name) reach the
    # cloud's proxy too and are answered by the cloud's S3, without leaving the machine.
    env = {
        "PATH": f"{SDK_PYTHON.parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        **control.running_environment(state_dir, port),
    }
    executed = tmp_path / "executed.ipynb"
    done = subprocess.run(
        [str(SDK_PYTHON), "-c", EXECUTE, str(NOTEBOOK), str(work / "notebooks"), str(executed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=580,
    )
    printed = _outputs(json.loads(executed.read_text())) if executed.exists() else ""
    assert done.returncode == 0, printed[-4000:] + done.stderr[-4000:]

    assert "bucket: sagemaker-us-east-1-123456789012" in printed
    assert "role: arn:aws:iam::123456789012:role/SageMaker-local" in printed
    assert "model: s3://sagemaker-us-east-1-123456789012/" in printed
    # (The SDK's progress marks share a line with the first label.)
    labelled = re.findall(r"label (\d)  predicted (\d)", printed)
    assert len(labelled) == 16, printed[-4000:]
    right = sum(label == guess for label, guess in labelled)
    assert f"{right} of 16 right" in printed
    assert re.search(r"serverless predicted: \[(\d\s*){16}\]", printed), printed[-2000:]
    sagemaker = control.client("sagemaker", port, state_dir)
    assert sagemaker.list_endpoints()["Endpoints"] == []  # both deleted by the notebook
