"""No process outlives the local cloud: a `kill -9` of it takes its serving processes and
training hosts along, and a restart or `cloud stop` ends what they left (their own children)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud import control
from localcloud.shared.processes import pid_alive, processes_under
from tests.helpers.cloud import (
    BUCKET,
    Cloud,
    create_model_and_config,
    put_model,
    start_cloud,
    training_request,
    upload_sourcedir,
    wait_endpoint,
    wait_job,
)
from tests.helpers.models import model_archive

pytestmark = pytest.mark.slow

# A training script that starts a process of its own (as a data loader or a launcher does),
# which the host's death signal does not reach; it writes that child's pid for the test.
LAUNCHER = """\
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(sys.argv[sys.argv.index("--pid-file") + 1], "w") as f:
    f.write(str(child.pid))
print("launched", flush=True)
time.sleep(600)
"""


def _until(condition: Any, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _end_everything(state_dir: Path) -> None:
    """Whatever a failed test left running goes: no process outlives its test."""
    control.stop(state_dir, timeout_s=10)
    for pid in processes_under(state_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _start_job(cloud: Cloud, tmp_path: Path, name: str, pid_file: Path) -> None:
    s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
    script = tmp_path / "launcher.py"
    script.write_text(LAUNCHER)
    sourcedir = upload_sourcedir(s3, f"code/{name}.tar.gz", {"launcher.py": script})
    s3.put_object(Bucket=BUCKET, Key="data/x.txt", Body=b"x")
    request = training_request(
        name,
        sourcedir,
        f"s3://{BUCKET}/data",
        program="launcher.py",
        hyperparameters={"pid-file": str(pid_file)},
    )
    sagemaker.create_training_job(**request)
    _until(pid_file.exists, f"job {name} did not start its child")


def _kill_9(cloud: Cloud) -> int:
    record = control.read_record(cloud.state_dir)
    assert record is not None
    pid = int(record["pid"])
    os.kill(pid, signal.SIGKILL)
    _until(lambda: not pid_alive(pid), "the cloud survived SIGKILL")  # a process takes a moment
    return pid


def test_a_killed_cloud_takes_its_endpoint_and_job_along(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path / "state")
    try:
        s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        url = put_model(s3, "models/m/model.tar.gz", model_archive())
        create_model_and_config(sagemaker, "m", url)
        sagemaker.create_endpoint(EndpointName="orphan", EndpointConfigName="m")
        assert wait_endpoint(sagemaker, "orphan")["EndpointStatus"] == "InService"
        _start_job(cloud, tmp_path, "orphan-job", tmp_path / "child.pid")
        child = int((tmp_path / "child.pid").read_text())
        # The cloud, the serving process, the host and its child.
        assert len(processes_under(cloud.state_dir)) >= 4

        cloud_pid = _kill_9(cloud)
        _until(
            lambda: set(processes_under(cloud.state_dir)) <= {child},
            "a process of the killed cloud lives on",
            timeout_s=30,
        )
        assert not pid_alive(cloud_pid)
    finally:
        _end_everything(tmp_path / "state")


@pytest.mark.parametrize("how", ["restart", "stop"])
def test_what_a_killed_cloud_left_is_ended_by_a_restart_or_stop(tmp_path: Path, how: str) -> None:
    cloud = start_cloud(tmp_path / "state")
    try:
        cloud.client("s3").create_bucket(Bucket=BUCKET)
        _start_job(cloud, tmp_path, "launcher", tmp_path / "child.pid")
        child = int((tmp_path / "child.pid").read_text())
        _kill_9(cloud)
        # The host dies with the cloud; its own child is beyond the reach of a death signal.
        _until(lambda: processes_under(cloud.state_dir) == [child], "the host lives on")

        if how == "restart":
            cloud = start_cloud(cloud.state_dir)
            assert not pid_alive(child)
            described = cloud.client("sagemaker").describe_training_job(TrainingJobName="launcher")
            assert described["TrainingJobStatus"] == "Failed"
            assert control.stop(cloud.state_dir) is not None
        else:
            assert control.stop(cloud.state_dir) is None  # no cloud ran; its leftovers did
        assert processes_under(cloud.state_dir) == []
    finally:
        _end_everything(tmp_path / "state")


def _looping_sourcedir() -> bytes:
    """sourcedir.tar.gz whose links lead out of it (a copy that followed them would never end):
    refused at once, or stopped; either way the job ends."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        script = b"print('never runs')\n"
        info = tarfile.TarInfo("train.py")
        info.size = len(script)
        tar.addfile(info, io.BytesIO(script))
        for name, target in (("a", ".."), ("b", "../..")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tar.addfile(link)
    return out.getvalue()


def test_stop_and_max_runtime_end_a_job_that_copies_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grace, slack = 2, 15  # slack: a loaded machine's scheduling and the 0.5 s status poll
    monkeypatch.setenv("SMLOCAL_STOP_GRACE_S", str(grace))  # the cloud inherits it
    cloud = start_cloud(tmp_path / "state")
    try:
        s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="code/loop.tar.gz", Body=_looping_sourcedir())
        s3.put_object(Bucket=BUCKET, Key="data/x.txt", Body=b"x")
        source, data = f"s3://{BUCKET}/code/loop.tar.gz", f"s3://{BUCKET}/data"
        timed = training_request("loop-timed", source, data, program="train.py")
        timed["StoppingCondition"] = {"MaxRuntimeInSeconds": 5}
        sagemaker.create_training_job(**timed)
        sagemaker.create_training_job(**training_request("loop", source, data, program="train.py"))
        _until(
            lambda: (
                sagemaker.describe_training_job(TrainingJobName="loop")["SecondaryStatus"]
                != "Starting"
            ),
            "the job did not start downloading",
        )
        with contextlib.suppress(ClientError):  # a sourcedir with links may be refused at once
            sagemaker.stop_training_job(TrainingJobName="loop")

        stopped = wait_job(sagemaker, "loop", timeout_s=grace + slack)
        assert stopped["TrainingJobStatus"] in ("Stopped", "Failed")
        timed_out = wait_job(sagemaker, "loop-timed", timeout_s=5 + grace + slack)
        outcome = (timed_out["TrainingJobStatus"], timed_out["SecondaryStatus"])
        assert outcome in (("Stopped", "MaxRuntimeExceeded"), ("Failed", "Failed"))
        assert processes_under(cloud.state_dir / "jobs") == []  # nothing goes on copying
    finally:
        _end_everything(tmp_path / "state")
