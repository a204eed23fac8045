"""The cloud's forward to a serving process: `localcloud.dataplane.wire` (one write per request,
httptools parsing) against `http.client` (what the cloud used before: head and body in two
writes, the answer's head parsed by the `email` package), both kept alive, on the same serving
process, model and body, over the process's Unix socket (the only way in).

    python benchmarks/bench_forward.py [--rounds 6] [--calls 500]

Per interleaved round (the order alternates): the forwarding side's CPU per call (this thread),
the serving process's CPU per call, p50 latency; then each round's ratios, their median and
range, and the load average. Not run in CI.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from profile_paths import cpu_s  # noqa: E402

from localcloud.dataplane.serving import ServingProcess  # noqa: E402
from localcloud.dataplane.wire import Connection  # noqa: E402
from smlocal.core import sockets  # noqa: E402
from tests.helpers.models import build_model_dir  # noqa: E402

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket."""

    def __init__(self, address: Path) -> None:
        super().__init__("localhost", timeout=60)
        self.address = address

    def connect(self) -> None:
        self.sock = sockets.connect(self.address, 60)


class HttpClient:
    """The forward as it was: one kept-alive http.client connection."""

    def __init__(self, address: Path) -> None:
        self.address = address
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        conn = UnixHTTPConnection(self.address)
        conn.connect()
        return conn

    def call(self, body: bytes) -> int:
        try:
            return self._exchange(body)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.conn.close()  # the server ended the idle connection: as the cloud did, anew
            self.conn = self._connect()
            return self._exchange(body)

    def _exchange(self, body: bytes) -> int:
        self.conn.request("POST", "/invocations", body=body, headers=HEADERS)
        response = self.conn.getresponse()
        response.read()
        dict(response.getheaders())
        return response.status


class Wire:
    """The forward now: one kept-alive `wire.Connection`."""

    def __init__(self, address: Path) -> None:
        self.address = address
        self.conn = Connection(address, 60)

    def call(self, body: bytes) -> int:
        if not self.conn.open:
            self.conn = Connection(self.address, 60)
        try:
            return self.conn.request("POST", "/invocations", body, HEADERS, 60)[0]
        except ConnectionError:  # the server ended the idle connection: anew
            self.conn = Connection(self.address, 60)
            return self.conn.request("POST", "/invocations", body, HEADERS, 60)[0]


def measure(call: Callable[[], int], serving_pid: int, calls: int) -> dict[str, float]:
    latencies = []
    serving_before, cpu_before = cpu_s(serving_pid), time.thread_time()
    for _ in range(calls):
        start = time.perf_counter()
        if call() != 200:
            raise RuntimeError("the serving process did not answer 200")
        latencies.append(time.perf_counter() - start)
    return {
        "forward_ms": (time.thread_time() - cpu_before) / calls * 1e3,
        "serving_ms": (cpu_s(serving_pid) - serving_before) / calls * 1e3,
        "p50_ms": statistics.median(latencies) * 1e3,
    }


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=500, help="calls per client per round")
    args = parser.parse_args()
    image = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28), dtype=np.uint8)
    body = json.dumps(image.tolist()).encode()
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{len(os.sched_getaffinity(0))} cores, load average {load}; one serving process")
    with tempfile.TemporaryDirectory(prefix="bench-forward-") as tmp:
        root = Path(tmp)
        (root / "work").mkdir()
        serving = ServingProcess.start(
            build_model_dir(root / "model"), root / "work", workers=1, serverless=False,
            environment={},
        )  # fmt: skip
        try:
            clients = {"http.client": HttpClient(serving.address), "wire": Wire(serving.address)}
            for client in clients.values():  # warm up
                for _ in range(100):
                    client.call(body)
            rows: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
            names = list(clients)
            for round_ in range(args.rounds):
                for name in names if round_ % 2 == 0 else names[::-1]:
                    client = clients[name]
                    row = measure(lambda c=client: c.call(body), serving.proc.pid, args.calls)
                    rows[name].append(row)
                    print(
                        f"  round {round_ + 1}: {name:<12} forwarding CPU/call "
                        f"{row['forward_ms']:.3f} ms | serving CPU/call {row['serving_ms']:.3f} ms"
                        f" | p50 {row['p50_ms']:.3f} ms"
                    )
                old, new = rows["http.client"][-1], rows["wire"][-1]
                print(
                    f"  round {round_ + 1}: http.client / wire: forwarding CPU "
                    f"{old['forward_ms'] / new['forward_ms']:.2f}x, serving CPU "
                    f"{old['serving_ms'] / new['serving_ms']:.2f}x, p50 "
                    f"{old['p50_ms'] / new['p50_ms']:.2f}x; load average "
                    f"{'/'.join(f'{v:.1f}' for v in os.getloadavg())}"
                )
        finally:
            serving.stop()
    print(f"\nmedians of {args.rounds} rounds:")
    for name, runs in rows.items():
        print(
            f"{name:<12} forwarding CPU/call "
            f"{statistics.median(r['forward_ms'] for r in runs):.3f} ms | serving CPU/call "
            f"{statistics.median(r['serving_ms'] for r in runs):.3f} ms | p50 "
            f"{statistics.median(r['p50_ms'] for r in runs):.3f} ms"
        )
    pairs = list(zip(rows["http.client"], rows["wire"], strict=True))
    for field, label in (
        ("forward_ms", "forwarding CPU"),
        ("serving_ms", "serving CPU"),
        ("p50_ms", "p50"),
    ):
        ratios = [old[field] / new[field] for old, new in pairs]
        print(f"http.client / wire, {label}: median (min-max) of the rounds {spread(ratios)}")
    print(f"load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())} at end")


if __name__ == "__main__":
    main()
