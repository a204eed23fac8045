"""Where the local cloud's CPU goes on an InvokeEndpoint, by stage: the cloud runs in this
process, a boto3 client in another process calls `invoke_endpoint` one call at a time, and each
stage of the request is timed with its thread's own CPU clock (`time.thread_time`), so a thread
that is runnable but preempted is not counted (py-spy's sampling counts it as running, which
on this machine put up to a third of the samples in `sendall`).

    python benchmarks/profile_stages.py [--calls 1500]

Stages (nested: each line's time includes the lines under it that name it):
whole request (http.server + werkzeug + everything below) > guard (+ the app) > SigV4 check;
DataPath (+ Endpoints.invoke) > moto's host, region and account reading; Endpoints.invoke >
the forward to the serving process. Not in CI.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from localcloud import server  # noqa: E402
from localcloud.dataplane import endpoints, serving  # noqa: E402
from localcloud.gateway import connections, guard  # noqa: E402
from localcloud.services.runtime import invoke  # noqa: E402
from localcloud.shared.credentials import credentials  # noqa: E402

CPU_S: collections.Counter[str] = collections.Counter()
CALLS: collections.Counter[str] = collections.Counter()

# The client: deploys one endpoint, warms up, says READY, waits for a line, calls, says DONE.
CLIENT = """
import json, sys, boto3, numpy as np
from botocore.config import Config
sys.path.insert(0, {root!r})
from tests.helpers import cloud as clouds
from tests.helpers.models import model_archive
kw = dict(endpoint_url={url!r}, region_name="us-east-1", aws_access_key_id={key_id!r},
          aws_secret_access_key={secret!r})
s3, sm = boto3.client("s3", **kw), boto3.client("sagemaker", **kw)
s3.create_bucket(Bucket=clouds.BUCKET)
iam = boto3.client("iam", **kw)  # the execution role the model runs as
clouds.create_role(iam, clouds.ROLE_NAME, clouds.SAGEMAKER_TRUST, clouds.TESTS_POLICY)
clouds.create_model_and_config(sm, "e", clouds.put_model(s3, "m/model.tar.gz", model_archive()))
sm.create_endpoint(EndpointName="e", EndpointConfigName="e")
clouds.wait_endpoint(sm, "e", timeout_s=300)
once = Config(retries={{"total_max_attempts": 1}})
runtime = boto3.client("sagemaker-runtime", config=once, **kw)
image = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28), dtype=np.uint8)
body = json.dumps(image.tolist()).encode()
def call():
    answer = runtime.invoke_endpoint(EndpointName="e", Body=body, ContentType="application/json")
    answer["Body"].read()
for _ in range(200):
    call()
print("READY", flush=True)
sys.stdin.readline()
for _ in range({calls}):
    call()
print("DONE", flush=True)
"""

STAGES = [
    ("whole request", "the request on its connection: http.server, werkzeug, and all below"),
    ("guard", "the guard and the app behind it"),
    ("sigv4", "  the SigV4 check"),
    ("datapath", "  DataPath and Endpoints.invoke"),
    ("scope", "    moto's host, region and account reading"),
    ("invoke", "    Endpoints.invoke"),
    ("forward", "      the forward to the serving process"),
]


def timed(owner: Any, name: str, stage: str) -> None:
    """Wrap `owner.name` so its thread CPU time adds to `stage`."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            CPU_S[stage] += time.thread_time() - began
            CALLS[stage] += 1

    setattr(owner, name, wrapper)


def instrument() -> None:
    timed(guard.Guard, "__call__", "guard")
    timed(guard, "authenticate", "sigv4")
    timed(invoke.DataPath, "__call__", "datapath")
    timed(invoke.DataPath, "_scope", "scope")
    timed(endpoints.Endpoints, "invoke", "invoke")
    timed(serving.ServingProcess, "invoke", "forward")
    keeping_alive = connections.keeping_alive

    def timed_handler(base: type) -> type:
        handler = keeping_alive(base)
        timed(handler, "handle_one_request", "whole request")
        return handler

    server.keeping_alive = timed_handler  # the name server.py calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1500)
    args = parser.parse_args()
    instrument()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # as `smlocal cloud start` runs it
    print(f"load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="profile-stages-") as tmp:
        cloud = server.LocalCloud(Path(tmp) / "cloud")
        cloud.start()
        try:
            key = credentials(cloud.state_dir)
            script = CLIENT.format(
                root=str(ROOT),
                url=f"http://localhost:{cloud.port}",
                key_id=key.access_key_id,
                secret=key.secret_access_key,
                calls=args.calls,
            )
            client = subprocess.Popen(
                [sys.executable, "-c", script],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert client.stdin is not None and client.stdout is not None
            if client.stdout.readline().strip() != "READY":
                sys.exit("the client could not deploy the endpoint")
            CPU_S.clear()
            CALLS.clear()
            before = os.times()
            client.stdin.write("\n")
            client.stdin.flush()
            if client.stdout.readline().strip() != "DONE":
                sys.exit("the client failed")
            client.wait(60)
            after = os.times()
        finally:
            cloud.stop()
    calls = CALLS["forward"] or 1
    process_ms = (after.user - before.user + after.system - before.system) / calls * 1e3
    print(f"{calls} calls; the cloud process: {process_ms:.3f} ms CPU per call")
    for stage, label in STAGES:
        print(f"  {label:<74} {CPU_S[stage] / calls * 1e3:6.3f} ms")
    print(
        "  (HTTP server alone: whole request - guard = "
        f"{(CPU_S['whole request'] - CPU_S['guard']) / calls * 1e3:.3f} ms)"
    )
    print(f"load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())} at end")


if __name__ == "__main__":
    main()
