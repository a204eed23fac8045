"""The training sourcedir: `mnist.py` and the serving script `inference.py`, side by side."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
from importlib.util import find_spec
from pathlib import Path

from smlocal.core import archives
from smlocal.core.archives import ArchiveError

ENTRY_POINT = "mnist.py"


def sourcedir_files() -> dict[str, Path]:
    """Archive name → file: the entry point and the inference script it imports `Net` from."""
    spec = find_spec("inference.inference")  # locates the file without importing torch
    if spec is None or spec.origin is None:
        raise RuntimeError("inference/inference.py is missing from this checkout")
    return {
        ENTRY_POINT: Path(__file__).resolve().parent / ENTRY_POINT,
        "inference.py": Path(spec.origin),
    }


def _read(name: str, path: Path) -> bytes:
    """A file's bytes, if its archive name stays inside the sourcedir and it is a regular file
    of a bounded size (a fifo or device would block or never end)."""
    archives.relative_parts(name, what="sourcedir name")
    try:
        info = path.stat()
    except OSError as err:
        raise ArchiveError(f"sourcedir file {path} cannot be read: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ArchiveError(f"sourcedir file {path} is not a regular file")
    limit = archives.max_unpacked_bytes()
    if info.st_size > limit:
        raise ArchiveError(f"sourcedir file {path} is over the cap of {limit} bytes")
    return path.read_bytes()


def pack_sourcedir(archive: Path, files: dict[str, Path] | None = None) -> Path:
    """Write `sourcedir.tar.gz`; byte-identical for identical sources (fixed mtimes, order)."""
    files = files or sourcedir_files()
    buf = io.BytesIO()
    # A fixed gzip header mtime too, so the same sources give the same bytes.
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name in sorted(files):
            data = _read(name, files[name])
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f".{archive.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(archive)
    return archive
