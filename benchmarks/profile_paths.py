"""Where the time of one request goes: py-spy samples the local cloud process and the serving
process while boto3 `invoke_endpoint` calls go through the cloud one at a time, then each
sample is put in the bucket of the innermost frame that names one (below).

    python benchmarks/bench_serving.py setup      # once: .venv-bench has py-spy
    python benchmarks/profile_paths.py [--calls 3000] [--rate 500]

Prints, per process, the share of its samples in each bucket and its CPU per call. Not in CI.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from bench_cloud_hop import ENDPOINT, deployed, runtime_client  # noqa: E402

from localcloud.shared.processes import processes_under  # noqa: E402

PY_SPY = ROOT / ".venv-bench/bin/py-spy"

# (bucket, substrings of a frame "function (file:line)"). A sample goes to the bucket of its
# innermost frame that names one, general-purpose frames (GENERAL) skipped: a socket read inside
# http.client is the forward's, one inside werkzeug's server the HTTP server's.
GENERAL = ("socket.py", "selectors.py", "threading.py", "queue.py", "<frozen", "contextlib.py")
CLOUD_BUCKETS = [
    ("persistence on read-only calls", ("persistence.py", "is_mutating (", "_action (")),
    ("forward: http.client to the serving process", ("http/client.py", "serving.py")),
    ("endpoint lookup and bookkeeping", ("dataplane/endpoints.py", "runtime/invoke.py")),
    ("guard: SigV4 check", ("gateway/auth.py", "botocore/", "hmac.py")),
    ("guard: host, CORS", ("gateway/guard.py", "gateway/refusals.py")),
    ("moto: host -> service dispatch", ("werkzeug_app.py",)),
    ("moto: request parsing, dispatch, response", ("moto/",)),
    ("flask / werkzeug request objects", ("flask/", "werkzeug/wrappers", "werkzeug/routing")),
    ("flask / werkzeug request objects", ("werkzeug/datastructures", "werkzeug/sansio")),
    ("HTTP server: parse, write, keep-alive", ("werkzeug/", "http/server.py", "socketserver.py")),
    ("HTTP server: parse, write, keep-alive", ("gateway/connections.py", "gateway/proxy.py")),
]
SERVER_BUCKETS = [
    ("forward pass (torch)", ("torch/", "predict_fn")),
    ("JSON decode + tensor conversion", ("input_fn", "_decode", "_to_images", "json/decoder")),
    ("JSON decode + tensor conversion", ("numpy/",)),
    ("JSON encode", ("output_fn", "json/encoder")),
    ("handler plumbing (handlers, codecs)", ("inference/handlers.py", "inference/codecs.py")),
    ("model thread hand-over (executor)", ("concurrent/futures",)),
    ("the app: routes, headers, limits", ("inference/app.py",)),
    ("HTTP: uvicorn + httptools", ("uvicorn/", "inference/server.py", "httptools")),
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop")),
]


def bucket_of(stack: list[str], buckets: list[tuple[str, tuple[str, ...]]]) -> str:
    for frame in reversed(stack):  # innermost first
        if any(general in frame for general in GENERAL):
            continue
        for name, needles in buckets:
            if any(needle in frame for needle in needles):
                return name
    return "other (interpreter, waits)"


def cpu_s(pid: int) -> float:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def profile(pids: dict[str, int], work: callable, rate: int, out: Path) -> dict[str, Path]:
    """Run `work()` while py-spy samples each of `pids` (raw collapsed stacks, idle left out)."""
    spies, files = [], {}
    for name, pid in pids.items():
        files[name] = out / f"{name}.txt"
        command = [str(PY_SPY), "record", "--pid", str(pid), "--rate", str(rate)]
        command += ["--format", "raw", "--nonblocking", "--output", str(files[name])]
        spies.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    time.sleep(2)  # py-spy attached
    try:
        work()
    finally:
        for spy in spies:
            spy.send_signal(2)  # SIGINT: py-spy writes what it sampled
        for spy in spies:
            spy.wait(60)
    return files


def summarise(path: Path, buckets: list, calls: int, cpu_ms: float, title: str) -> None:
    counts: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            counts[bucket_of(stack.split(";"), buckets)] += int(count)
    total = sum(counts.values()) or 1
    print(f"\n{title}: {cpu_ms / calls:.3f} ms CPU per call, {total} samples")
    for name, count in counts.most_common():
        share = count / total
        print(f"  {name:<46} {share:6.1%}  ~{share * cpu_ms / calls:.3f} ms/call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rate", type=int, default=500, help="samples/s per process")
    args = parser.parse_args()
    if not PY_SPY.exists():
        sys.exit("py-spy not installed: run `python benchmarks/bench_serving.py setup` first")
    image = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28), dtype=np.uint8)
    body = json.dumps(image.tolist()).encode()
    print(f"load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    with deployed(1, body) as (cloud, _url, key, _pid), tempfile.TemporaryDirectory() as tmp:
        cloud_pid = json.loads((cloud.state_dir / "server.json").read_text())["pid"]
        serving_pid = next(
            p for p in processes_under(cloud.state_dir) if "inference.server" in _cmdline(p)
        )
        client = runtime_client(cloud.url, key, 1)

        def call() -> None:
            answer = client.invoke_endpoint(
                EndpointName=ENDPOINT, Body=body, ContentType="application/json"
            )
            answer["Body"].read()

        for _ in range(200):
            call()
        before = {pid: cpu_s(pid) for pid in (cloud_pid, serving_pid)}
        files = profile(
            {"cloud": cloud_pid, "serving": serving_pid},
            lambda: [call() for _ in range(args.calls)],
            args.rate,
            Path(tmp),
        )
        used = {pid: (cpu_s(pid) - before[pid]) * 1e3 for pid in before}
        summarise(files["cloud"], CLOUD_BUCKETS, args.calls, used[cloud_pid], "local cloud")
        summarise(
            files["serving"], SERVER_BUCKETS, args.calls, used[serving_pid], "the serving process"
        )
    print("\n(CPU per call includes py-spy's sampling overhead; shares are of samples)")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


if __name__ == "__main__":
    main()
