"""This room's commands on the `smlocal` app: `data prepare --layout`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from smlocal.cli import app
from training.data import DataError


def test_data_prepare_writes_torchvision_s_layout(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["data", "prepare", "--out", str(tmp_path), "--layout", "torchvision"]
    )
    assert result.exit_code == 0, result.output
    raw = tmp_path / "MNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte").is_file()
    assert (raw / "t10k-labels-idx1-ubyte").is_file()


def test_data_prepare_refuses_an_unknown_layout_as_a_user_error(tmp_path: Path) -> None:
    # A UserError: `smlocal`'s entry point prints it in one line and exits 2.
    result = CliRunner().invoke(app, ["data", "prepare", "--out", str(tmp_path), "--layout", "x"])
    assert isinstance(result.exception, DataError)
    assert str(result.exception) == "layout must be one of flat, torchvision, got 'x'"
    assert list(tmp_path.iterdir()) == []
