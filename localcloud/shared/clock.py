"""The local cloud's clock: what it waits for runs N times faster than real time.

`smlocal cloud start --clock-speed N` makes one `Clock(N)`. Everything that waits for a
duration AWS states in seconds (CloudWatch periods and alarm evaluation, Application Auto
Scaling cooldowns, ...) asks it: a 60 s period at 30x lasts 2 real seconds. "Cloud seconds"
are monotonic real seconds since the clock started, times N. Timestamps that clients read
(StateUpdatedTimestamp, StartTime, a datapoint's Timestamp) stay wall-clock: `wall(t)` is the
wall-clock moment at which cloud second `t` happens, `cloud(ts)` the way back.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Cloud seconds at `speed` x real time, from the moment it is made."""

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed!r}")
        self.speed = float(speed)
        self._start_monotonic = time.monotonic()
        self._start_wall = time.time()

    def now(self) -> float:
        """Cloud seconds since the clock started (monotonic)."""
        return (time.monotonic() - self._start_monotonic) * self.speed

    def real(self, cloud_seconds: float) -> float:
        """How many real seconds `cloud_seconds` last."""
        return cloud_seconds / self.speed

    def sleep(self, cloud_seconds: float) -> None:
        time.sleep(max(0.0, self.real(cloud_seconds)))

    def wait(self, event: threading.Event, cloud_seconds: float) -> bool:
        """`event.wait` for `cloud_seconds`; True when the event was set."""
        return event.wait(max(0.0, self.real(cloud_seconds)))

    def wall(self, cloud_seconds: float) -> datetime:
        """The wall-clock moment (UTC) of cloud second `cloud_seconds`."""
        return datetime.fromtimestamp(self._start_wall + self.real(cloud_seconds), UTC)

    def cloud(self, moment: datetime) -> float:
        """The cloud second of a wall-clock moment (naive ones are UTC, as moto keeps them)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment.timestamp() - self._start_wall) * self.speed
