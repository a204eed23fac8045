"""The MNIST serving script: it ships in `model.tar.gz` under `code/` and beside `mnist.py` in
the training sourcedir, so the network is defined once and served exactly as trained.

Imports only torch and numpy (it runs inside the SageMaker PyTorch inference container).
"""

from __future__ import annotations

import io
import json

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# MNIST pixel statistics (of images scaled to 0–1), used in training and serving alike.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class Net(nn.Module):
    """The CNN of pytorch/examples `mnist/main.py`: 2 conv layers, 2 dense, log-softmax out."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Images in 0–1 as float (N,1,28,28) → the network's input scale."""
    return (images - MNIST_MEAN) / MNIST_STD


# --- SageMaker serving handlers ---------------------------------------------------------------
# The toolkit's convention: the server calls model_fn once, then input_fn → predict_fn →
# output_fn per request. Errors carry `status_code` (as the toolkit's own errors do), so any
# server that honours it answers 4xx for bad input instead of 500. These codecs are the model's
# own, not a shared module, because this file must run alone inside the serving container.

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
INPUT_TYPES = (JSON, CSV, NPY, NPZ)
OUTPUT_TYPES = (JSON, CSV, NPY)
PIXELS = 28 * 28


class InvalidInput(ValueError):
    """A body that is not MNIST images (400)."""

    status_code = 400


class UnsupportedContentType(ValueError):
    """A request Content-Type the model cannot decode (415)."""

    status_code = 415


class UnsupportedAccept(ValueError):
    """A response type the model cannot encode (406)."""

    status_code = 406


def model_fn(model_dir: str) -> Net:
    """Load `model.pth` (the state_dict of Net) once, in eval mode, on CUDA when present."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = Net()
    state = torch.load(f"{model_dir}/model.pth", map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval()


def _media_type(header: str | None) -> str:
    return (header or JSON).split(";", 1)[0].strip().lower()


def _decode(body: bytes, content_type: str) -> np.ndarray:
    if content_type == JSON:
        data = json.loads(body)
        if isinstance(data, dict):
            data = data.get("instances", data.get("inputs"))
        return np.asarray(data, dtype=np.float32)
    if content_type == CSV:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else str(body)
        rows = [line.split(",") for line in text.splitlines() if line.strip()]
        return np.asarray([[float(v) for v in row] for row in rows], dtype=np.float32)
    loaded = np.load(io.BytesIO(body), allow_pickle=False)
    if content_type == NPZ:
        if not isinstance(loaded, np.lib.npyio.NpzFile) or not loaded.files:
            raise InvalidInput("the body is not an npz archive holding an array")
        with loaded:
            return loaded[loaded.files[0]]
    if not isinstance(loaded, np.ndarray):
        raise InvalidInput("the body is an npz archive; send it as application/x-npz")
    return loaded


def _to_images(array: np.ndarray) -> np.ndarray:
    """Any accepted layout → float32 (N,1,28,28) on the network's input scale."""
    if array.dtype.kind not in "biuf":
        raise InvalidInput(f"pixels must be numbers, got dtype {array.dtype}")
    shape = array.shape
    if shape in ((PIXELS,), (28, 28), (1, 28, 28)):
        array = array.reshape(1, 1, 28, 28)
    elif (array.ndim == 2 and shape[1] == PIXELS) or (array.ndim == 3 and shape[1:] == (28, 28)):
        array = array.reshape(shape[0], 1, 28, 28)
    elif not (array.ndim == 4 and shape[1:] == (1, 28, 28)):
        raise InvalidInput(
            f"expected images as (N,1,28,28), (N,28,28), (N,784), (28,28) or (784,); got {shape}"
        )
    if array.shape[0] == 0:
        raise InvalidInput("expected at least one image, got an empty batch")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise InvalidInput("pixels must be finite numbers, got NaN or infinity")
    low, high = float(array.min()), float(array.max())
    # Standardized MNIST always has negative background pixels; otherwise 0–1 or raw 0–255.
    if low < 0:
        return array
    if high <= 1.0:
        return (array - MNIST_MEAN) / MNIST_STD
    if high <= 255.0:
        return (array / 255.0 - MNIST_MEAN) / MNIST_STD
    raise InvalidInput(f"pixels must be 0–255, 0–1 or standardized, got a maximum of {high:g}")


def input_fn(body: bytes, content_type: str) -> torch.Tensor:
    """Decode JSON, CSV, npy or npz images into a normalized float tensor (N,1,28,28)."""
    content_type = _media_type(content_type)
    if content_type not in INPUT_TYPES:
        raise UnsupportedContentType(
            f"content type {content_type!r} is not supported; use one of {', '.join(INPUT_TYPES)}"
        )
    try:
        array = _decode(body, content_type)
    except InvalidInput:
        raise
    except Exception as err:  # any parser failure is the body's fault, never the server's
        raise InvalidInput(f"body is not valid {content_type}: {err}") from None
    return torch.from_numpy(np.ascontiguousarray(_to_images(array)))


def predict_fn(data: torch.Tensor, model: Net) -> torch.Tensor:
    """Class probabilities (N,10) for a batch of normalized images."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        return model(data.to(device)).exp().cpu()


def output_fn(prediction: torch.Tensor, accept: str) -> tuple[bytes, str]:
    """JSON {"predictions": [{"label", "probabilities"}]}, CSV `label,p0..p9`, or npy (N,10)."""
    accept = _media_type(accept if accept and accept != "*/*" else JSON)
    probabilities = prediction.numpy().astype(np.float32, copy=False)
    labels = probabilities.argmax(axis=1)
    if accept == JSON:
        rows = [
            {"label": int(label), "probabilities": probs}
            for label, probs in zip(labels, probabilities.tolist(), strict=True)
        ]
        return json.dumps({"predictions": rows}).encode(), JSON
    if accept == CSV:
        lines = (
            ",".join([str(int(label)), *map(repr, probs)])
            for label, probs in zip(labels, probabilities.tolist(), strict=True)
        )
        return ("\n".join(lines) + "\n").encode(), CSV
    if accept == NPY:
        buffer = io.BytesIO()
        np.save(buffer, probabilities, allow_pickle=False)
        return buffer.getvalue(), NPY
    raise UnsupportedAccept(
        f"accept type {accept!r} is not supported; use one of {', '.join(OUTPUT_TYPES)}"
    )
