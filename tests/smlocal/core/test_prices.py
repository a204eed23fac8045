"""The price table's provenance: every figure says what it was cross-checked with, or that it
stayed unverified (smlocal/core/prices.py)."""

from __future__ import annotations

from smlocal.core.prices import CROSS_CHECKS, PRICES


def test_every_figure_records_its_cross_check() -> None:
    table = PRICES["us-east-1"]["USD"]
    instance_hour = table["instance_hour"]
    assert isinstance(instance_hour, dict)
    figures = set(instance_hour) | {k for k in table if k != "instance_hour"}
    assert figures == set(CROSS_CHECKS)
    for figure, check in CROSS_CHECKS.items():
        assert check == "unverified" or "https://" in check, figure
