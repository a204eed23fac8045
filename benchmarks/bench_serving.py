"""Serving benchmark: in one run, on the same model and the same handler script
(inference/inference.py with a seeded, untrained Net):

1. the raw forward pass (batch 1) and the whole handler pipeline in-process;
2. this server (`python -m inference.server`): p50/p99 latency one request at a time, and
   requests/s with `--concurrency` clients;
3. the same for the SageMaker inference toolkit's own model server (multi-model-server, Java
   front end, `sagemaker_inference.default_handler_service` loading the same script), the peer.

    python benchmarks/bench_serving.py setup   # once: .venv-bench with the peer (not in CI)
    python benchmarks/bench_serving.py         # prints figures and ratios

The peer lives in its own venv (.venv-bench) that sees the project venv's torch and numpy
through a .pth file, so both servers run the very same torch build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
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
from inference.loadgen import LoadResult, run_load  # noqa: E402

BENCH_VENV = ROOT / ".venv-bench"
PEER_PACKAGES = ["sagemaker-inference==1.10.1", "multi-model-server==1.1.11"]

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


def setup() -> None:
    """Create .venv-bench with the peer server; it borrows torch/numpy from .venv."""
    if shutil.which("java") is None:
        sys.exit("java not found: install a Java runtime (apt-get install default-jre-headless)")
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    site = next((BENCH_VENV / "lib").glob("python3*/site-packages"))
    (site / "smlocal-venv.pth").write_text(str(Path(torch.__file__).resolve().parents[1]) + "\n")
    subprocess.run([str(BENCH_VENV / "bin/pip"), "install", "-q", *PEER_PACKAGES], check=True)
    print(f"peer installed in {BENCH_VENV}")


def build_model(base: Path) -> Path:
    model_dir = base / "model"
    (model_dir / "code").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(mnist.Net().state_dict(), model_dir / "model.pth")
    shutil.copy(mnist.__file__, model_dir / "code" / "inference.py")
    return model_dir


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


def measure(url: str, body: bytes, args: argparse.Namespace) -> tuple[LoadResult, LoadResult]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    run_load(url, body, total=200, concurrency=args.concurrency, headers=headers)  # warm up
    sequential = run_load(url, body, total=args.sequential, concurrency=1, headers=headers)
    loaded = run_load(url, body, total=args.requests, concurrency=args.concurrency, headers=headers)
    for result in (sequential, loaded):
        if result.errors or set(result.statuses) != {200}:
            raise RuntimeError(f"{url}: {dict(result.statuses)} {result.errors[:3]}")
    return sequential, loaded


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
        return measure(url + "/invocations", body, args)
    finally:
        stop(process)


def peer(base: Path, model_dir: Path, body: bytes, args: argparse.Namespace):
    port = free_port()
    env = {
        **os.environ,
        "SAGEMAKER_BASE_DIR": str(base),  # model at <base>/model, script at <base>/model/code
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_PROGRAM": "inference.py",
        "PYTHONPATH": str(model_dir / "code"),
        "PATH": f"{BENCH_VENV / 'bin'}:{os.environ['PATH']}",
    }
    if args.peer_workers:
        env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(args.peer_workers)
    log = (base / "peer.log").open("w")
    process = subprocess.Popen(
        [str(BENCH_VENV / "bin/python"), "-c", MMS_LAUNCHER],
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
            print((base / "peer.log").read_text()[-3000:], file=sys.stderr)
            raise
        return measure(url + "/invocations", body, args)
    finally:
        stop(process)
        log.close()


def report(name: str, sequential: LoadResult, loaded: LoadResult, concurrency: int) -> dict:
    row = {
        "p50_ms": sequential.percentile_ms(50),
        "p99_ms": sequential.percentile_ms(99),
        "rps": loaded.requests_per_s,
        "loaded_p50_ms": loaded.percentile_ms(50),
        "loaded_p99_ms": loaded.percentile_ms(99),
    }
    print(
        f"{name:<34} p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  |  "
        f"c={concurrency}: {row['rps']:7.0f} req/s  p50 {row['loaded_p50_ms']:6.2f} ms  "
        f"p99 {row['loaded_p99_ms']:6.2f} ms"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "setup"], default="run")
    parser.add_argument("--sequential", type=int, default=1000, help="requests one at a time")
    parser.add_argument("--requests", type=int, default=3000, help="requests under load")
    parser.add_argument("--concurrency", type=int, default=8, help="clients under load")
    parser.add_argument("--iterations", type=int, default=1000, help="in-process repetitions")
    parser.add_argument("--peer-workers", type=int, default=0, help="MMS workers [default: CPUs]")
    parser.add_argument("--no-peer", action="store_true", help="skip multi-model-server")
    args = parser.parse_args()
    if args.command == "setup":
        setup()
        return

    image = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28), dtype=np.uint8)
    body = json.dumps(image.tolist()).encode()
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {cores} cores, load average {load:.1f} at start")
    print(f"body: one 28x28 image as JSON ({len(body)} bytes), answer JSON\n")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        base = Path(tmp)
        model_dir = build_model(base)
        torch.set_num_threads(cores)
        raw = in_process(model_dir, body, args.iterations)
        print(
            f"{'raw forward pass (batch 1)':<34} p50 {raw['forward_p50_ms']:6.3f} ms  "
            f"p99 {raw['forward_p99_ms']:6.3f} ms"
        )
        print(f"{'handler pipeline in-process':<34} p50 {raw['pipeline_p50_ms']:6.3f} ms")
        rows = {
            "ours1": report(
                "this server (1 worker)", *ours(model_dir, body, args, 1), args.concurrency
            ),
            "ours2": report(
                "this server (2 workers)", *ours(model_dir, body, args, 2), args.concurrency
            ),
        }
        if not args.no_peer:
            if not (BENCH_VENV / "bin/multi-model-server").exists():
                sys.exit(f"peer not installed: run `{sys.argv[0]} setup` first")
            workers = args.peer_workers or cores
            rows["peer"] = report(
                f"multi-model-server ({workers} workers)",
                *peer(base, model_dir, body, args),
                args.concurrency,
            )

    best = max(rows["ours1"]["rps"], rows["ours2"]["rps"])
    print(
        f"\noverhead of this server over the forward pass (p50, 1 worker, one at a time): "
        f"{rows['ours1']['p50_ms'] - raw['forward_p50_ms']:.2f} ms "
        f"(over the in-process handler pipeline: "
        f"{rows['ours1']['p50_ms'] - raw['pipeline_p50_ms']:.2f} ms)"
    )
    if "peer" in rows:
        p = rows["peer"]
        print(
            f"requests/s vs multi-model-server: {rows['ours1']['rps'] / p['rps']:.2f}x "
            f"(1 worker), {rows['ours2']['rps'] / p['rps']:.2f}x (2 workers), best "
            f"{best / p['rps']:.2f}x"
        )
        print(
            f"p50 latency vs multi-model-server: {p['p50_ms'] / rows['ours1']['p50_ms']:.2f}x lower"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at end (other processes share these cores)")


if __name__ == "__main__":
    main()
