"""The rendezvous of a multi-host job listens on the job's host address only: nothing of the job
listens on every interface, and its port is not reachable through another address."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.ports import listening
from training.executor import TrainingRun
from training.spec import TrainingJobSpec

BUCKET = "sagemaker-us-east-1-123456789012"


def local_addresses() -> set[str]:
    """Every IPv4 address of this machine's interfaces (the kernel's LOCAL routes)."""
    lines = Path("/proc/net/fib_trie").read_text().splitlines()
    return {
        lines[i - 1].split()[-1] for i, line in enumerate(lines) if line.strip() == "/32 host LOCAL"
    }


def reachable(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=5).close()
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_the_rendezvous_listens_on_the_master_address_only(
    s3: Any, inputs: dict[str, str], tmp_path: Path
) -> None:
    request = TrainingJobSpec(
        job_name="rendezvous",
        role_arn="arn:aws:iam::123456789012:role/SageMaker-local",
        image_uri="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312",
        region="us-east-1",
        sourcedir_uri=inputs["sourcedir"],
        output_path=inputs["output"],
        channels={"training": inputs["data"]},
        instance_count=2,
        hyperparameters={"epochs": 50, "log-interval": 1},
    ).to_request()
    joined = threading.Semaphore(0)

    def on_log(host: str, line: str) -> None:
        if "world_size=2" in line:  # printed once init_process_group has returned
            joined.release()

    run = TrainingRun(request, work_dir=tmp_path / "work", s3_client=s3, on_log=on_log)
    run.start()
    try:
        for _ in range(2):
            assert joined.acquire(timeout=180), run.logs
        pids = run.pids
        environ = Path(f"/proc/{pids['algo-1']}/environ").read_bytes().split(b"\0")
        port = int(next(v for v in environ if v.startswith(b"MASTER_PORT=")).split(b"=")[1])

        assert reachable(run.addresses["algo-1"], port)
        others = (local_addresses() | {"127.0.0.9"}) - {run.addresses["algo-1"]}
        assert {a: reachable(a, port) for a in sorted(others)} == dict.fromkeys(
            sorted(others), False
        )
        sockets = listening(set(pids.values()))
        assert not [s for s in sockets if s[0] in ("0.0.0.0", "::")], sockets
        assert (run.addresses["algo-1"], port) in sockets  # the store, on algo-1's address
    finally:
        run.stop()
        assert run.wait(120)
