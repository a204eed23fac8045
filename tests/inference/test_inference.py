"""The model's own handlers (inference/inference.py): each layout, scale, type and error."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inference import inference as mnist

RNG = np.random.default_rng(0)
RAW = RNG.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
EXPECTED = torch.from_numpy(((RAW / 255.0 - mnist.MNIST_MEAN) / mnist.MNIST_STD).astype(np.float32))


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model(model_dir: Path) -> mnist.Net:
    return mnist.model_fn(str(model_dir))


def test_model_fn_loads_the_state_dict_in_eval_mode(model_dir: Path, model: mnist.Net) -> None:
    saved = torch.load(model_dir / "model.pth", weights_only=True)
    assert not model.training
    assert torch.equal(model.state_dict()["fc2.weight"], saved["fc2.weight"])


@pytest.mark.parametrize(
    "layout",
    [(3, 1, 28, 28), (3, 28, 28), (3, 784)],
    ids=["N,1,28,28", "N,28,28", "N,784"],
)
def test_input_fn_accepts_every_batch_layout(layout: tuple[int, ...]) -> None:
    tensor = mnist.input_fn(npy(RAW.reshape(layout)), "application/x-npy")
    assert tensor.shape == (3, 1, 28, 28)
    assert tensor.dtype == torch.float32
    assert torch.allclose(tensor[:, 0], EXPECTED, atol=1e-5)


@pytest.mark.parametrize("layout", [(784,), (28, 28), (1, 28, 28)])
def test_input_fn_accepts_one_image(layout: tuple[int, ...]) -> None:
    tensor = mnist.input_fn(npy(RAW[0].reshape(layout)), "application/x-npy")
    assert tensor.shape == (1, 1, 28, 28)
    assert torch.allclose(tensor[0, 0], EXPECTED[0], atol=1e-5)


def test_input_fn_reads_raw_unit_and_standardized_pixels_alike() -> None:
    unit = RAW.astype(np.float32) / 255.0
    standardized = (unit - mnist.MNIST_MEAN) / mnist.MNIST_STD
    for array in (RAW, RAW.astype(np.float64), unit, standardized):
        tensor = mnist.input_fn(npy(array), "application/x-npy")
        assert torch.allclose(tensor[:, 0], EXPECTED, atol=1e-5)


def test_input_fn_decodes_json_csv_npz() -> None:
    body_json = json.dumps(RAW.tolist()).encode()
    body_instances = json.dumps({"instances": RAW.reshape(3, -1).tolist()}).encode()
    body_csv = "\n".join(",".join(map(str, row)) for row in RAW.reshape(3, -1)).encode()
    buffer = io.BytesIO()
    np.savez(buffer, images=RAW)
    for body, content_type in [
        (body_json, "application/json"),
        (body_instances, "application/json; charset=utf-8"),
        (body_csv, "text/csv"),
        (buffer.getvalue(), "application/x-npz"),
    ]:
        assert torch.allclose(mnist.input_fn(body, content_type)[:, 0], EXPECTED, atol=1e-5)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"[1, 2", "application/json", 400, "not valid application/json"),
        (b"7", "application/json", 400, "expected images"),
        (json.dumps([[0] * 783]).encode(), "application/json", 400, "(1, 783)"),
        (npy(np.zeros((0, 784))), "application/x-npy", 400, "empty batch"),
        (npy(np.full((1, 784), np.nan)), "application/x-npy", 400, "nan"),
        (npy(np.full((1, 784), 300.0)), "application/x-npy", 400, "0–255"),
        (npy(np.array(["a"] * 784)), "application/x-npy", 400, "dtype"),
        (b"1,2,x\n", "text/csv", 400, "not valid text/csv"),
        (b"\x93NUMPY garbage", "application/x-npy", 400, "not valid application/x-npy"),
        (npy(RAW), "application/x-npz", 400, "npz"),
        (npy(RAW), "image/png", 415, "image/png"),
    ],
)
def test_input_fn_errors_carry_their_status(body, content_type, status, says) -> None:
    with pytest.raises(ValueError) as caught:
        mnist.input_fn(body, content_type)
    assert caught.value.status_code == status
    assert says.lower() in str(caught.value).lower()


def test_input_fn_refuses_pickled_arrays() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(mnist.InvalidInput, match=r"pickled|allow_pickle"):
        mnist.input_fn(buffer.getvalue(), "application/x-npy")


def test_predict_fn_returns_probabilities(model: mnist.Net) -> None:
    probabilities = mnist.predict_fn(mnist.input_fn(npy(RAW), "application/x-npy"), model)
    assert probabilities.shape == (3, 10)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(3), atol=1e-5)
    assert not probabilities.requires_grad


def test_output_fn_json_csv_npy_agree() -> None:
    probabilities = torch.softmax(torch.randn(2, 10, generator=torch.Generator().manual_seed(1)), 1)
    labels = probabilities.argmax(1).tolist()

    body, content_type = mnist.output_fn(probabilities, "application/json")
    rows = json.loads(body)["predictions"]
    assert content_type == "application/json"
    assert [row["label"] for row in rows] == labels
    assert np.allclose([row["probabilities"] for row in rows], probabilities.numpy())

    body, content_type = mnist.output_fn(probabilities, "text/csv")
    table = np.loadtxt(io.StringIO(body.decode()), delimiter=",")
    assert content_type == "text/csv"
    assert table[:, 0].tolist() == labels
    assert np.allclose(table[:, 1:], probabilities.numpy())

    body, content_type = mnist.output_fn(probabilities, "application/x-npy")
    assert content_type == "application/x-npy"
    assert np.allclose(np.load(io.BytesIO(body)), probabilities.numpy())

    assert mnist.output_fn(probabilities, "*/*")[1] == "application/json"


def test_output_fn_refuses_other_types_with_406() -> None:
    with pytest.raises(mnist.UnsupportedAccept, match="image/png") as caught:
        mnist.output_fn(torch.ones(1, 10) / 10, "image/png")
    assert caught.value.status_code == 406
