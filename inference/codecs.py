"""Default decoders and encoders, as the SageMaker inference toolkit has them: a request body in
`application/json`, `text/csv`, `application/x-npy` (or `application/x-npz`) becomes a numpy
array; a prediction becomes JSON, CSV or npy. Used for user scripts that leave out `input_fn` or
`output_fn`.

Decoding is bounded (`Limits`): an npy header or an npz member's declared size is checked before
anything is allocated or decompressed, so a few KB of compressed zeros cannot become gigabytes.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from inference.errors import (
    BadRequest,
    DecodedTooLarge,
    ModelLoadError,
    UnsupportedAccept,
    UnsupportedContentType,
)

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
DECODES = (JSON, CSV, NPY, NPZ)
ENCODES = (JSON, CSV, NPY)
DEFAULT = JSON
# The toolkit's answer type for a request without Accept (or `*/*`), per model.
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"

# Per model, as environment variables of its container (CreateModel's Environment).
MAX_BATCH_ENV = "SMLOCAL_MAX_BATCH_SIZE"
MAX_DECODED_ENV = "SMLOCAL_MAX_DECODED_BYTES"
# 1,000 MNIST images take the served Net ~370 MB more memory; 10,000 took 3.6 GB.
DEFAULT_MAX_BATCH = 1000
# A JSON or CSV number needs at least 2 bytes ("0,") and decodes to 8 (float64): 4x the payload
# lets through everything a body within the payload limit decodes to without compression.
DECODED_PER_PAYLOAD_BYTE = 4
REALTIME_PAYLOAD_BYTES = 6 * 1024 * 1024
_NPY_MAX_HEADER = 10_000  # numpy's own default for np.load
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Limits:
    """How big a decoded request may be: bytes in memory, and items in the first dimension."""

    max_batch: int = DEFAULT_MAX_BATCH
    max_decoded_bytes: int = DECODED_PER_PAYLOAD_BYTE * REALTIME_PAYLOAD_BYTES

    @classmethod
    def from_env(cls, payload_bytes: int, environ: Mapping[str, str] | None = None) -> Limits:
        """The limits of a model: its container's variables, else defaults for the payload."""
        environ = os.environ if environ is None else environ
        return cls(
            max_batch=_positive(environ, MAX_BATCH_ENV, DEFAULT_MAX_BATCH),
            max_decoded_bytes=_positive(
                environ, MAX_DECODED_ENV, DECODED_PER_PAYLOAD_BYTE * payload_bytes
            ),
        )

    def check_batch(self, items: int) -> None:
        """413 for a batch over `max_batch`."""
        if items > self.max_batch:
            raise DecodedTooLarge(
                f"batch of {items} items exceeds the limit of {self.max_batch} "
                f"({MAX_BATCH_ENV}={self.max_batch})"
            )

    def check_bytes(self, size: int, what: str = "decoded payload") -> None:
        """413 for more than `max_decoded_bytes`."""
        if size > self.max_decoded_bytes:
            raise DecodedTooLarge(
                f"{what} of {size} bytes exceeds the limit of {self.max_decoded_bytes} bytes "
                f"({MAX_DECODED_ENV}={self.max_decoded_bytes})"
            )

    def check_data(self, data: Any) -> None:
        """413 for a decoded array or tensor (anything with a shape) over either limit."""
        shape = getattr(data, "shape", None)
        if shape is None:
            return
        if len(shape) >= 1:
            self.check_batch(int(shape[0]))
        if isinstance(data, np.ndarray):
            self.check_bytes(data.nbytes)
        elif hasattr(data, "element_size") and hasattr(data, "numel"):  # a torch tensor
            self.check_bytes(data.numel() * data.element_size())


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ModelLoadError(f"{name} must be a positive whole number, got {value!r}")
    return number


def _npy_header(stream: IO[bytes], what: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an npy header, reading nothing of the data."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(stream, max_header_size=_NPY_MAX_HEADER)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(stream, max_header_size=_NPY_MAX_HEADER)
        else:
            raise ValueError(f"npy format version {version[0]}.{version[1]} is not supported")
    except Exception as err:
        raise BadRequest(f"{what} is not valid {NPY}: {err}") from None
    return shape, dtype


def check_encoded(body: bytes, content_type: str, limits: Limits) -> tuple[int, ...] | None:
    """Check an npy / npz body against `limits` from its headers alone (before np.load
    allocates or decompresses); the shape of the array it holds (npz: the first), or None for
    other types, which decode to at most a few times the payload."""
    content_type = media_type(content_type)
    if content_type == NPY and not body.startswith(_ZIP_MAGIC):  # npz sent as npy: the decoder
        shape, dtype = _npy_header(io.BytesIO(body), "body")
        limits.check_bytes(math.prod(shape) * dtype.itemsize)
        return shape
    if content_type != NPZ:
        return None
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except (zipfile.BadZipFile, ValueError) as err:
        raise BadRequest(f"the body is not an npz archive: {err}") from None
    with archive:
        members = archive.infolist()
        if not members:
            raise BadRequest("the body is not an npz archive holding an array")
        # Declared sizes bound what zipfile will decompress (it stops at file_size).
        limits.check_bytes(sum(m.file_size for m in members), "decompressed npz")
        first = None
        for member in members:
            with archive.open(member) as stream:
                shape, dtype = _npy_header(stream, f"npz member {member.filename!r}")
            limits.check_bytes(math.prod(shape) * dtype.itemsize, f"npz member {member.filename!r}")
            first = shape if first is None else first
        return first


def media_type(header: str | None) -> str:
    """`Application/JSON; charset=utf-8` → `application/json`; empty → the default (JSON)."""
    value = (header or "").split(";", 1)[0].strip().lower()
    return value or DEFAULT


def default_accept(environ: Mapping[str, str] | None = None) -> str:
    """The model's answer type for a request without Accept (or `*/*`): its container's
    `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`, else JSON, as the toolkit reads it (once, at load)."""
    environ = os.environ if environ is None else environ
    return media_type(environ.get(DEFAULT_ACCEPT_ENV))


def negotiate(accept: str | None, default: str = DEFAULT) -> str:
    """Pick the response type from an Accept header: the first one an encoder produces; for a
    missing header or `*/*` the model's `default` (`default_accept()`), as the toolkit does;
    otherwise the first listed, so the encoder can refuse it (406)."""
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
        return default
    return listed[0]


def _numeric(array: np.ndarray, content_type: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise BadRequest(f"{content_type} body must hold numbers, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise BadRequest(f"{content_type} body holds NaN or infinity; send finite numbers")
    return array


def decode(body: bytes, content_type: str, limits: Limits | None = None) -> np.ndarray:
    """A request body → a numeric numpy array; 415 for an unknown type, 400 for a bad body,
    413 for one that decodes to more than `limits` (default: the environment's)."""
    limits = limits or Limits.from_env(REALTIME_PAYLOAD_BYTES)
    content_type = media_type(content_type)
    if content_type not in DECODES:
        raise UnsupportedContentType(
            f"content type {content_type!r} is not supported; use one of {', '.join(DECODES)}"
        )
    if not body:
        raise BadRequest(f"the request body is empty; send {content_type} data")
    shape = check_encoded(body, content_type, limits)
    if shape:  # the toolkit's convention: the first dimension is the batch
        limits.check_batch(shape[0])
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
    limits.check_data(array)
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
        # As the toolkit's encoder: a row per item, so a 1-D batch is one value per line.
        np.savetxt(buffer, np.atleast_1d(array), delimiter=",", fmt="%s")
        return buffer.getvalue().encode(), CSV
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue(), NPY
