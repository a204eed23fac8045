"""A small HTTP load generator for the serving contract, shared by the load test and the serving
benchmark: `concurrency` threads, each with its own keep-alive `http.client` connection, send
`total` POSTs between them and time each one. Lean on purpose: the client should cost far less
than the server it measures."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    """Per-request latencies (seconds), status counts, transport errors and the wall time."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def requests_per_s(self) -> float:
        """Completed requests per second of wall time."""
        return len(self.latencies) / self.wall_s if self.wall_s else 0.0

    def percentile_ms(self, q: float) -> float:
        """The q-th percentile (0–100) of request latency in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1e3


def run_load(
    url: str,
    body: bytes,
    *,
    total: int,
    concurrency: int,
    headers: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> LoadResult:
    """POST `body` to `url` `total` times from `concurrency` keep-alive connections."""
    parts = urlsplit(url)
    path = parts.path or "/"
    headers = {"Content-Type": "application/json", **(headers or {})}
    result = LoadResult()
    lock = threading.Lock()
    remaining = iter(range(total))

    def worker() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        errors: list[str] = []
        while True:
            with lock:
                if next(remaining, None) is None:
                    break
            start = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as err:
                errors.append(f"{type(err).__name__}: {err}")
                connection.close()
                continue
            latencies.append(time.perf_counter() - start)
            statuses[response.status] += 1
        connection.close()
        with lock:
            result.latencies.extend(latencies)
            result.statuses.update(statuses)
            result.errors.extend(errors)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall_s = time.perf_counter() - start
    return result
