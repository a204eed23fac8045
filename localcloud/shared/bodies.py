"""S3 object bodies as files: one per distinct body, content-addressed (`objects/<sha256>`),
written and fsynced before the request that stores it is answered."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path

from smlocal.core.files import write_atomically


class StoredBody:
    """A FakeKey's `_value_buffer` backed by a body file. moto only seeks, reads and closes its
    buffers; no descriptor stays open, so a million keys cost no file handles."""

    def __init__(self, path: Path | None, digest: str | None, size: int) -> None:
        self.path = path
        self.digest = digest
        self.size = size
        self.closed = path is None
        self._pos = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if self.closed or self.path is None:
            raise ValueError("I/O operation on closed file.")
        with open(self.path, "rb") as f:
            f.seek(self._pos)
            data = f.read() if size is None or size < 0 else f.read(size)
        self._pos += len(data)
        return data

    def close(self) -> None:
        self.closed = True


class BodyStore:
    """Content-addressed body files under `objects/`, each durable before `put` returns."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._mutex = threading.Lock()
        self._fresh: set[str] = set()  # written since the last snapshot, maybe unreferenced
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def put(self, data: bytes) -> StoredBody:
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / digest
        if not path.is_file():  # same bytes already stored: nothing to write
            write_atomically(path, data)
        with self._mutex:
            self._fresh.add(digest)
        return StoredBody(path, digest, len(data))

    def opened(self, digest: str | None, size: int) -> StoredBody:
        return StoredBody(None if digest is None else self.root / digest, digest, size)

    def give_back(self, fresh: set[str]) -> None:
        with self._mutex:
            self._fresh |= fresh

    def take_fresh(self) -> set[str]:
        with self._mutex:
            fresh, self._fresh = self._fresh, set()
        return fresh

    def on_disk(self) -> set[str]:
        return {entry.name for entry in os.scandir(self.root) if not entry.name.startswith(".")}

    def remove(self, digests: set[str]) -> None:
        for digest in digests:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.root / digest)

    def remove_temporaries(self) -> None:
        for entry in os.scandir(self.root):
            if entry.name.startswith("."):  # a write_atomically that a crash interrupted
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
