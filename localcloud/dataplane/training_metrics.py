"""Training metrics in CloudWatch, as SageMaker publishes them while a job runs.

Each match of a `MetricDefinitions` regex in host 1's output becomes one data point in the
cloud's CloudWatch: namespace `/aws/sagemaker/TrainingJobs`, the one dimension
`TrainingJobName`, the metric's name, the value, and the time its line was read. The matches
are the run's own (`training.executor.TrainingRun`'s `on_metrics`: the points that make
FinalMetricDataList, found once). That is what the SageMaker SDK's `TrainingJobAnalytics` asks
for (`GetMetricStatistics`, `Average`, period 60 s by default, from `TrainingStartTime` to
`TrainingEndTime` + 1 minute). The points go to CloudWatch on a `QueueWriter`'s thread, so a
training host never waits for the state lock.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

NAMESPACE = "/aws/sagemaker/TrainingJobs"

Point = tuple[str, str, str, dict[str, Any]]  # account, region, job, data point


def put_metrics(store: Any, points: list[Point]) -> None:
    """A batch of training jobs' data points into the cloud's CloudWatch (one change)."""
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
    # `changing()` keeps a snapshot from seeing a half-made change.
    with store.changing():
        for (account, region), data in by_backend.items():
            cloudwatch_backends[account][region].put_metric_data(NAMESPACE, data)
