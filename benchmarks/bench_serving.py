"""Serving benchmark: in one run, on the same model and the same handler script
(inference/inference.py with a seeded, untrained Net):

1. the raw forward pass (batch 1) and the whole handler pipeline in-process;
2. this server (`python -m inference.server`): p50/p99 latency one request at a time, and
   requests/s with `--concurrency` clients;
3. the same for the peers, each started as its toolkit starts it, loading the same script:
   multi-model-server (Java front end, `sagemaker_inference.default_handler_service`) and
   TorchServe (Java front end, the SageMaker PyTorch inference toolkit's handler service: what
   the SageMaker PyTorch inference images serve with today).

Each round prints its requests/s ratios and the load average; the end, the median and range
of the per-round ratios.

    python benchmarks/bench_serving.py setup   # once: .venv-bench with the peers (not in CI)
    python benchmarks/bench_serving.py         # prints figures and ratios

The peers live in their own venv (.venv-bench) that sees the project venv's torch and numpy
through a .pth file, so both servers run the very same torch build.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from inference import inference as mnist  # noqa: E402
from inference.loadgen import run_load  # noqa: E402
from tests.helpers.models import build_model_dir  # noqa: E402

BENCH_VENV = ROOT / ".venv-bench"
PEER_PACKAGES = [
    "sagemaker-inference==1.10.1",
    "multi-model-server==1.1.11",
    # What the SageMaker PyTorch inference images serve with today: TorchServe's Java front end
    # and the PyTorch toolkit's handler service.
    "torchserve==0.12.0",
    "torch-model-archiver==0.12.0",
    "sagemaker-pytorch-inference==2.0.25",
]
PROFILER_PACKAGES = ["py-spy==0.4.3"]  # benchmarks/profile_paths.py

# Runs inside .venv-bench: write the MMS config exactly as the toolkit generates it, then start
# MMS in the foreground with the toolkit's default handler service.
MMS_LAUNCHER = """
import os, sys
from sagemaker_inference import environment, model_server
config = model_server._generate_mms_config_properties(
    environment.Environment(), model_server.DEFAULT_HANDLER_SERVICE
).replace("0.0.0.0", "127.0.0.1")  # like our server, reachable from this machine only
path = os.path.join(os.getcwd(), "mms.properties")
open(path, "w").write(config)
os.execvp("multi-model-server", ["multi-model-server", "--start", "--foreground",
    "--model-store", "/", "--mms-config", path, "--log-config", model_server.DEFAULT_MMS_LOG_FILE,
    "--models", "model=" + environment.model_dir])
"""

# Runs inside .venv-bench: the config the SageMaker PyTorch inference toolkit generates (its
# default-ts.properties plus the SAGEMAKER_* settings, the toolkit's handler service), written
# here instead of /etc, then TorchServe in the foreground as `start_torchserve` runs it.
TS_LAUNCHER = """
import os, sys
from sagemaker_inference import environment
from sagemaker_pytorch_serving_container import serving, torchserve
torchserve._set_python_path()
config = torchserve._generate_ts_config_properties(serving.HANDLER_SERVICE)
config = config.replace("0.0.0.0", "127.0.0.1")
config += "metrics_address=http://127.0.0.1:" + os.environ["BENCH_METRICS_PORT"] + "\\n"
path = os.path.join(os.getcwd(), "ts.properties")
open(path, "w").write(config)
os.makedirs(torchserve.MODEL_STORE, exist_ok=True)
os.execvp("torchserve", ["torchserve", "--start", "--foreground", "--ncs",
    "--model-store", torchserve.MODEL_STORE, "--ts-config", path,
    "--log-config", torchserve.DEFAULT_TS_LOG_FILE,
    "--models", torchserve.DEFAULT_TS_MODEL_NAME + "=" + environment.model_dir])
"""
PEERS = {"multi-model-server": MMS_LAUNCHER, "TorchServe": TS_LAUNCHER}


def setup() -> None:
    """Create .venv-bench with the peer servers and py-spy; it borrows torch/numpy from .venv."""
    if shutil.which("java") is None:
        sys.exit("java not found: install a Java runtime (apt-get install default-jre-headless)")
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    site = next((BENCH_VENV / "lib").glob("python3*/site-packages"))
    (site / "smlocal-venv.pth").write_text(str(Path(torch.__file__).resolve().parents[1]) + "\n")
    packages = [*PEER_PACKAGES, *PROFILER_PACKAGES]
    subprocess.run([str(BENCH_VENV / "bin/pip"), "install", "-q", *packages], check=True)
    print(f"peers installed in {BENCH_VENV}")


def percentile_ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1e3


def in_process(model_dir: Path, body: bytes, iterations: int) -> dict[str, float]:
    model = mnist.model_fn(str(model_dir))
    x = mnist.input_fn(body, "application/json")
    forward, pipeline = [], []
    with torch.inference_mode():
        for _ in range(200):
            model(x)
        for _ in range(iterations):
            start = time.perf_counter()
            model(x)
            forward.append(time.perf_counter() - start)
    for _ in range(iterations):
        start = time.perf_counter()
        data = mnist.input_fn(body, "application/json")
        mnist.output_fn(mnist.predict_fn(data, model), "application/json")
        pipeline.append(time.perf_counter() - start)
    return {
        "forward_p50_ms": percentile_ms(forward, 50),
        "forward_p99_ms": percentile_ms(forward, 99),
        "pipeline_p50_ms": percentile_ms(pipeline, 50),
    }


def wait_ping(url: str, process: subprocess.Popen, within_s: float = 180) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url + "/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url}/ping not ready within {within_s} s")


def stop(process: subprocess.Popen) -> None:
    # Each server runs in its own session; end that whole group (MMS forks a Java process).
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def session_cpu_s(session: int) -> float:
    """CPU seconds (user + system) used so far by every live process of a session: a server
    and its workers (MMS: the Java front end and its Python workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[3]) == session:  # fields[3] is the session id (stat field 6)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(url: str, body: bytes, args: argparse.Namespace, session: int) -> dict[str, float]:
    """Latency one request at a time, then requests/s under load; with the CPU the server and
    the client each spent per request (robust to neighbours, unlike wall time)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    run_load(url, body, total=500, concurrency=args.concurrency, headers=headers)  # warm up
    sequential = run_load(url, body, total=args.sequential, concurrency=1, headers=headers)
    server_cpu, client_cpu = session_cpu_s(session), time.process_time()
    loaded = run_load(url, body, total=args.requests, concurrency=args.concurrency, headers=headers)
    server_cpu, client_cpu = session_cpu_s(session) - server_cpu, time.process_time() - client_cpu
    for result in (sequential, loaded):
        if result.errors or set(result.statuses) != {200}:
            raise RuntimeError(f"{url}: {dict(result.statuses)} {result.errors[:3]}")
    return {
        "p50_ms": sequential.percentile_ms(50),
        "p99_ms": sequential.percentile_ms(99),
        "rps": loaded.requests_per_s,
        "loaded_p50_ms": loaded.percentile_ms(50),
        "loaded_p99_ms": loaded.percentile_ms(99),
        "server_cpu_ms": server_cpu / len(loaded.latencies) * 1e3,
        "client_cpu_ms": client_cpu / len(loaded.latencies) * 1e3,
    }


def free_port() -> int:
    """A free port below 32768: MMS 1.1.11 rejects higher ones ("Invalid port number")."""
    import random
    import socket

    for port in random.sample(range(20000, 32768), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32767")


def ours(model_dir: Path, body: bytes, args: argparse.Namespace, workers: int):
    port = free_port()
    command = [sys.executable, "-m", "inference.server", "--model-dir", str(model_dir)]
    command += ["--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ping(url, process)
        return measure(url + "/invocations", body, args, process.pid)
    finally:
        stop(process)


def peer(
    kind: str, base: Path, model_dir: Path, body: bytes, args: argparse.Namespace, workers: int
) -> dict[str, float]:
    """One of PEERS, started as the toolkit starts it, measured like ours."""
    port = free_port()
    env = {
        **os.environ,
        "SAGEMAKER_BASE_DIR": str(base),  # model at <base>/model, script at <base>/model/code
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        "BENCH_METRICS_PORT": str(free_port()),  # TorchServe's metrics API (default 8082)
        "PYTHONPATH": str(model_dir / "code"),
        # One torch thread per worker, as ours runs (faster on these cores, see docs/inference.md)
        "OMP_NUM_THREADS": "1",
        "PATH": f"{BENCH_VENV / 'bin'}:{os.environ['PATH']}",
    }
    log_path = base / f"{kind}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(BENCH_VENV / "bin/python"), "-c", PEERS[kind]],
        cwd=base,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ping(url, process)
        except RuntimeError:
            log.flush()
            print(log_path.read_text()[-3000:], file=sys.stderr)
            raise
        return measure(url + "/invocations", body, args, process.pid)
    finally:
        stop(process)
        log.close()


def median_row(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def report(name: str, row: dict[str, float], concurrency: int) -> None:
    print(
        f"{name:<36} p50 {row['p50_ms']:5.2f} ms  p99 {row['p99_ms']:6.2f} ms | "
        f"c={concurrency}: {row['rps']:5.0f} req/s  p50 {row['loaded_p50_ms']:5.2f} ms  "
        f"p99 {row['loaded_p99_ms']:6.2f} ms | CPU/req server {row['server_cpu_ms']:.2f} ms  "
        f"client {row['client_cpu_ms']:.2f} ms"
    )


def spread(values: list[float]) -> str:
    """The median of per-round values and their range, e.g. `2.10x (1.90-2.40)`."""
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "setup"], default="run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians")
    parser.add_argument("--sequential", type=int, default=1000, help="requests one at a time")
    parser.add_argument("--requests", type=int, default=3000, help="requests under load")
    parser.add_argument("--concurrency", type=int, default=8, help="clients under load")
    parser.add_argument("--iterations", type=int, default=1000, help="in-process repetitions")
    parser.add_argument("--workers", type=int, default=0, help="every server [default: CPUs]")
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma-separated, of {', '.join(PEERS)}; empty for none [default: both]",
    )
    args = parser.parse_args()
    if args.command == "setup":
        setup()
        return
    # `timeout` or Ctrl-C: unwind, so that every `finally` stops its server's process group.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    kinds = [k for k in args.peers.split(",") if k]
    if unknown := set(kinds) - set(PEERS):
        sys.exit(f"--peers: unknown {', '.join(sorted(unknown))} (known: {', '.join(PEERS)})")
    if kinds and not (BENCH_VENV / "bin/torchserve").exists():
        sys.exit(f"peers not installed: run `{sys.argv[0]} setup` first")

    image = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28), dtype=np.uint8)
    body = json.dumps(image.tolist()).encode()
    cores = len(os.sched_getaffinity(0))
    workers = args.workers or cores  # the toolkit's default: one worker per CPU
    print(f"torch {torch.__version__}, {cores} cores, load average {load()}")
    print(f"body: one 28x28 image as JSON ({len(body)} bytes), answer JSON; {args.rounds} rounds")
    print("client: inference.loadgen in this process, the same for every server\n")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        base = Path(tmp)
        model_dir = build_model_dir(base / "model")
        torch.set_num_threads(1)  # as each server worker runs it
        raw = in_process(model_dir, body, args.iterations)
        print(
            f"{'raw forward pass (batch 1)':<36} p50 {raw['forward_p50_ms']:5.3f} ms  "
            f"p99 {raw['forward_p99_ms']:6.3f} ms"
        )
        print(f"{'handler pipeline in-process':<36} p50 {raw['pipeline_p50_ms']:5.3f} ms\n")
        ours_many = f"this server ({workers} workers)"
        contenders = {
            "this server (1 worker)": lambda: ours(model_dir, body, args, 1),
            ours_many: lambda: ours(model_dir, body, args, workers),
        }
        for kind in kinds:
            contenders[f"{kind} ({workers} workers)"] = functools.partial(
                peer, kind, base, model_dir, body, args, workers
            )
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
        names = list(contenders)
        for round_ in range(args.rounds):
            # Rotate the order so that no server always runs first (or last) in a round.
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                samples[name].append(contenders[name]())
                report(f"  round {round_ + 1}: {name}", samples[name][-1], args.concurrency)
            ratios = [
                samples[ours_many][-1]["rps"] / samples[name][-1]["rps"] for name in names[2:]
            ]
            if ratios:
                print(
                    f"  round {round_ + 1}: requests/s vs "
                    + ", ".join(f"{k} {r:.2f}x" for k, r in zip(kinds, ratios, strict=True))
                    + f"; load average {load()}"
                )
        print(f"\nmedians of {args.rounds} rounds:")
        rows = {name: median_row(rows) for name, rows in samples.items()}
        for name, row in rows.items():
            report(name, row, args.concurrency)

    one, many = rows[names[0]], rows[ours_many]
    print(
        f"\np50 overhead over the forward pass (one request at a time): "
        f"{one['p50_ms'] - raw['forward_p50_ms']:.2f} ms (1 worker), "
        f"{many['p50_ms'] - raw['forward_p50_ms']:.2f} ms ({workers} workers)"
    )
    for kind, name in zip(kinds, names[2:], strict=True):
        ours_rows, peer_rows = samples[ours_many], samples[name]
        rps = [o["rps"] / p["rps"] for o, p in zip(ours_rows, peer_rows, strict=True)]
        pairs = list(zip(ours_rows, peer_rows, strict=True))
        cpu = [p["server_cpu_ms"] / o["server_cpu_ms"] for o, p in pairs]
        p50 = [p["p50_ms"] / o["p50_ms"] for o, p in zip(ours_rows, peer_rows, strict=True)]
        print(
            f"vs {kind}, {workers} workers each, per-round ratios: median (min-max) of "
            f"{args.rounds}: requests/s {spread(rps)}; server CPU per request {spread(cpu)} "
            f"less; p50 latency {spread(p50)} lower"
        )
    if kinds:
        better = [
            samples[ours_many][i]["rps"] / max(samples[n][i]["rps"] for n in names[2:])
            for i in range(args.rounds)
        ]
        print(f"requests/s vs the better peer of each round: {spread(better)}")
    print(f"load average {load()} at end (other processes share these cores)")


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())  # 1, 5, 15 minutes


if __name__ == "__main__":
    main()
