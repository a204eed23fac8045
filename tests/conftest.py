"""Fixtures several test packages share. Helpers live in `tests/helpers/` and are imported by
module path; each package's own conftest.py holds what only it needs (one local cloud per
package that runs one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.moto import moto_server


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A plain moto server for the session (in this process, on a free port). Tests that need a
    clean one reset it (`tests.helpers.moto.use_moto`)."""
    with moto_server() as url:
        yield url
