"""CloudWatch alarms evaluate on the cloud's clock (60x: a one-minute period is a real second),
through boto3 against a running local cloud: states by TreatMissingData, SetAlarmState and its
re-evaluation, history, the statistics."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from localcloud.services.cloudwatch.alarms import statistic
from localcloud.shared.processes import read_record
from tests.helpers.cloud import Cloud, poll

NAMESPACE = "Tests/Alarms"


@pytest.fixture(scope="module")
def cloudwatch(fast_cloud: Cloud) -> Any:
    return fast_cloud.client("cloudwatch")


def _alarm(cloudwatch: Any, name: str, dimension: str, **extra: Any) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=NAMESPACE,
        MetricName="Errors",
        Dimensions=[{"Name": "Case", "Value": dimension}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        DatapointsToAlarm=2,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
        **extra,
    )


def _states(cloudwatch: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    return {a["AlarmName"]: a for a in alarms}


def _until(
    cloudwatch: Any, names: list[str], want: dict[str, str], feed: Callable[[], None] | None = None
) -> dict[str, dict[str, Any]]:
    def read() -> dict[str, dict[str, Any]]:
        if feed is not None:
            feed()
        return _states(cloudwatch, names)

    return poll(
        read,
        lambda got: all(got[n]["StateValue"] == s for n, s in want.items()),
        lambda got: f"wanted {want}, got { {n: a['StateValue'] for n, a in got.items()} }",
        timeout_s=60,
        interval_s=0.2,
    )


def test_each_treat_missing_data_moves_the_alarm_as_aws_does(cloudwatch: Any) -> None:
    treatments = ["missing", "notBreaching", "breaching", "ignore"]
    names = [f"tmd-{t}" for t in treatments]
    for name, treat in zip(names, treatments, strict=True):
        _alarm(cloudwatch, name, treat, TreatMissingData=treat)
    fresh = _states(cloudwatch, names)["tmd-missing"]  # no data: it keeps its first state
    assert (fresh["StateValue"], fresh["StateReason"]) == (
        "INSUFFICIENT_DATA",
        "Unchecked: Initial alarm creation",
    )

    # No data at all: missing and ignore stay unknown, the other two decide.
    got = _until(cloudwatch, names, {"tmd-notBreaching": "OK", "tmd-breaching": "ALARM"})
    assert got["tmd-missing"]["StateValue"] == "INSUFFICIENT_DATA"
    assert got["tmd-ignore"]["StateValue"] == "INSUFFICIENT_DATA"

    def breach() -> None:
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {"MetricName": "Errors", "Dimensions": [{"Name": "Case", "Value": t}], "Value": 50}
                for t in treatments
            ],
        )

    got = _until(cloudwatch, names, dict.fromkeys(names, "ALARM"), feed=breach)
    reason = got["tmd-missing"]["StateReason"]
    assert reason.startswith("Threshold Crossed: 2 datapoints [50.0 (")
    assert reason.endswith("were greater than the threshold (10.0).")
    data = json.loads(got["tmd-missing"]["StateReasonData"])
    assert data["statistic"] == "Maximum" and data["period"] == 60
    assert data["recentDatapoints"] == [50.0, 50.0]

    # The data stops: missing goes unknown, notBreaching OK; ignore and breaching keep ALARM.
    got = _until(cloudwatch, names, {"tmd-missing": "INSUFFICIENT_DATA", "tmd-notBreaching": "OK"})
    assert got["tmd-missing"]["StateReason"] == "Insufficient Data: 2 datapoints were unknown."
    assert got["tmd-ignore"]["StateValue"] == "ALARM"
    assert got["tmd-breaching"]["StateValue"] == "ALARM"
    cloudwatch.delete_alarms(AlarmNames=names)


def test_set_alarm_state_holds_until_the_next_evaluation_and_history_tells_it(
    cloudwatch: Any,
) -> None:
    name = "forced"
    _alarm(cloudwatch, name, "forced", TreatMissingData="notBreaching")
    _until(cloudwatch, [name], {name: "OK"})
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the page")
    forced = _states(cloudwatch, [name])[name]
    assert (forced["StateValue"], forced["StateReason"]) == ("ALARM", "testing the page")
    _until(cloudwatch, [name], {name: "OK"})  # evaluated again: no data, not breaching

    items = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")[
        "AlarmHistoryItems"
    ]
    assert [i["HistorySummary"] for i in items] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from INSUFFICIENT_DATA to OK",
    ]
    forced_item = json.loads(items[1]["HistoryData"])
    assert forced_item["oldState"]["stateValue"] == "OK"
    assert forced_item["newState"] == {"stateValue": "ALARM", "stateReason": "testing the page"}
    assert all(i["AlarmType"] == "MetricAlarm" and i["AlarmName"] == name for i in items)
    assert all(i["Timestamp"] <= datetime.now(UTC) for i in items)  # wall-clock, not sped up
    everything = cloudwatch.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert everything[-1]["HistorySummary"] == f'Alarm "{name}" created'
    cloudwatch.delete_alarms(AlarmNames=[name])


def test_the_prod_rollback_alarm_fires_on_one_5xx_and_clears_when_they_stop(
    cloudwatch: Any,
) -> None:
    # As stacks/rollback_alarms.py declares it: any 5xx in a minute, missing data not breaching.
    dimensions = [
        {"Name": "EndpointName", "Value": "guarded"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    cloudwatch.put_metric_alarm(
        AlarmName="guarded-5xx-errors",
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=dimensions,
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    names = ["guarded-5xx-errors"]
    _until(cloudwatch, names, {names[0]: "OK"})

    def one_error() -> None:
        cloudwatch.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {"MetricName": "Invocation5XXErrors", "Dimensions": dimensions, "Value": 1}
            ],
        )

    fired = _until(cloudwatch, names, {names[0]: "ALARM"}, feed=one_error)[names[0]]
    assert re.fullmatch(
        r"Threshold Crossed: 1 datapoint \[\d+\.0 \(\d\d/\d\d/\d\d \d\d:\d\d:\d\d\)\] "
        r"was greater than the threshold \(0\.0\)\.",
        fired["StateReason"],
    ), fired["StateReason"]
    _until(cloudwatch, names, {names[0]: "OK"})  # no errors for a minute
    cloudwatch.delete_alarms(AlarmNames=names)


def test_statistics_of_values_and_statistic_sets() -> None:
    from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum

    single = [MetricDatum("N", "M", v, [], None) for v in (1.0, 2.0, 3.0, 10.0)]
    summed = MetricAggregatedDatum("N", "M", 0.5, 20.0, 4, 30.0, [], None)
    assert statistic(single, "p50") == 2.0
    assert statistic(single, "p99") == 10.0
    assert statistic([*single, summed], "SampleCount") == 8.0
    assert statistic([*single, summed], "Sum") == 46.0
    assert statistic([*single, summed], "Average") == 46.0 / 8
    assert (statistic([*single, summed], "Minimum"), statistic([summed], "Maximum")) == (0.5, 20.0)
    assert statistic([], "Sum") is None


def test_the_cloud_tells_its_clock_speed(fast_cloud: Cloud) -> None:
    from typer.testing import CliRunner

    from smlocal.cli import app

    record = read_record(fast_cloud.state_dir)
    assert record is not None and record["clock_speed"] == 60.0
    result = CliRunner().invoke(app, ["cloud", "status", "--state-dir", str(fast_cloud.state_dir)])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert f"(pid {record['pid']}, " in first and ", clock 60x): answering" in first
