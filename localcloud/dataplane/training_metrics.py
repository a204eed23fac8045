"""Training metrics in CloudWatch, as SageMaker publishes them while a job runs.

Each match of a `MetricDefinitions` regex in host 1's output (the lines that also make
`FinalMetricDataList`) becomes one data point in the cloud's CloudWatch: namespace
`/aws/sagemaker/TrainingJobs`, the one dimension `TrainingJobName`, the metric's name, the
value, and the time its line was read. That is what the SageMaker SDK's `TrainingJobAnalytics`
asks for (`GetMetricStatistics`, `Average`, period 60 s by default, from `TrainingStartTime` to
`TrainingEndTime` + 1 minute). Lines are matched on the job's reader threads; the points go to
CloudWatch on one thread of their own, so a training host never waits for the state lock.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

from localcloud.dataplane.batch import take_batch
from training.metrics import MetricParser

log = logging.getLogger("localcloud.dataplane.training_metrics")

NAMESPACE = "/aws/sagemaker/TrainingJobs"
FIRST_HOST = "algo-1"  # the host whose output makes the job's metrics, as FinalMetricDataList

_Point = tuple[str, str, str, dict[str, Any]]  # account, region, job, data point


class MetricPublisher:
    """Puts training jobs' metric data points into the cloud's CloudWatch."""

    def __init__(self, store: Any) -> None:
        self._store = store  # its `changing()` keeps a snapshot from seeing a half-made change
        self._queue: queue.Queue[_Point | None] = queue.Queue()
        self._thread = threading.Thread(target=self._drain, name="training-metrics", daemon=True)
        self._thread.start()

    def watch(
        self, account: str, region: str, job: str, algorithm: Mapping[str, Any]
    ) -> Callable[[str, str], None]:
        """`(host, line)` → the line's metric points published for `job`. Raises
        `MetricDefinitionError` for a regex that cannot be used, as the job itself does."""
        parser = MetricParser(algorithm.get("MetricDefinitions") or [])

        def feed(host: str, line: str) -> None:
            if host == FIRST_HOST:
                for point in parser.feed(line):
                    self._queue.put((account, region, job, point))

        return feed

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _drain(self) -> None:
        while True:
            batch = take_batch(self._queue)
            points = [p for p in batch if p is not None]
            if points:
                try:
                    self._put(points)
                except Exception:  # metrics are best effort; the job must not depend on them
                    log.exception("could not publish training metrics")
            if None in batch:
                return

    def _put(self, points: list[_Point]) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        by_backend: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for account, region, job, point in points:
            by_backend.setdefault((account, region), []).append(
                {
                    "MetricName": point["MetricName"],
                    "Dimensions": [{"Name": "TrainingJobName", "Value": job}],
                    # Naive UTC, as moto keeps every metric timestamp (it compares them).
                    "Timestamp": point["Timestamp"].astimezone(UTC).replace(tzinfo=None),
                    "Value": point["Value"],
                    "Unit": "None",
                }
            )
        with self._store.changing():
            for (account, region), data in by_backend.items():
                cloudwatch_backends[account][region].put_metric_data(NAMESPACE, data)
