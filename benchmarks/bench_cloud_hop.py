"""Local cloud hop benchmark: the same boto3 `invoke_endpoint` code, the same model, body and
worker count, sent (a) through the local cloud (SigV4 check, moto's dispatch, the forward to
the endpoint's serving process) and (b) straight to `python -m inference.server` on its
runtime API path (`/endpoints/{name}/invocations`, what `smlocal serve` answers).

    python benchmarks/bench_cloud_hop.py [--rounds 3] [--sequential 500] [--requests 2000]

Per round, interleaved (the order rotates): p50/p99 one call at a time, requests/s with
`--concurrency` threads (one boto3 client each, keep-alive), the cloud's added p50 and the
load average; at the end the medians and the range over rounds. Not run in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import numpy as np  # noqa: E402
from botocore.config import Config  # noqa: E402

from localcloud.shared.processes import processes_under  # noqa: E402
from tests.helpers import cloud as clouds  # noqa: E402
from tests.helpers.models import build_model_dir, model_archive  # noqa: E402
from tests.helpers.ports import free_port  # noqa: E402

ENDPOINT = "bench-hop"


def percentile_ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1e3


def runtime_client(url: str, key: Any, pool: int) -> Any:
    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=pool)
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=config,
    )


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes (those still alive)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(
    make_client: Callable[[], Any],
    body: bytes,
    args: argparse.Namespace,
    server_pids: Callable[[], list[int]],
) -> dict:
    """p50/p99 one call at a time, then requests/s from `--concurrency` threads, with the CPU
    the server side spent per call under load (robust to neighbours, unlike wall time)."""

    def call(client: Any) -> None:
        answer = client.invoke_endpoint(
            EndpointName=ENDPOINT, Body=body, ContentType="application/json"
        )
        answer["Body"].read()

    client = make_client()
    for _ in range(100):  # warm up: connections, botocore's caches, the workers
        call(client)
    latencies = []
    for _ in range(args.sequential):
        start = time.perf_counter()
        call(client)
        latencies.append(time.perf_counter() - start)
    clients = [make_client() for _ in range(args.concurrency)]
    for each in clients:
        call(each)
    per_thread = args.requests // args.concurrency
    errors: list[BaseException] = []

    def worker(each: Any) -> None:
        try:
            for _ in range(per_thread):
                call(each)
        except Exception as err:  # reported below: a benchmark with errors has no figure
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    pids = server_pids()
    used = cpu_s(pids)
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    used = cpu_s(pids) - used
    if errors:
        raise RuntimeError(f"{len(errors)} threads failed: {errors[0]!r}")
    return {
        "p50_ms": percentile_ms(latencies, 50),
        "p99_ms": percentile_ms(latencies, 99),
        "rps": per_thread * args.concurrency / elapsed,
        "cpu_ms": used / (per_thread * args.concurrency) * 1e3,
    }


def session_pids(session: int) -> list[int]:
    """The live processes of a session: a server and its workers."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            pids.append(int(stat.parent.name))
    return pids


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def spread(values: list[float], unit: str) -> str:
    return f"{statistics.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})"


@contextlib.contextmanager
def deployed(workers: int, body: bytes) -> Iterator[tuple[clouds.Cloud, str, Any, int]]:
    """A local cloud with endpoint ENDPOINT (`workers` instances: one serving worker each) and
    the same model served directly by `inference.server --workers`: (cloud, direct URL, key,
    the direct server's pid, which leads its session). Both are stopped on the way out."""
    with tempfile.TemporaryDirectory(prefix="bench-hop-") as tmp:
        cloud = clouds.start_cloud(Path(tmp) / "cloud")
        direct: subprocess.Popen | None = None
        try:
            s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
            s3.create_bucket(Bucket=clouds.BUCKET)
            url = clouds.put_model(s3, "bench/model.tar.gz", model_archive())
            sagemaker.create_model(
                ModelName=ENDPOINT,
                ExecutionRoleArn=clouds.ROLE_ARN,
                PrimaryContainer={
                    "Image": clouds.PYTORCH_IMAGE,
                    "ModelDataUrl": url,
                    "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
                },
            )
            variant = {"VariantName": "AllTraffic", "ModelName": ENDPOINT}
            variant.update(InitialInstanceCount=workers, InstanceType="ml.m5.xlarge")
            sagemaker.create_endpoint_config(
                EndpointConfigName=ENDPOINT, ProductionVariants=[variant]
            )
            sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
            clouds.wait_endpoint(sagemaker, ENDPOINT, timeout_s=300)
            port = free_port()
            model_dir = build_model_dir(Path(tmp) / "m")
            command = [sys.executable, "-m", "inference.server", "--model-dir", str(model_dir)]
            command += ["--port", str(port), "--workers", str(workers)]
            direct = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
            key = clouds.credentials(cloud.state_dir)
            direct_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while True:  # ready when the runtime path answers
                try:
                    runtime_client(direct_url, key, 1).invoke_endpoint(
                        EndpointName=ENDPOINT, Body=body, ContentType="application/json"
                    )
                    break
                except Exception:
                    if time.monotonic() > deadline or direct.poll() is not None:
                        raise
                    time.sleep(0.3)
            yield cloud, direct_url, key, direct.pid
        finally:
            if direct is not None:
                os.killpg(direct.pid, signal.SIGTERM)
                direct.wait(30)
            clouds.stop_cloud(cloud)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=500, help="calls one at a time")
    parser.add_argument("--requests", type=int, default=2000, help="calls under load")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0, help="[default: CPUs]")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop what was started
    workers = args.workers or len(os.sched_getaffinity(0))
    image = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28), dtype=np.uint8)
    body = json.dumps(image.tolist()).encode()
    print(f"{len(os.sched_getaffinity(0))} cores, load average {load()}; {workers} workers each")
    with deployed(workers, body) as (cloud, direct_url, key, direct_pid):
        contenders = {
            "direct (inference.server)": lambda: runtime_client(direct_url, key, 1),
            "through the local cloud": lambda: runtime_client(cloud.url, key, 1),
        }
        names = list(contenders)
        pids = {  # the server side of each: its processes, found again each round
            names[0]: lambda: session_pids(direct_pid),
            names[1]: lambda: processes_under(cloud.state_dir),
        }
        samples: dict[str, list[dict]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in names[round_ % 2 :] + names[: round_ % 2]:
                row = measure(contenders[name], body, args, pids[name])
                samples[name].append(row)
                print(
                    f"  round {round_ + 1}: {name:<26} p50 {row['p50_ms']:5.2f} ms  "
                    f"p99 {row['p99_ms']:6.2f} ms | c={args.concurrency}: "
                    f"{row['rps']:5.0f} req/s | server-side CPU/call {row['cpu_ms']:.2f} ms"
                )
            d, c = samples[names[0]][-1], samples[names[1]][-1]
            print(
                f"  round {round_ + 1}: the cloud adds {c['p50_ms'] - d['p50_ms']:.2f} ms p50 and "
                f"{c['cpu_ms'] - d['cpu_ms']:.2f} ms CPU/call; requests/s "
                f"{c['rps'] / d['rps']:.2f}x direct; load average {load()}"
            )
    d_rows, c_rows = samples[names[0]], samples[names[1]]
    print(f"\nmedians (min-max) of {args.rounds} rounds:")
    for name in names:
        rows = samples[name]
        print(
            f"{name:<26} p50 {spread([r['p50_ms'] for r in rows], ' ms')}  "
            f"p99 {spread([r['p99_ms'] for r in rows], ' ms')} | "
            f"c={args.concurrency}: {spread([r['rps'] for r in rows], ' req/s')} | "
            f"CPU/call {spread([r['cpu_ms'] for r in rows], ' ms')}"
        )
    added = [c["p50_ms"] - d["p50_ms"] for c, d in zip(c_rows, d_rows, strict=True)]
    print(f"p50 added by the cloud's hop: {spread(added, ' ms')}")
    added_cpu = [c["cpu_ms"] - d["cpu_ms"] for c, d in zip(c_rows, d_rows, strict=True)]
    print(f"server-side CPU per call added by the cloud's hop: {spread(added_cpu, ' ms')}")
    print(f"load average {load()} at end (other processes share these cores)")


if __name__ == "__main__":
    main()
