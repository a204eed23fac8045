"""The local cloud for a project of one's own: smlocal installed outside any checkout (its
packages alone on the path, as `pip install` leaves them in site-packages), started from the
user's own folder, found by later commands without --state-dir, and reached by a boto3 script
of that folder through nothing but the environment `smlocal cloud env` prints."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

from tests.helpers import ROOT
from tests.helpers.cli import one_line_refusal, run

PACKAGES = ("smlocal", "localcloud", "training", "inference", "stacks")  # pyproject's list
APP = """
import json, boto3
s3 = boto3.client("s3")
s3.create_bucket(Bucket="my-own-project")
s3.put_object(Bucket="my-own-project", Key="hello.txt", Body=b"hi")
body = s3.get_object(Bucket="my-own-project", Key="hello.txt")["Body"].read().decode()
# An AWS endpoint named in code reaches the cloud too, through HTTPS_PROXY.
sts = boto3.client("sts", endpoint_url="https://sts.us-east-1.amazonaws.com")
print(json.dumps({"account": sts.get_caller_identity()["Account"], "body": body}))
"""


def test_a_standalone_install_keeps_its_cloud_in_the_users_state_folder(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    home, project = tmp_path / "home", tmp_path / "my-project"
    project.mkdir()
    shell = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SMLOCAL_", "XDG_")) and not name.lower().endswith("_proxy")
    }
    shell |= {
        "HOME": str(home),
        "PYTHONPATH": str(site),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    smlocal = [sys.executable, "-c", "from smlocal.cli import main; main()"]
    state = home / ".local" / "state" / "smlocal" / "cloud"

    started = run([*smlocal, "cloud", "start", "--detach", "--port", "0"], env=shell, cwd=project)
    try:
        assert started.returncode == 0, started.stderr
        assert 'point clients at it: eval "$(smlocal cloud env)"' in started.stdout
        port = json.loads((state / "server.json").read_text())["port"]
        # Before the shell has the environment, smlocal says how to give it.
        refused = run(
            [*smlocal, "predict", "--env", "dev", "--envdir", str(ROOT / "environments")],
            env=shell,
            cwd=project,
        )
        assert one_line_refusal(refused) == (
            "error: no AWS credentials in this shell; the local cloud answers on "
            f'http://localhost:{port}: eval "$(smlocal cloud env)"'
        )

        printed = run([*smlocal, "cloud", "env"], env=shell, cwd=project)
        assert printed.returncode == 0, printed.stderr
        exported = dict(item.split("=", 1) for item in shlex.split(printed.stdout)[1:])
        assert exported["SMLOCAL_STATE_DIR"] == str(state)
        user = shell | exported

        (project / "app.py").write_text(APP)
        app = run([sys.executable, "app.py"], env=user, cwd=project)
        assert app.returncode == 0, app.stderr
        assert json.loads(app.stdout) == {"account": "123456789012", "body": "hi"}
    finally:
        stopped = run([*smlocal, "cloud", "stop"], env=shell, cwd=project)
    assert stopped.stdout.startswith(f"stopped the local cloud on http://localhost:{port}")
    # The state (objects, the CA's key, the database) in the user's folder, none beside the code.
    assert {"state.db", "ca-key.pem", "credentials.json", "objects"} <= {
        p.name for p in state.iterdir()
    }
    assert not list(site.rglob(".smlocal"))
