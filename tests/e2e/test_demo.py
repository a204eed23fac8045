"""`smlocal demo` end to end, on copied manifests: every step runs, the accuracy is printed, and
nothing is left behind; a failing step is named with its reason and cleaned up after."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from localcloud.shared.processes import processes_under
from smlocal.core.manifest import ModelPin
from smlocal.core.pins import write_pin
from smlocal.demo import Demo, StepFailed, run_demo
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def envdir(tmp_path: Path) -> Path:
    directory = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", directory)
    return directory


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120, highlight=False), out


def test_the_demo_runs_every_step_prints_the_accuracy_and_leaves_nothing(envdir, tmp_path):
    original = (envdir / "dev.yaml").read_text()
    screen, out = console()

    demo = run_demo(
        envdir=envdir, data_dir=tmp_path / "mnist", epochs=1, instance_count=2, console=screen
    )

    text = out.getvalue()
    for n in range(1, 10):
        assert f"step {n}/9:" in text
    assert [title for title, _ in demo.timings] == [
        "start the local cloud",
        "prepare the training data",
        "cdk deploy the platform stack (role and default bucket)",
        "train on 2 instances and pin the model",
        "cdk deploy dev (serverless endpoint)",
        "predict 16 test images",
        "accuracy on the whole test split",
        "status: deployed vs manifest",
        "cdk destroy dev",
    ]
    assert "world_size=2" in text  # the job really ran on two hosts
    assert "dev is in sync with its manifest" in text
    assert "SageMakerEndpoint-dev: destroyed" in text
    printed = re.search(r"test accuracy: ([\d.]+)% on 360 images", text)
    assert printed is not None
    assert demo.accuracy is not None and 0.0 <= demo.accuracy <= 1.0
    assert float(printed.group(1)) == pytest.approx(demo.accuracy * 100, abs=0.01)
    assert (envdir / "dev.yaml").read_text() == original  # the pin is reverted
    assert not demo.state_dir.exists()
    assert processes_under(demo.state_dir) == []


def test_a_failing_step_is_named_with_its_reason_and_cleaned_up(envdir, tmp_path):
    original = (envdir / "dev.yaml").read_text()
    screen, out = console()

    with pytest.raises(StepFailed) as failed:
        run_demo(envdir=envdir, data_dir=tmp_path / "mnist", instance_count=0, console=screen)

    message = str(failed.value)
    assert message.startswith("step 4/9 (train on 0 instances and pin the model) failed: ")
    assert "instance count must be 1–100, got 0" in message
    text = out.getvalue()
    assert "✓ cdk destroy" in text  # the platform stack of step 3 is destroyed
    assert "✓ stop the local cloud" in text
    assert (envdir / "dev.yaml").read_text() == original
    state_dirs = re.findall(r"state (/\S+?)\)", text)
    assert state_dirs and not Path(state_dirs[0]).exists()
    assert processes_under(Path(state_dirs[0])) == []


@pytest.mark.parametrize("keep", [False, True])
def test_the_pin_is_reverted_unless_kept(envdir, keep):
    original = (envdir / "dev.yaml").read_text()
    demo = Demo(envdir=envdir, keep_pin=keep, console=console()[0])
    url = "s3://sagemaker-us-east-1-123456789012/j/model.tar.gz"
    write_pin(envdir / "dev.yaml", ModelPin(model_data_url=url, sha256="b" * 64))
    demo.cleanups.append(("revert the demo's pin", demo.revert_pin))

    assert demo.close() == []

    text = (envdir / "dev.yaml").read_text()
    assert (text == original) is not keep
    assert (url in text) is keep
    assert not demo.state_dir.exists()
