"""MetricDefinitions over log lines, as SageMaker applies them: the last value of each regex."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from smlocal.core.errors import UserError


class MetricDefinitionError(UserError):
    """A MetricDefinitions entry whose regex cannot be used."""


class MetricParser:
    """Feed it log lines; `final_metrics` gives DescribeTrainingJob's `FinalMetricDataList`."""

    def __init__(self, definitions: Iterable[Mapping[str, str]]) -> None:
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for d in definitions:
            try:
                pattern = re.compile(d["Regex"])
            except re.error as err:
                raise MetricDefinitionError(
                    f"metric {d.get('Name')!r}: regex {d['Regex']!r} does not compile: {err}"
                ) from None
            if pattern.groups < 1:
                raise MetricDefinitionError(
                    f"metric {d['Name']!r}: regex {d['Regex']!r} needs one capture group"
                )
            self._patterns.append((d["Name"], pattern))
        self._last: dict[str, dict[str, Any]] = {}

    def feed(self, line: str, when: datetime | None = None) -> list[dict[str, Any]]:
        """Match one log line; the data points it holds (`MetricName`, `Value`, `Timestamp`).
        A match whose group is not a number is ignored, as SageMaker does."""
        points = []
        for name, pattern in self._patterns:
            match = pattern.search(line)
            if match is None:
                continue
            try:
                value = float(match.group(1))
            except (TypeError, ValueError):
                continue
            point = {"MetricName": name, "Value": value, "Timestamp": when or datetime.now(UTC)}
            self._last[name] = point
            points.append(dict(point))
        return points

    @property
    def final_metrics(self) -> list[dict[str, Any]]:
        """Last value of each metric seen, in definition order."""
        return [dict(self._last[n]) for n, _ in self._patterns if n in self._last]
