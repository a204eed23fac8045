from __future__ import annotations

from typing import Any

import pytest

from localcloud.shared.credentials import credentials
from tests.helpers.cloud import Cloud


@pytest.fixture(scope="module")
def key(cloud: Cloud, s3: Any) -> Any:
    """The cloud's start key (the s3 fixture has made the test bucket)."""
    return credentials(cloud.state_dir)
