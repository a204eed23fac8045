"""Training metrics in the cloud's CloudWatch as SageMaker publishes them: the SDK's
`TrainingJobAnalytics` request (its namespace, dimension, period, statistic and time window)
returns the values the job logged, the same ones DescribeTrainingJob's FinalMetricDataList has."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.helpers.cloud import poll

pytestmark = pytest.mark.slow


def analytics_request(job: dict[str, Any], metric: str) -> dict[str, Any]:
    """What sagemaker.analytics.TrainingJobAnalytics(job).dataframe() asks CloudWatch (SDK v2)."""
    return {
        "Namespace": "/aws/sagemaker/TrainingJobs",
        "MetricName": metric,
        "Dimensions": [{"Name": "TrainingJobName", "Value": job["TrainingJobName"]}],
        "StartTime": job["TrainingStartTime"],
        "EndTime": job["TrainingEndTime"] + timedelta(minutes=1),
        "Period": 60,
        "Statistics": ["Average"],
    }


def test_training_job_analytics_finds_the_job_s_metrics(
    trained_job: dict[str, Any], cloud: Any
) -> None:
    cloudwatch = cloud.client("cloudwatch")
    final = {m["MetricName"]: m for m in trained_job["FinalMetricDataList"]}
    assert set(final) == {"train_loss", "test_loss", "test_accuracy"}
    for name, last in final.items():
        points = poll(
            lambda name=name: cloudwatch.get_metric_statistics(
                **analytics_request(trained_job, name)
            )["Datapoints"],
            bool,
            lambda _, name=name: f"no {name} in CloudWatch",
            timeout_s=10,
            interval_s=0.2,
        )
        # One epoch: one logged value per metric, so the minute's average is that value.
        assert [p["Average"] for p in points] == [pytest.approx(last["Value"])]
        start = trained_job["TrainingStartTime"].replace(microsecond=0)
        assert start <= points[0]["Timestamp"] <= trained_job["TrainingEndTime"]
    # Only the job's own dimension set holds them (another job's name finds nothing).
    other = {**analytics_request(trained_job, "test_loss")}
    other["Dimensions"] = [{"Name": "TrainingJobName", "Value": "another-job"}]
    assert cloudwatch.get_metric_statistics(**other)["Datapoints"] == []
