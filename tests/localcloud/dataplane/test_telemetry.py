"""Endpoint telemetry in-process, on moto's CloudWatch backend and a real state store, at a
600x clock (a cloud minute every 0.1 s): an idle provisioned variant reports 0 invocations for
each minute it got no request, as SageMaker does, and stops once it no longer serves."""

from __future__ import annotations

import time
from pathlib import Path

from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum, cloudwatch_backends

from localcloud.dataplane.telemetry import Telemetry
from localcloud.shared.clock import Clock
from localcloud.shared.persistence import StateStore

ACCOUNT, REGION = "123456789012", "us-west-2"
WHERE = (ACCOUNT, REGION, "telemetry-idle", "AllTraffic")


def _points(name: str) -> list[MetricDatum | MetricAggregatedDatum]:
    return [
        d
        for d in cloudwatch_backends[ACCOUNT][REGION].metric_data
        if d.name == name and any(x.value == WHERE[2] for x in d.dimensions)
    ]


def test_an_idle_variant_reports_zero_invocations_a_minute_while_it_serves(
    tmp_path: Path,
) -> None:
    clock = Clock(600.0)
    serving = [WHERE]
    telemetry = Telemetry(StateStore(tmp_path), clock=clock, live=lambda: list(serving))
    try:
        telemetry.flush()  # the variant is seen: minutes from now on, none back in time
        telemetry.invocation(WHERE, instances=1, model_us=10.0, overhead_us=5.0, status=200)
        time.sleep(0.8)  # about 8 cloud minutes
        telemetry.flush()
        serving.clear()  # deleted: no more minutes
        telemetry.flush()
        reported = len(_points("InvocationsPerInstance"))
        time.sleep(0.3)
        telemetry.flush()
    finally:
        telemetry.close()

    zeros = [d for d in _points("Invocations") if isinstance(d, MetricDatum)]
    assert len(zeros) >= 4, zeros
    assert {d.value for d in zeros} == {0.0}
    minutes = [int(clock.cloud(d.timestamp) // 60) for d in zeros]
    assert len(set(minutes)) == len(minutes)  # one a minute
    (request,) = [d for d in _points("Invocations") if isinstance(d, MetricAggregatedDatum)]
    assert int(clock.cloud(request.timestamp) // 60) not in minutes  # a busy minute has no 0
    assert len(_points("InvocationsPerInstance")) == len(zeros) + 1 == reported
    assert [d for d in _points("Invocation5XXErrors") if isinstance(d, MetricDatum)] == []
