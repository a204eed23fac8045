"""Files written atomically."""

from __future__ import annotations

from pathlib import Path

from smlocal.core.files import write_atomically


def test_write_atomically_replaces_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "state" / "file"
    write_atomically(path, b"one")
    write_atomically(path, b"two")
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file"]  # no temp file left
