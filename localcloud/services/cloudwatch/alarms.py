"""CloudWatch metric alarms that evaluate, as AWS does, on the cloud's clock.

moto 5.2.5 keeps alarms but never evaluates them: a new alarm is `OK` for ever, and
DescribeAlarmHistory does not exist. Here:

- a new alarm starts `INSUFFICIENT_DATA` ("Unchecked: Initial alarm creation"); PutMetricAlarm
  on an existing one keeps its state and history (AWS overwrites the configuration only);
- `AlarmEvaluator` (a thread of the cloud) evaluates each metric alarm once a period (at most
  every 60 cloud seconds), over its last `EvaluationPeriods` complete periods of the metric it
  names (or the single `MetricStat` of a `Metrics` alarm), with its `Statistic` /
  `ExtendedStatistic` (pNN), `DatapointsToAlarm`, `ComparisonOperator`, `Threshold` and
  `TreatMissingData` (with fewer datapoints than `DatapointsToAlarm`: `breaching` and
  `notBreaching` fill the gaps, `ignore` keeps the state, `missing` keeps it until the whole
  range is missing); `StateReason` and `StateReasonData` are worded as AWS words them;
- each state change (evaluated or `SetAlarmState`, which the next evaluation revisits, as on
  AWS) is a `StateUpdate` history item and runs the actions of the new state; an alarm that
  stays in ALARM runs its Application Auto Scaling actions again at each evaluation (AWS
  invokes scaling policies every period while the alarm lasts);
- DescribeAlarmHistory answers from those items.

Periods are cloud seconds (`localcloud.shared.clock`); datapoints' timestamps stay wall-clock
and are placed on the cloud's time line, so a 60 s period at 60x holds one real second of data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import (
    Alarm,
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
    cloudwatch_backends,
)
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from localcloud.shared.clock import Clock
from localcloud.shared.persistence import StateStore

log = logging.getLogger("localcloud.cloudwatch")

# Runs an action ARN for the alarm; True when it changed something. Raising records a failed
# action in the alarm's history.
ActionRunner = Callable[[str, Alarm], bool]

_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
INITIAL_REASON = "Unchecked: Initial alarm creation"
# Real seconds a window waits after its end before it is evaluated: the endpoint metrics reach
# CloudWatch up to ~2 s after their request (one-second buckets, put once a second), and at a
# fast clock a window evaluated at once would miss them (at 60x a period is one real second).
INGEST_LAG_S = 2.0
MAX_HISTORY = 1000  # per alarm; AWS keeps 30 days
_on_action: ActionRunner | None = None
_pending: queue.Queue[tuple[Alarm, str]] = queue.Queue()
_wake = threading.Event()


def _history(alarm: Alarm) -> list[dict[str, Any]]:
    items = getattr(alarm, "localcloud_history", None)
    if items is None:
        items = alarm.localcloud_history = []  # type: ignore[attr-defined]
    return items


def _record(alarm: Alarm, kind: str, summary: str, data: dict[str, Any]) -> None:
    items = _history(alarm)
    items.append(
        {
            "AlarmName": alarm.name,
            "AlarmType": "CompositeAlarm" if alarm.rule else "MetricAlarm",
            "Timestamp": datetime.now(UTC),
            "HistoryItemType": kind,
            "HistorySummary": summary,
            "HistoryData": json.dumps(data),
        }
    )
    del items[:-MAX_HISTORY]


def _iso(moment: datetime) -> str:
    """AWS's timestamp in StateReasonData and history: 2026-11-29T21:40:05.123+0000."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}+0000"
    )


# --- what the patches change ------------------------------------------------------------------


def install(on_action: ActionRunner) -> None:
    """Patch moto's CloudWatch: initial state, history, actions, DescribeAlarmHistory."""
    global _on_action
    _on_action = on_action
    if getattr(CloudWatchBackend.put_metric_alarm, "_localcloud", False):
        return
    put_metric_alarm = CloudWatchBackend.put_metric_alarm

    def put_metric_alarm_keeping_state(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        old = self.alarms.get(kwargs.get("name") or args[0])
        alarm = put_metric_alarm(self, *args, **kwargs)
        if old is None:
            alarm.state_value = "INSUFFICIENT_DATA"
            alarm.state_reason = INITIAL_REASON
            _record(alarm, "ConfigurationUpdate", f'Alarm "{alarm.name}" created', {})
        else:
            for field in ("state_value", "state_reason", "state_reason_data"):
                setattr(alarm, field, getattr(old, field))
            alarm.state_updated_timestamp = old.state_updated_timestamp
            alarm.localcloud_history = _history(old)  # type: ignore[attr-defined]
            _record(alarm, "ConfigurationUpdate", f'Alarm "{alarm.name}" updated', {})
        return alarm

    put_metric_alarm_keeping_state._localcloud = True  # type: ignore[attr-defined]
    CloudWatchBackend.put_metric_alarm = put_metric_alarm_keeping_state  # type: ignore[method-assign]
    Alarm.update_state = _update_state  # type: ignore[method-assign]
    CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore[attr-defined]


def _update_state(self: Alarm, reason: str, reason_data: str, state_value: str) -> None:
    """A state change (evaluated, or SetAlarmState): the history item, then the new state's
    actions, queued for the evaluator's thread so that no request waits for them."""
    old = (self.state_value, self.state_reason)
    self.state_reason = reason
    self.state_reason_data = reason_data
    self.state_updated_timestamp = datetime.now(UTC).replace(tzinfo=None)
    if old[0] == state_value:
        return
    self.state_value = state_value
    new_state: dict[str, Any] = {"stateValue": state_value, "stateReason": reason}
    with contextlib.suppress(ValueError, TypeError):
        if reason_data:
            new_state["stateReasonData"] = json.loads(reason_data)
    _record(
        self,
        "StateUpdate",
        f"Alarm updated from {old[0]} to {state_value}",
        {
            "version": "1.0",
            "oldState": {"stateValue": old[0], "stateReason": old[1]},
            "newState": new_state,
        },
    )
    if self.actions_enabled:
        for action in _actions_for(self, state_value):
            _pending.put((self, action))
        _wake.set()


def _actions_for(alarm: Alarm, state: str) -> list[str]:
    if state == "ALARM":
        return list(alarm.alarm_actions or [])
    if state == "OK":
        return list(alarm.ok_actions or [])
    return list(alarm.insufficient_data_actions or [])


def _run_action(alarm: Alarm, action: str, *, repeat: bool = False) -> bool:
    """Run one action; its history item, unless it is a repeat that changed nothing (AWS
    records the invocation that follows a state change). True when anything changed."""
    if _on_action is None:
        return False
    try:
        acted = _on_action(action, alarm)
    except Exception as err:  # the action's failure is the alarm's history, not a crash
        log.warning("alarm %s: action %s failed: %s", alarm.name, action, err)
        _record(
            alarm,
            "Action",
            f"Failed to execute action {action}. Received error: {err}",
            {"actionState": "Failed", "notificationResource": action, "error": str(err)},
        )
        return True
    if repeat and not acted:
        return False
    _record(
        alarm,
        "Action",
        f"Successfully executed action {action}",
        {"actionState": "Succeeded", "notificationResource": action},
    )
    return True


def state_of(account_id: str, region_name: str, name: str) -> str | None:
    """The state of alarm `name` (None when there is no such alarm); what an endpoint's
    deployment reads to roll back (`localcloud.patches` hands it to the data plane)."""
    regions = cloudwatch_backends.get(account_id)
    alarm = regions[region_name].alarms.get(name) if regions is not None else None
    return None if alarm is None else alarm.state_value


def _describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
    """DescribeAlarmHistory: one alarm's items or every alarm's, newest first unless
    ScanBy=TimestampAscending, filtered by type and dates, paged by MaxRecords / NextToken."""
    backend = self.cloudwatch_backend
    name = self._get_param("AlarmName")
    if name:
        alarms = [backend.alarms[name]] if name in backend.alarms else []
    else:
        alarms = list(backend.alarms.values())
    kind = self._get_param("HistoryItemType")
    # Without a name AWS answers metric alarms only, unless AlarmTypes asks for more.
    types = [] if name else (self._get_param("AlarmTypes") or ["MetricAlarm"])
    start, end = self._get_param("StartDate"), self._get_param("EndDate")
    items = [
        item
        for alarm in alarms
        for item in _history(alarm)
        if (not kind or item["HistoryItemType"] == kind)
        and (not types or item["AlarmType"] in types)
        and (start is None or item["Timestamp"] >= _aware(start))
        and (end is None or item["Timestamp"] <= _aware(end))
    ]
    items.sort(
        key=lambda i: i["Timestamp"],
        reverse=self._get_param("ScanBy", "TimestampDescending") != "TimestampAscending",
    )
    first = int(self._get_param("NextToken") or 0)
    size = int(self._get_param("MaxRecords") or 100)
    page = items[first : first + size]
    result: dict[str, Any] = {"AlarmHistoryItems": page}
    if first + size < len(items):
        result["NextToken"] = str(first + size)
    return ActionResult(result)


def _aware(moment: datetime | str) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- evaluation -------------------------------------------------------------------------------


class _Target:
    """What an alarm watches: one metric (namespace, name, dimensions), period and statistic."""

    def __init__(self, alarm: Alarm) -> None:
        self.namespace = alarm.namespace
        self.name = alarm.metric_name
        self.dimensions = {(d.name, d.value) for d in alarm.dimensions}
        self.period = int(alarm.period or 60)
        self.statistic = alarm.statistic or alarm.extended_statistic
        self.unit = alarm.unit
        queries = [q for q in alarm.metric_data_queries if q.metric_stat is not None]
        if (
            not self.name
            and len(queries) == 1
            and not any(q.expression for q in alarm.metric_data_queries)
        ):
            stat = queries[0].metric_stat
            self.namespace = stat.metric.namespace
            self.name = stat.metric.metric_name
            self.dimensions = {(d.name, d.value) for d in stat.metric.dimensions}
            self.period = int(stat.period or 60)
            self.statistic = stat.stat
            self.unit = stat.unit

    def matches(self, datum: MetricDatumBase) -> bool:
        return (
            datum.name == self.name
            and datum.namespace == self.namespace
            and {(d.name, d.value) for d in datum.dimensions} == self.dimensions
            and (not self.unit or datum.unit in (None, self.unit))
        )


def statistic(datums: list[MetricDatumBase], stat: str) -> float | None:
    """`stat` (SampleCount, Sum, Average, Minimum, Maximum, pNN) of one period's datapoints."""
    if not datums:
        return None
    values = [d.value for d in datums if isinstance(d, MetricDatum)]
    sets = [d for d in datums if isinstance(d, MetricAggregatedDatum)]
    count = len(values) + sum(s.sample_count for s in sets)
    total = sum(values) + sum(s.sum for s in sets)
    if stat == "SampleCount":
        return float(count)
    if stat == "Sum":
        return float(total)
    if stat == "Average":
        return total / count if count else None
    if stat == "Minimum":
        return min([*values, *(s.min for s in sets)])
    if stat == "Maximum":
        return max([*values, *(s.max for s in sets)])
    if stat.startswith("p") and values:
        with contextlib.suppress(ValueError):
            rank = float(stat[1:]) / 100
            ordered = sorted(values)
            return ordered[max(0, math.ceil(rank * len(ordered)) - 1)]
    return None


def window_end(clock: Clock, step: int) -> float:
    """The end (cloud seconds) of the newest window whose datapoints are all in by now."""
    return math.floor((clock.now() - clock.speed * INGEST_LAG_S) / step) * step


def evaluate(alarm: Alarm, datums: list[MetricDatumBase], clock: Clock) -> tuple[str, str, str]:
    """(state, StateReason, StateReasonData) of `alarm` now, from the metric datapoints (all of
    them, or those of its metric's name)."""
    target = _Target(alarm)
    end = window_end(clock, min(target.period, 60))
    periods = int(alarm.evaluation_periods or 1)
    needed = int(alarm.datapoints_to_alarm or periods)
    breaches, label = _COMPARISONS[alarm.comparison_operator]
    threshold = float(alarm.threshold)
    mine = [d for d in datums if target.matches(d)]
    # Newest first, as AWS lists them in StateReason.
    points: list[tuple[datetime, float | None, float]] = []
    for i in range(periods):
        hi = end - i * target.period
        lo = hi - target.period
        inside = [d for d in mine if lo <= clock.cloud(_aware(d.timestamp)) < hi]
        count = statistic(inside, "SampleCount") or 0.0
        points.append((clock.wall(lo), statistic(inside, target.statistic or ""), count))
    present = [(t, v) for t, v, _ in points if v is not None]
    missing = periods - len(present)
    treat = alarm.treat_missing_data or "missing"
    breaching = sum(1 for _, v in present if breaches(v, threshold))
    decided = len(present) >= needed or treat in ("breaching", "notBreaching")
    if treat == "breaching":
        breaching += missing
    if not decided:
        # Too few datapoints to decide: `ignore` keeps the state, so does `missing` until the
        # whole range is missing (INSUFFICIENT_DATA), as AWS documents them.
        state = "INSUFFICIENT_DATA" if treat == "missing" and not present else alarm.state_value
        plural = "s were" if missing != 1 else " was"
        reason = f"Insufficient Data: {missing} datapoint{plural} unknown."
        if state == alarm.state_value:
            reason = alarm.state_reason
    elif breaching >= needed:
        state = "ALARM"
        reason = _crossed(alarm, present, periods, needed, label, threshold, breaching=True)
    else:
        state = "OK"
        reason = _crossed(alarm, present, periods, needed, label, threshold, breaching=False)
    now = datetime.now(UTC)
    data = {
        "version": "1.0",
        "queryDate": _iso(now),
        "startDate": _iso(points[-1][0]),
        "statistic" if alarm.statistic else "extendedStatistic": target.statistic,
        "period": target.period,
        "recentDatapoints": [v for _, v in present],
        "threshold": threshold,
        "evaluatedDatapoints": [
            {"timestamp": _iso(t), "sampleCount": c, "value": v}
            for t, v, c in points
            if v is not None
        ],
    }
    if treat != "missing":
        data["treatMissingData"] = treat
    return state, reason, json.dumps(data)


def _crossed(
    alarm: Alarm,
    present: list[tuple[datetime, float]],
    periods: int,
    needed: int,
    label: str,
    threshold: float,
    *,
    breaching: bool,
) -> str:
    """AWS's "Threshold Crossed: ..." sentence."""
    shown = ", ".join(f"{v} ({t.strftime('%d/%m/%y %H:%M:%S')})" for t, v in present)
    n = len(present)
    were = ("were" if n != 1 else "was") + ("" if breaching else " not")
    if needed < periods:
        head = f"{n} out of the last {periods} datapoints"
        tail = f" (minimum {needed} datapoints for OK -> ALARM transition)." if breaching else "."
    else:
        head = f"{n} datapoint{'s' if n != 1 else ''}"
        tail = "."
    return f"Threshold Crossed: {head} [{shown}] {were} {label} the threshold ({threshold}){tail}"


class AlarmEvaluator:
    """The cloud's thread that evaluates every metric alarm of every account and region, and
    runs the actions their changes queue."""

    def __init__(self, clock: Clock, store: StateStore) -> None:
        self.clock = clock
        self.store = store
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: dict[str, float] = {}  # alarm ARN -> end of the window last evaluated
        self._flushing = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alarm-evaluator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        _wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        # Often enough to meet a 60 s period within a tenth of it, at any speed.
        tick = min(0.5, self.clock.real(6.0))
        while not self._stop.is_set():
            _wake.wait(tick)
            _wake.clear()
            if self._stop.is_set():
                return
            try:
                self.tick()
            except Exception:  # one bad alarm must not end evaluation for all
                log.exception("alarm evaluation failed")

    def tick(self) -> None:
        """Evaluate the alarms whose period came round; run the queued actions."""
        repeats: list[tuple[Alarm, str]] = []
        changed = False
        with self.store.changing():
            for backend in _backends():
                by_metric: dict[tuple[str, str], list[MetricDatumBase]] | None = None
                for alarm in list(backend.alarms.values()):
                    if (
                        alarm.rule is not None
                        or alarm.comparison_operator not in _COMPARISONS
                        or alarm.threshold is None
                    ):
                        continue  # composite and anomaly-band alarms are not evaluated here
                    period = int(_Target(alarm).period)
                    end = window_end(self.clock, min(period, 60))
                    if self._last.get(alarm.alarm_arn) == end:
                        continue
                    first = alarm.alarm_arn not in self._last
                    self._last[alarm.alarm_arn] = end
                    if first and alarm.state_reason == INITIAL_REASON:
                        continue  # its first whole window is still to come
                    if by_metric is None:  # once per backend and tick, only when one is due
                        by_metric = {}
                        for datum in list(backend.metric_data):
                            key = (datum.namespace, datum.name)
                            by_metric.setdefault(key, []).append(datum)
                    target = _Target(alarm)
                    datums = by_metric.get((target.namespace, target.name), [])
                    state, reason, data = evaluate(alarm, datums, self.clock)
                    if state != alarm.state_value:
                        alarm.update_state(reason, data, state)
                        changed = True
                    elif state == "ALARM" and alarm.actions_enabled:
                        repeats.extend(
                            (alarm, a) for a in alarm.alarm_actions if ":autoscaling:" in a
                        )
        queued = [(alarm, action, False) for alarm, action in _drain()]
        for alarm, action, repeat in [*queued, *((a, x, True) for a, x in repeats)]:
            with self.store.changing():
                changed = _run_action(alarm, action, repeat=repeat) or changed
        if changed:
            self._flush()

    def _flush(self) -> None:
        """Snapshot in a thread of its own: a request may hold the store for long (a
        CloudFormation update waiting for an endpoint deployment), and evaluation must go on
        meanwhile (an alarm it evaluates may be what rolls that deployment back). One waiting
        snapshot covers every change made before it runs."""
        if not self._flushing.acquire(blocking=False):
            return

        def flush() -> None:
            try:
                self.store.flush()
            finally:
                self._flushing.release()

        threading.Thread(target=flush, name="alarm-snapshot", daemon=True).start()


def _drain() -> Iterator[tuple[Alarm, str]]:
    while True:
        try:
            yield _pending.get_nowait()
        except queue.Empty:
            return


def _backends() -> Iterator[CloudWatchBackend]:
    for regions in list(cloudwatch_backends.values()):
        yield from list(regions.values())
