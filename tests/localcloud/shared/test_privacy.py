"""The state dir holds every key the cloud issued: it and everything the cloud writes in it are
its user's alone (0700 / 0600), another user cannot read a byte of it, and the cloud refuses to
start on a state dir others can read, saying in one line how to fix it."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from localcloud.shared.privacy import StateDirOpen, private_state_dir
from tests.helpers.cli import one_line_refusal, run
from tests.helpers.cloud import (
    BUCKET,
    create_model_and_config,
    put_model,
    training_request,
    upload_sourcedir,
    wait_endpoint,
    wait_job,
)
from tests.helpers.models import model_archive

NOBODY = 65534
ECHO = """\
def model_fn(model_dir):
    return None


def transform_fn(model, body, content_type, accept):
    return body, "text/plain"
"""
CLI = "from smlocal.cli import main; main()"

# Run as a training job: lists what of the job's own tree others could use, and fails if any.
AUDIT_SCRIPT = """\
import os, sys
from pathlib import Path

model = Path(os.environ["SM_MODEL_DIR"])
(model / "model.pth").write_bytes(b"weights")
work = model.parents[1]  # the job's folder: shared/ (code, data), algo-1/ (its /opt/ml)
found = [f"{p} {p.lstat().st_mode & 0o777:o}" for p in [work, *work.rglob("*")]
         if not p.is_symlink() and p.lstat().st_mode & 0o077]
print("open to others:", found, file=sys.stderr, flush=True)
sys.exit(1 if found else 0)
"""


def open_entries(state_dir: Path) -> list[str]:
    """Entries of the state dir that grant the group or others anything. What pip installs in a
    requirements overlay (`overlays/<digest>/...`) is left out: pip sets the modes of console
    scripts itself (0755), inside folders that are 0700."""
    found = []
    for path in [state_dir, *state_dir.rglob("*")]:
        parts = path.relative_to(state_dir).parts
        if path.is_symlink() or (parts[:1] == ("overlays",) and len(parts) > 2):
            continue
        mode = path.lstat().st_mode
        if mode & 0o077:
            found.append(f"{path.relative_to(state_dir)} {stat.S_IMODE(mode):04o}")
    return found


@pytest.mark.slow
def test_the_state_dir_stays_private_while_jobs_run_and_models_serve(
    cloud: Any, sagemaker: Any, s3: Any, training_inputs: str, tmp_path: Path
) -> None:
    script = tmp_path / "audit.py"
    script.write_text(AUDIT_SCRIPT)
    sourcedir = upload_sourcedir(s3, "code/audit/sourcedir.tar.gz", {"audit.py": script})
    request = training_request("private-tree", sourcedir, training_inputs, program="audit.py")
    sagemaker.create_training_job(**request)
    job = wait_job(sagemaker, "private-tree", timeout_s=120)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")

    url = put_model(s3, "models/private/model.tar.gz", model_archive(ECHO, weights=False))
    create_model_and_config(sagemaker, "private-model", url)
    sagemaker.create_endpoint(EndpointName="private-model", EndpointConfigName="private-model")
    try:
        assert wait_endpoint(sagemaker, "private-model")["EndpointStatus"] == "InService"
        state = cloud.state_dir
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        for name in ("state.db", "state.db-wal", "credentials.json", "ca-key.pem", "server.log"):
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
        served = list(state.glob("endpoints/*/*/private-model/*/AllTraffic/model/code/*.py"))
        assert served, "the endpoint's unpacked model"
        assert open_entries(state) == []
    finally:
        sagemaker.delete_endpoint(EndpointName="private-model")


def read_as_nobody(directory: Path, names: list[str]) -> dict[str, str]:
    """What uid 65534 gets opening each of `names` (relative paths) in `directory`: the error's
    name, or "read". It starts in `directory` itself, so the folders above (pytest's, private)
    are not in its way: the lookup needs the state dir's own search bit, then the file's."""
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, try, report, exit without running any cleanup
        outcome = {}
        try:
            os.close(readable)
            os.chdir(directory)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            for name in names:
                try:
                    with open(name, "rb") as f:
                        f.read(1)
                    outcome[name] = "read"
                except OSError as err:
                    outcome[name] = type(err).__name__
            os.write(writable, json.dumps(outcome).encode())
        finally:
            os._exit(0)
    os.close(writable)
    with os.fdopen(readable, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another uid needs root")
def test_another_user_cannot_read_the_state_dir(cloud: Any, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="secret.txt", Body=b"secret")  # a body under objects/
    body = next(p for p in (cloud.state_dir / "objects").iterdir() if not p.name.startswith("."))
    names = ["state.db", "state.db-wal", "credentials.json", f"objects/{body.name}"]
    assert read_as_nobody(cloud.state_dir, names) == dict.fromkeys(names, "PermissionError")


def test_a_state_dir_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    state = tmp_path / "cloud"
    state.mkdir(mode=0o755)
    state.chmod(0o755)  # as an older cloud left it
    refusal = one_line_refusal(
        run([sys.executable, "-c", CLI, "cloud", "start", "-d", "-p", "0", "--state-dir", state])
    )
    assert refusal == (
        f"error: the state dir {state} is open to other users (it is mode 0755) and holds the "
        f"cloud's keys; make it private with `chmod -R go-rwx {state}` and start again"
    )
    assert list(state.iterdir()) == []  # nothing written: no key, no log

    # A private dir with a file others can read in it (an older cloud's state.db) is refused
    # too, naming the file; the command it gives makes it private.
    state.chmod(0o700)
    (state / "state.db").write_bytes(b"")
    (state / "state.db").chmod(0o644)
    with pytest.raises(StateDirOpen, match=rf"\({state}/state.db is mode 0644\)"):
        private_state_dir(state)
    assert run(["chmod", "-R", "go-rwx", str(state)]).returncode == 0
    assert private_state_dir(state) == state


def test_the_server_refuses_an_open_state_dir_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from localcloud.server import serve

    state = tmp_path / "cloud"
    state.mkdir()
    state.chmod(0o750)
    with pytest.raises(SystemExit) as exited:
        serve(state, 0)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: the state dir {state} is open to other users (it is mode 0750)")
    assert list(state.iterdir()) == []
