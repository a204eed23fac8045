"""MNIST in the IDX format: write it, read it back, and build it without network.

`prepare(out_dir)` writes the four files every MNIST loader knows (`train-images-idx3-ubyte.gz`,
`train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`), in
`out_dir` itself (`layout="flat"`, what this project's `mnist.py` and the SageMaker examples'
channel read), or where `torchvision.datasets.MNIST(root=out_dir)` reads them
(`layout="torchvision"`: `out_dir/MNIST/raw/`, uncompressed, as its download leaves them
extracted; it checks for and reads only the names without `.gz`). By default they are built
from scikit-learn's bundled handwritten digits (1,797 real 8×8 scans), upscaled the way MNIST
was made: the digit fills a 20×20 box centred in a 28×28 frame, 0–255. `source="mnist"`
downloads the real data set from the mirror the SageMaker examples use and falls back to the
digits when the network is unreachable.

`load_split(directory, "train" | "test")` reads either, gzipped or plain, in either layout.
numpy only, so that the inference room and the benchmarks can use it without torch.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from smlocal.core.errors import UserError

Split = Literal["train", "test"]
Source = Literal["digits", "mnist"]
Layout = Literal["flat", "torchvision"]
LAYOUTS: tuple[Layout, ...] = ("flat", "torchvision")
# Where torchvision's MNIST(root) looks: root/<class name>/raw (torchvision/datasets/mnist.py).
TORCHVISION_RAW = Path("MNIST", "raw")

DEFAULT_DIR = Path("data/mnist")
FILES: dict[Split, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The public mirror of the SageMaker examples first, then PyTorch's; MD5s as torchvision has them.
MNIST_MIRRORS = (
    "https://sagemaker-example-files-prod-us-east-1.s3.amazonaws.com/datasets/image/MNIST/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0

_UBYTE = 0x08


class DataError(UserError):
    """A data directory or file that cannot be used as MNIST."""


# --- IDX format -----------------------------------------------------------------------------


def encode_idx(array: np.ndarray) -> bytes:
    """An unsigned-byte array in the IDX format (magic 0x0000 08 <ndim>, big-endian dims)."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX arrays here are uint8, got {array.dtype}")
    header = struct.pack(">HBB", 0, _UBYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def decode_idx(data: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Parse an IDX file's bytes (uint8 payload) into an array; DataError if malformed."""
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file (only {len(data)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != _UBYTE or not 1 <= ndim <= 4:
        raise DataError(
            f"{name}: not an unsigned-byte IDX file (magic {data[:4].hex()}, want 000008xx)"
        )
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataError(f"{name}: IDX header says {shape} ({expected} bytes), got {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def _find(directory: Path, stem: str) -> Path:
    for folder in (directory, directory / TORCHVISION_RAW):
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    raise DataError(
        f"{directory}: no {stem}.gz or {stem} (nor in {TORCHVISION_RAW}); "
        f"run `smlocal data prepare --out {directory}`"
    )


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file, gzipped (`.gz`) or plain."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic: trust the content over the name
        raw = gzip.decompress(raw)
    return decode_idx(raw, name=str(path))


def load_split(directory: Path | str, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N,28,28) and labels uint8 (N,) of the "train" or "test" split."""
    if split not in FILES:
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    directory = Path(directory)
    images_stem, labels_stem = FILES[split]
    images = read_idx(_find(directory, images_stem))
    labels = read_idx(_find(directory, labels_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"{directory}: {split} images {images.shape} and labels {labels.shape} do not match "
            f"(want (N,H,W) and (N,))"
        )
    return images, labels


def layout_dir(out_dir: Path | str, layout: Layout) -> Path:
    """The folder a layout's files go in: `out_dir`, or torchvision's `out_dir/MNIST/raw`."""
    if layout not in LAYOUTS:
        raise DataError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    return Path(out_dir) / TORCHVISION_RAW if layout == "torchvision" else Path(out_dir)


def write_split(
    directory: Path,
    split: Split,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    gzipped: bool = True,
) -> None:
    """Write one split as IDX files (gzipped `.gz`, or plain), each atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array in zip(FILES[split], (images, labels), strict=True):
        raw = encode_idx(array)
        if gzipped:
            _atomic_write(directory / f"{stem}.gz", gzip.compress(raw, mtime=0))
        else:
            _atomic_write(directory / stem, raw)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# --- building the digits data set -----------------------------------------------------------


def _resize_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights of linear interpolation with pixel centres aligned (like PIL)."""
    centres = (np.arange(dst) + 0.5) * src / dst - 0.5
    centres = np.clip(centres, 0, src - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, src - 1)
    frac = centres - low
    m = np.zeros((dst, src))
    m[np.arange(dst), low] += 1 - frac
    m[np.arange(dst), high] += frac
    return m


def upscale_digits(images: np.ndarray) -> np.ndarray:
    """8×8 images in 0–16 → 28×28 uint8 in 0–255, the digit in a centred 20×20 box."""
    m = _resize_matrix(images.shape[-1], 20)
    box = np.einsum("ij,njk,lk->nil", m, images.astype(np.float64), m) * (255.0 / 16.0)
    out = np.zeros((len(images), 28, 28), dtype=np.uint8)
    out[:, 4:24, 4:24] = np.clip(np.rint(box), 0, 255).astype(np.uint8)
    return out


def digits_splits() -> dict[Split, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's digits as MNIST-style train/test splits (stratified, fixed seed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = upscale_digits(digits.images)
    labels = digits.target.astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        labels,
        test_size=DIGITS_TEST_FRACTION,
        random_state=DIGITS_SPLIT_SEED,
        stratify=labels,
    )
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


# --- downloading real MNIST -----------------------------------------------------------------


def download_mnist(
    out_dir: Path,
    *,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    timeout_s: float = 30.0,
    gzipped: bool = True,
) -> str:
    """Fetch the four MNIST files, checking MD5s, and write them as they came (`.gz`) or
    extracted; returns the mirror used. OSError if none works."""
    errors = []
    for mirror in mirrors:
        try:
            blobs = {}
            for name, md5 in MNIST_MD5.items():
                with urllib.request.urlopen(mirror + name, timeout=timeout_s) as resp:
                    blob = resp.read()
                if hashlib.md5(blob).hexdigest() != md5:
                    raise OSError(f"{mirror}{name}: md5 mismatch")
                blobs[name] = blob
        except OSError as err:
            errors.append(f"{mirror}: {err}")
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, blob in blobs.items():
            if gzipped:
                _atomic_write(out_dir / name, blob)
            else:
                _atomic_write(out_dir / name.removesuffix(".gz"), gzip.decompress(blob))
        return mirror
    raise OSError("; ".join(errors))


def prepare(
    out_dir: Path | str = DEFAULT_DIR,
    source: Source = "digits",
    *,
    layout: Layout = "flat",
    echo: Callable[[str], None] = print,
    mirrors: Sequence[str] = MNIST_MIRRORS,
) -> Source:
    """Write an MNIST-format channel into `out_dir` in `layout`; returns the source actually
    used."""
    if source not in ("digits", "mnist"):
        raise DataError(f"source must be 'digits' or 'mnist', got {source!r}")
    root = Path(out_dir)
    out_dir = layout_dir(root, layout)
    gzipped = layout == "flat"
    where = f"{out_dir}" + (
        f" (torchvision.datasets.MNIST(root={str(root)!r}))" if not gzipped else ""
    )
    if source == "mnist":
        try:
            mirror = download_mnist(out_dir, mirrors=mirrors, gzipped=gzipped)
        except OSError as err:
            echo(f"MNIST download failed ({err}); falling back to scikit-learn's digits")
        else:
            echo(f"downloaded MNIST (60,000 train / 10,000 test) from {mirror} into {where}")
            return "mnist"
    splits = digits_splits()
    for split, (images, labels) in splits.items():
        write_split(out_dir, split, images, labels, gzipped=gzipped)
    n_train, n_test = len(splits["train"][1]), len(splits["test"][1])
    echo(
        f"wrote scikit-learn's handwritten digits (not MNIST: {n_train} train / {n_test} test, "
        f"8×8 upscaled to 28×28) in MNIST IDX format into {where}"
    )
    return "digits"
