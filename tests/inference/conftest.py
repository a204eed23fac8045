"""Fixtures: a model directory, the ASGI app in-process for speed, and a really served process
for the contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.app import create_app
from inference.handlers import load
from tests.helpers.models import build_model_dir
from tests.helpers.served import Served, TestClient


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def client(model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(load(model_dir)), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def served(model_dir: Path) -> Iterator[Served]:
    server = Served(model_dir).wait_ready()
    yield server
    server.stop()
