"""A second local cloud for the services that act on the clock (CloudWatch alarms, Application
Auto Scaling): its clock runs at FAST x, so a one-minute period lasts a real second. Started
once, only when a test asks for it, and stopped leaving no process behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.cloud import Cloud, running_cloud

FAST = 60.0


@pytest.fixture(scope="session")
def fast_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("fast-cloud"), clock_speed=FAST) as running:
        yield running
