"""Helpers shared by the test packages: ports, model artifacts, a served model, moto servers,
the local cloud. Tests import them by full module path (`from tests.helpers.cloud import …`);
fixtures come through pytest (the conftest.py files), never through imports."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root (the checkout the tests run in)."""
