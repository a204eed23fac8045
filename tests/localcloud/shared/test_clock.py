"""The cloud's clock: cloud seconds at N x real time, wall-clock moments unchanged, and the CLI's
refusal of a speed it cannot run at (no cloud started: fast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from localcloud.shared.clock import Clock
from tests.helpers.cli import SMLOCAL, one_line_refusal, run


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


def test_cloud_start_refuses_a_clock_speed_out_of_range(tmp_path) -> None:
    result = run([SMLOCAL, "cloud", "start", "--state-dir", str(tmp_path), "--clock-speed", "0"])
    assert one_line_refusal(result).endswith("--clock-speed must be > 0 and <= 600, got 0")
    assert not (tmp_path / "server.json").exists()
