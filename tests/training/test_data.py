"""MNIST IDX files: round trips, the digits build, and errors on bad input."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training import data
from training.data import DataError, decode_idx, encode_idx, load_split, prepare


def test_idx_round_trip_keeps_shape_and_values() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    blob = encode_idx(images)
    assert blob[:4] == bytes([0, 0, 8, 3])
    assert np.array_equal(decode_idx(blob), images)


def test_load_split_reads_plain_and_gzipped_files(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(3, 28, 28)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    # Plain (uncompressed) files, as some mirrors ship them.
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(encode_idx(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(encode_idx(labels))
    got_images, got_labels = load_split(tmp_path, "test")
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)

    data.write_split(tmp_path, "train", images[:2], labels[:2])
    assert gzip.decompress((tmp_path / "train-labels-idx1-ubyte.gz").read_bytes())[:4] == bytes(
        [0, 0, 8, 1]
    )
    got_images, got_labels = load_split(tmp_path, "train")
    assert got_images.shape == (2, 28, 28) and list(got_labels) == [7, 0]


def test_prepare_digits_is_deterministic_and_mnist_shaped(tmp_path: Path) -> None:
    messages: list[str] = []
    assert prepare(tmp_path / "a", echo=messages.append) == "digits"
    prepare(tmp_path / "b", echo=messages.append)
    assert "not MNIST" in messages[0]
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    x_train, y_train = load_split(tmp_path / "a", "train")
    x_test, y_test = load_split(tmp_path / "a", "test")
    assert x_train.shape == (1437, 28, 28) and x_test.shape == (360, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    # Every class in both splits (stratified), digits inside the centred 20×20 box only.
    assert set(y_train) == set(y_test) == set(range(10))
    assert x_train[:, :4].max() == 0 and x_train[:, 24:].max() == 0
    assert x_train[:, :, :4].max() == 0 and x_train[:, :, 24:].max() == 0
    assert x_train.max() == 255
    # No image appears in both splits.
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)


def test_prepare_mnist_falls_back_to_digits_when_download_fails(tmp_path: Path) -> None:
    messages: list[str] = []
    used = prepare(tmp_path, "mnist", echo=messages.append, mirrors=["http://127.0.0.1:9/mnist/"])
    assert used == "digits"
    assert "MNIST download failed" in messages[0] and "falling back" in messages[0]
    assert load_split(tmp_path, "train")[0].shape == (1437, 28, 28)


def test_missing_and_malformed_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no train-images-idx3-ubyte\.gz or train-images"):
        load_split(tmp_path, "train")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 12 + b"x")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(encode_idx(np.zeros(1, np.uint8)))
    with pytest.raises(DataError, match=r"header says \(0, 0, 0\)"):
        load_split(tmp_path, "train")
    with pytest.raises(DataError, match="not an unsigned-byte IDX file"):
        decode_idx(b"PK\x03\x04rest")
    with pytest.raises(DataError, match="split must be 'train' or 'test', got 'val'"):
        load_split(tmp_path, "val")  # type: ignore[arg-type]


# torchvision.datasets.MNIST(root) checks for and reads these, in root/MNIST/raw/, without .gz
# (its `resources` names with the extension dropped; torchvision/datasets/mnist.py).
TORCHVISION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def test_torchvision_layout_puts_the_files_where_torchvision_mnist_reads_them(
    tmp_path: Path,
) -> None:
    messages: list[str] = []
    assert prepare(tmp_path, layout="torchvision", echo=messages.append) == "digits"
    raw = tmp_path / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(TORCHVISION_FILES)
    assert [p.name for p in tmp_path.iterdir()] == ["MNIST"]  # nothing flat beside it
    # Plain IDX, as torchvision's reader opens them (no gzip): image magic 0x803, label 0x801.
    assert (raw / "train-images-idx3-ubyte").read_bytes()[:4] == bytes([0, 0, 8, 3])
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes()[:4] == bytes([0, 0, 8, 1])
    # Same data as the flat layout, and this project's loader reads either from the root.
    prepare(tmp_path / "flat", echo=messages.append)
    for split in ("train", "test"):
        for ours, flat in zip(
            load_split(tmp_path, split), load_split(tmp_path / "flat", split), strict=True
        ):
            assert np.array_equal(ours, flat)
    assert f"torchvision.datasets.MNIST(root='{tmp_path}')" in messages[0]


def test_an_unknown_layout_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="layout must be one of flat, torchvision, got 'keras'"):
        prepare(tmp_path, layout="keras")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_smlocal_train_uploads_a_torchvision_layout_with_its_tree(s3: Any, tmp_path: Path) -> None:
    from rich.console import Console

    from training.submit import upload_data

    prepare(tmp_path, layout="torchvision", echo=lambda _line: None)
    bucket = "sagemaker-us-east-1-123456789012"  # the `s3` fixture's
    uri = upload_data(s3, tmp_path, bucket, "data/torchvision", Console(file=io.StringIO()))
    assert uri == f"s3://{bucket}/data/torchvision/"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="data/torchvision/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(
        f"data/torchvision/MNIST/raw/{name}" for name in TORCHVISION_FILES
    )
