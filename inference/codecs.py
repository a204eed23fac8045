"""Default decoders and encoders, as the SageMaker inference toolkit has them: a request body in
`application/json`, `text/csv`, `application/x-npy` (or `application/x-npz`) becomes a numpy
array; a prediction becomes JSON, CSV or npy. Used for user scripts that leave out `input_fn` or
`output_fn`."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from inference.errors import BadRequest, UnsupportedAccept, UnsupportedContentType

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
DECODES = (JSON, CSV, NPY, NPZ)
ENCODES = (JSON, CSV, NPY)
DEFAULT = JSON


def media_type(header: str | None) -> str:
    """`Application/JSON; charset=utf-8` → `application/json`; empty → the default (JSON)."""
    value = (header or "").split(";", 1)[0].strip().lower()
    return value or DEFAULT


def negotiate(accept: str | None) -> str:
    """Pick the response type from an Accept header: the first one an encoder produces, JSON for
    a missing header or `*/*`; otherwise the first listed, so the encoder can refuse it (406)."""
    weighted: list[tuple[float, str]] = []
    for part in (accept or "").split(","):
        kind, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if kind and quality > 0:
            weighted.append((quality, kind.lower()))
    listed = [kind for _, kind in sorted(weighted, key=lambda item: -item[0])]
    for kind in listed:
        if kind in ENCODES:
            return kind
    if not listed or "*/*" in listed or "application/*" in listed:
        return DEFAULT
    return listed[0]


def _numeric(array: np.ndarray, content_type: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise BadRequest(f"{content_type} body must hold numbers, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise BadRequest(f"{content_type} body holds NaN or infinity; send finite numbers")
    return array


def decode(body: bytes, content_type: str) -> np.ndarray:
    """A request body → a numeric numpy array; 415 for an unknown type, 400 for a bad body."""
    content_type = media_type(content_type)
    if content_type not in DECODES:
        raise UnsupportedContentType(
            f"content type {content_type!r} is not supported; use one of {', '.join(DECODES)}"
        )
    if not body:
        raise BadRequest(f"the request body is empty; send {content_type} data")
    try:
        if content_type == JSON:
            array = np.asarray(json.loads(body))
        elif content_type == CSV:
            rows = [row.split(",") for row in body.decode("utf-8").splitlines() if row.strip()]
            array = np.asarray([[float(v) for v in row] for row in rows], dtype=np.float64)
        else:
            loaded = np.load(io.BytesIO(body), allow_pickle=False)
            if content_type == NPZ:
                if not isinstance(loaded, np.lib.npyio.NpzFile) or not loaded.files:
                    raise BadRequest("the body is not an npz archive holding an array")
                with loaded:
                    array = loaded[loaded.files[0]]
            elif not isinstance(loaded, np.ndarray):
                raise BadRequest("the body is an npz archive; send it as application/x-npz")
            else:
                array = loaded
    except BadRequest:
        raise
    except Exception as err:  # every parser failure is the body's fault, never the server's
        raise BadRequest(f"body is not valid {content_type}: {err}") from None
    return _numeric(array, content_type)


def encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    """A prediction (tensor, array or JSON-able value) → (body, content type); 406 if unknown."""
    accept = media_type(accept)
    if accept not in ENCODES:
        raise UnsupportedAccept(
            f"accept type {accept!r} is not supported; use one of {', '.join(ENCODES)}"
        )
    if hasattr(prediction, "detach"):  # a torch tensor, without importing torch here
        prediction = prediction.detach().cpu().numpy()
    if accept == JSON:
        value = prediction.tolist() if isinstance(prediction, np.ndarray) else prediction
        return json.dumps(value).encode(), JSON
    array = np.asarray(prediction)
    if accept == CSV:
        buffer = io.StringIO()
        np.savetxt(buffer, np.atleast_2d(array), delimiter=",", fmt="%s")
        return buffer.getvalue().encode(), CSV
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue(), NPY
