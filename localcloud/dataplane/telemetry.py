"""What SageMaker publishes about endpoints, into the cloud's own CloudWatch and CloudWatch Logs.

Metrics: namespace `AWS/SageMaker`, dimensions EndpointName + VariantName. A request only adds
to an in-memory bucket (per second, per variant); once a second the buckets go into moto's
CloudWatch as statistic sets, so no request waits for a put. As SageMaker does, a provisioned
variant in service reports 0 `Invocations` and `InvocationsPerInstance` for each (cloud)
minute it got no request: without them an idle endpoint's target tracking low alarm would see
missing data, go INSUFFICIENT_DATA and never scale it in. Logs: each instance's output file
is read from where it was left and written to `/aws/sagemaker/Endpoints/<endpoint>`, stream
`<variant>/<instance-id>`, on the same tick.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.shared.clock import Clock

log = logging.getLogger("localcloud.dataplane.telemetry")

NAMESPACE = "AWS/SageMaker"
LOG_GROUP = "/aws/sagemaker/Endpoints/{}"
TICK_S = 1.0
_UNITS = {
    "Invocations": "None",
    "InvocationsPerInstance": "None",
    "Invocation4XXErrors": "None",
    "Invocation5XXErrors": "None",
    "ModelLatency": "Microseconds",
    "OverheadLatency": "Microseconds",
    "ModelSetupTime": "Microseconds",
}
Where = tuple[str, str, str, str]  # account, region, endpoint, variant
IDLE_METRICS = ("Invocations", "InvocationsPerInstance")  # the ones that count 0 when idle
MINUTE_S = 60


@dataclass
class _Tail:
    account: str
    region: str
    group: str
    stream: str
    path: Path
    offset: int = 0
    closing: bool = False


class Telemetry:
    """Endpoint metrics and instance logs, written once a second by one thread."""

    def __init__(
        self,
        store: Any,
        *,
        clock: Clock | None = None,
        live: Callable[[], Iterable[Where]] = tuple,
    ) -> None:
        self._store = store  # its `changing()` keeps a snapshot from seeing a half-made change
        self._clock = clock or Clock()
        self._live = live  # the provisioned variants in service now, which report idle minutes
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # the tick's flush and a caller's run one at a time
        self._buckets: dict[tuple[Where, int], dict[str, list[float]]] = {}
        # Per live variant: the last cloud minute reported, and the minutes that had requests.
        self._reported: dict[Where, int] = {}
        self._busy: dict[Where, set[int]] = {}
        self._tails: dict[str, _Tail] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="endpoint-telemetry", daemon=True)
        self._thread.start()

    # --- metrics -------------------------------------------------------------------------------
    def add(self, where: Where, name: str, value: float) -> None:
        """One sample of metric `name` for a variant, in this second's bucket."""
        second = int(time.time())
        with self._lock:
            stats = self._buckets.setdefault((where, second), {}).get(name)
            if stats is None:
                self._buckets[(where, second)][name] = [value, value, value, 1.0]
            else:  # sum, minimum, maximum, sample count
                stats[0] += value
                stats[1] = min(stats[1], value)
                stats[2] = max(stats[2], value)
                stats[3] += 1

    def invocation(
        self,
        where: Where,
        *,
        instances: int,
        model_us: float | None,
        overhead_us: float,
        status: int,
    ) -> None:
        """The metrics of one invocation routed to a variant; `status` is what the caller got
        (a model's error counts by the model's status)."""
        self.add(where, "Invocations", 1.0)
        self.add(where, "InvocationsPerInstance", 1.0 / max(1, instances))
        self.add(where, "Invocation4XXErrors", 1.0 if 400 <= status < 500 else 0.0)
        self.add(where, "Invocation5XXErrors", 1.0 if status >= 500 else 0.0)
        if model_us is not None:
            self.add(where, "ModelLatency", model_us)
        self.add(where, "OverheadLatency", overhead_us)

    def _put_metrics(self) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        with self._lock:
            buckets, self._buckets = self._buckets, {}
        by_backend: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for (account, region, endpoint, variant), stamp in self._idle_minutes(buckets):
            dimensions = [
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
            ]
            for name in IDLE_METRICS:
                by_backend.setdefault((account, region), []).append(
                    {
                        "MetricName": name,
                        "Dimensions": dimensions,
                        "Timestamp": stamp,
                        "Unit": _UNITS[name],
                        "Value": 0.0,
                    }
                )
        for ((account, region, endpoint, variant), second), metrics in buckets.items():
            # Naive UTC, as moto keeps every metric timestamp (it compares them).
            stamp = datetime.fromtimestamp(second, UTC).replace(tzinfo=None)
            dimensions = [
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
            ]
            for name, (total, low, high, count) in metrics.items():
                by_backend.setdefault((account, region), []).append(
                    {
                        "MetricName": name,
                        "Dimensions": dimensions,
                        "Timestamp": stamp,
                        "Unit": _UNITS[name],
                        "StatisticValues": {
                            "Sum": total,
                            "Minimum": low,
                            "Maximum": high,
                            "SampleCount": count,
                        },
                    }
                )
        if not by_backend:
            return
        with self._store.changing():
            for (account, region), data in by_backend.items():
                cloudwatch_backends[account][region].put_metric_data(NAMESPACE, data)

    def _idle_minutes(
        self, buckets: dict[tuple[Where, int], dict[str, list[float]]]
    ) -> list[tuple[Where, datetime]]:
        """(variant, timestamp) of a 0 for each ended cloud minute of a live variant that had no
        request: the minute's middle, so that any alarm period of a minute or more holds it."""
        for (where, second), metrics in buckets.items():
            if "Invocations" in metrics:
                minute = int(self._clock.cloud(datetime.fromtimestamp(second, UTC)) // MINUTE_S)
                self._busy.setdefault(where, set()).add(minute)
        ended = int(self._clock.now() // MINUTE_S) - 1
        live = set(self._live())
        for gone in set(self._reported) - live:
            self._reported.pop(gone, None)
            self._busy.pop(gone, None)
        idle = []
        for where in live:
            last = self._reported.setdefault(where, ended)  # from now on, not back in time
            busy = self._busy.get(where, set())
            for minute in range(last + 1, ended + 1):
                if minute not in busy:
                    # Naive UTC, as moto keeps every metric timestamp (it compares them).
                    wall = self._clock.wall(minute * MINUTE_S + MINUTE_S / 2)
                    idle.append((where, wall.astimezone(UTC).replace(tzinfo=None)))
            self._reported[where] = max(last, ended)
            self._busy[where] = {m for m in busy if m > ended}
        return idle

    # --- logs ----------------------------------------------------------------------------------
    def follow(self, account: str, region: str, endpoint: str, stream: str, path: Path) -> None:
        """Ship the lines written to `path` to the endpoint's log group, stream `stream`."""
        with self._lock:
            self._tails[str(path)] = _Tail(
                account, region, LOG_GROUP.format(endpoint), stream, path
            )

    def unfollow(self, path: Path) -> None:
        """Stop following `path` after its last lines are shipped (on the next tick)."""
        with self._lock:
            tail = self._tails.get(str(path))
            if tail is not None:
                tail.closing = True

    def _ship_logs(self) -> None:
        from moto.logs.models import logs_backends

        with self._lock:
            tails = list(self._tails.values())
        batches: list[tuple[_Tail, list[dict[str, Any]]]] = []
        for tail in tails:
            lines = self._read(tail)
            if lines:
                now = int(time.time() * 1000)
                batches.append((tail, [{"timestamp": now, "message": line} for line in lines]))
            if tail.closing:
                with self._lock:
                    self._tails.pop(str(tail.path), None)
        if not batches:
            return
        with self._store.changing():
            for tail, events in batches:
                backend = logs_backends[tail.account][tail.region]
                if tail.group not in backend.groups:
                    backend.create_log_group(tail.group, {})
                if tail.stream not in backend.groups[tail.group].streams:
                    backend.create_log_stream(tail.group, tail.stream)
                backend.put_log_events(tail.group, tail.stream, events)

    @staticmethod
    def _read(tail: _Tail) -> list[str]:
        try:
            with open(tail.path, "rb") as f:
                f.seek(tail.offset)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1  # whole lines only; the rest waits for its newline
        if tail.closing:
            end = len(data)
        tail.offset += end
        text = data[:end].decode("utf-8", errors="replace")
        return [line for line in text.splitlines() if line.strip()]

    # --- the tick ------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self.flush()

    def flush(self) -> None:
        """Write what was gathered now (metrics and log lines); errors are logged, not raised:
        telemetry must never fail a request or an endpoint."""
        with self._flushing:
            for step in (self._put_metrics, self._ship_logs):
                try:
                    step()
                except Exception:
                    log.exception("endpoint telemetry: %s failed", step.__name__)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self.flush()
