"""The cloud's clock: cloud seconds at N x real time, wall-clock moments unchanged, and `cloud
start`'s refusal of a speed it cannot run at (no cloud started: fast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from localcloud import control
from localcloud.control import CloudError
from localcloud.shared.clock import Clock


def test_a_period_lasts_period_over_speed_real_seconds() -> None:
    clock = Clock(30)
    assert clock.real(60) == 2.0
    assert Clock().real(60) == 60.0


def test_wall_clock_moments_map_to_cloud_seconds_and_back() -> None:
    clock = Clock(60)
    moment = datetime.now(UTC) + timedelta(seconds=2)
    second = clock.cloud(moment)
    assert clock.wall(second) == pytest.approx(moment, abs=timedelta(milliseconds=1))
    # One real second later is one cloud minute later; naive moments are UTC, as moto's.
    later = clock.cloud((moment + timedelta(seconds=1)).replace(tzinfo=None))
    assert later - second == pytest.approx(60.0)


def test_a_speed_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="clock speed must be > 0, got 0"):
        Clock(0)


@pytest.mark.parametrize("speed", [0, -2, 5000])
def test_cloud_start_refuses_a_clock_speed_out_of_range(tmp_path: Path, speed: float) -> None:
    # A CloudError is a UserError: the CLI prints it as one line and exits 2.
    with pytest.raises(CloudError, match=f"--clock-speed must be > 0 and <= 600, got {speed}$"):
        control.start_detached(tmp_path, 0, clock_speed=speed)
    assert not (tmp_path / "server.json").exists()
