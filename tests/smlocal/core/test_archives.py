"""The one extraction routine and the one folder copy: malicious archives and trees, built here,
are refused with a message naming the member and the rule, and nothing lands outside."""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from inference.errors import ModelLoadError
from inference.handlers import unpack
from localcloud.dataplane.serving import StartError, unpack_model
from smlocal.core import archives
from smlocal.core.archives import ArchiveError
from training.scriptmode import FetchError, fetch_prefix, fetch_sourcedir


def tar_bytes(add: Callable[[tarfile.TarFile], None], mode: str = "w:gz") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.GNU_FORMAT) as tar:
        add(tar)
    return out.getvalue()


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"x", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def add_special(tar: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    tar.addfile(info)


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def outer(tmp_path: Path) -> Path:
    """A folder holding the extraction target `dest` and a `flag` file an attack aims at."""
    (tmp_path / "dest").mkdir()
    (tmp_path / "flag").write_text("original")
    return tmp_path


def assert_nothing_outside(outer: Path) -> None:
    assert (outer / "flag").read_text() == "original"
    assert sorted(p.name for p in outer.iterdir()) == ["dest", "flag"]


def test_a_model_archive_unpacks_with_folders_and_modes(tmp_path: Path) -> None:
    def add(tar: tarfile.TarFile) -> None:
        add_special(tar, "code", tarfile.DIRTYPE)
        add_file(tar, "./code/inference.py", b"print('hi')\n")
        add_file(tar, "code/run.sh", b"#!/bin/sh\n", mode=0o4777)
        add_file(tar, "model.pth", os.urandom(300_000))

    for mode in ("w:gz", "w:xz", "w:bz2", "w"):
        dest = tmp_path / mode.replace(":", "-")
        written = archives.extract(tar_bytes(add, mode), dest)
        assert written == 300_000 + 12 + 10
        assert tree(dest) == ["code", "code/inference.py", "code/run.sh", "model.pth"]
        assert (dest / "code" / "inference.py").read_text() == "print('hi')\n"
        assert (dest / "code" / "run.sh").stat().st_mode & 0o7777 == 0o755  # no setuid


MALICIOUS = {
    "absolute path": (
        lambda tar: add_file(tar, "/tmp/smlocal-absolute-test", b"owned"),
        "member '/tmp/smlocal-absolute-test' is an absolute path",
    ),
    "dot-dot": (
        lambda tar: add_file(tar, "code/../../flag", b"owned"),
        "member 'code/../../flag' has a '..' component",
    ),
    "symlink escape": (
        lambda tar: (
            add_special(tar, "escape", tarfile.SYMTYPE, "../"),
            add_file(tar, "escape/flag", b"owned"),
        ),
        "member 'escape' is a symbolic link to '../'; only regular files and folders",
    ),
    "hardlink escape": (
        lambda tar: (
            add_special(tar, "flaglink", tarfile.LNKTYPE, "../flag"),
            add_file(tar, "flaglink", b"owned"),
        ),
        "member 'flaglink' is a hard link to '../flag'",
    ),
    "character device": (
        lambda tar: add_special(tar, "null", tarfile.CHRTYPE),
        "member 'null' is a character device",
    ),
    "block device": (
        lambda tar: add_special(tar, "disk", tarfile.BLKTYPE),
        "member 'disk' is a block device",
    ),
    "fifo": (lambda tar: add_special(tar, "pipe", tarfile.FIFOTYPE), "member 'pipe' is a fifo"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_a_malicious_member_is_refused_by_name(case: str, outer: Path) -> None:
    add, message = MALICIOUS[case]
    with pytest.raises(ArchiveError, match=re.escape(message)):
        archives.extract(tar_bytes(add), outer / "dest")
    assert_nothing_outside(outer)
    assert not Path("/tmp/smlocal-absolute-test").exists()


def cve_2025_4517_archive(dest: Path) -> bytes:
    """The shape of CPython's test for CVE-2025-4517: a chain of symlinks whose expansion
    passes PATH_MAX, so that `os.path.realpath` (and with it the `data` filter) stops checking,
    then a link to the outside and a hard link through it that overwrites `../flag`."""
    steps = "abcdefghijklmnop"
    max_path = os.pathconf(dest, "PC_PATH_MAX")
    component = "d" * ((max_path - len(str(dest)) - 1) // (len(steps) + 1))

    def add(tar: tarfile.TarFile) -> None:
        path = ""
        for step in steps:
            add_special(tar, os.path.join(path, component), tarfile.DIRTYPE)
            add_special(tar, os.path.join(path, step), tarfile.SYMTYPE, component)
            path = os.path.join(path, component)
        linkpath = os.path.join(*steps, "l" * 254)
        add_special(tar, linkpath, tarfile.SYMTYPE, os.path.join(*[".."] * len(steps)))
        add_special(tar, "escape", tarfile.SYMTYPE, os.path.join(linkpath, ".."))
        add_special(tar, "flaglink", tarfile.LNKTYPE, os.path.join("escape", "flag"))
        add_file(tar, "flaglink", b"overwrite")
        add_file(tar, "escape/newfile", b"new")

    return tar_bytes(add)


def test_the_cve_2025_4517_archive_is_refused(outer: Path) -> None:
    archive = cve_2025_4517_archive(outer / "dest")
    with pytest.raises(ArchiveError, match=r"member '.*' is a symbolic link to 'd+'"):
        archives.extract(archive, outer / "dest")
    assert_nothing_outside(outer)


def test_the_data_filter_of_this_python_lets_the_cve_archive_out(tmp_path: Path) -> None:
    """Why the routine checks members itself: on an unpatched interpreter (3.11.7 here) the
    `data` filter lets the archive above overwrite a file outside its folder."""
    outer = tmp_path / "witness"
    (outer / "dest").mkdir(parents=True)
    (outer / "flag").write_text("original")
    archive = cve_2025_4517_archive(outer / "dest")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        try:
            tar.extractall(outer / "dest", filter="data")
        except (OSError, tarfile.TarError, KeyError):
            pytest.skip("this interpreter's tarfile has the CVE-2025-4517 fix")
    assert (outer / "flag").read_text() == "overwrite"
    assert (outer / "newfile").read_text() == "new"


def test_a_link_already_in_the_folder_is_not_followed(outer: Path) -> None:
    (outer / "dest" / "code").symlink_to(outer)
    archive = tar_bytes(lambda tar: add_file(tar, "code/flag", b"owned"))
    with pytest.raises(ArchiveError, match="member 'code/flag' goes through 'code'"):
        archives.extract(archive, outer / "dest")
    assert (outer / "flag").read_text() == "original"


def test_too_many_members_are_refused(outer: Path) -> None:
    archive = tar_bytes(lambda tar: [add_file(tar, f"f{i}") for i in range(11)])
    with pytest.raises(ArchiveError, match="member 'f10' is past the cap of 10 members"):
        archives.extract(archive, outer / "dest", max_members=10)
    assert len(list((outer / "dest").iterdir())) == 10


def zeros_bomb(size: int) -> bytes:
    """A tar.gz of one member of `size` zero bytes, streamed (never held) while compressed."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1) as gz:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        gz.write(info.tobuf(format=tarfile.GNU_FORMAT))
        block = bytes(1024 * 1024)
        for _ in range(size // len(block)):
            gz.write(block)
        gz.write(bytes(1024))  # the end-of-archive blocks
    return out.getvalue()


def test_a_bomb_is_refused_before_it_is_decompressed(outer: Path) -> None:
    bomb = zeros_bomb(256 * 1024 * 1024)
    assert len(bomb) < 2 * 1024 * 1024  # 256 MiB in about 1 MiB
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match=re.escape("member 'zeros.bin' takes the")):
            archives.extract(bomb, outer / "dest", max_bytes=64 * 1024 * 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"
    assert tree(outer / "dest") == []


def test_a_header_bomb_stops_decompressing_at_the_cap(outer: Path) -> None:
    """A GNU long name of 64 MiB: tarfile reads such a header in one piece, so without the
    read cap it would sit in memory whole."""
    out = io.BytesIO()
    size = 64 * 1024 * 1024
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1) as gz:
        info = tarfile.TarInfo("././@LongLink")
        info.type, info.size = tarfile.GNUTYPE_LONGNAME, size
        gz.write(info.tobuf(format=tarfile.GNU_FORMAT))
        for _ in range(size // (1024 * 1024)):
            gz.write(b"a" * 1024 * 1024)
        add = tarfile.TarInfo("victim")
        gz.write(add.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024))
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match="member header asks for 67108864 bytes at once"):
            archives.extract(out.getvalue(), outer / "dest")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"


def test_an_archive_whose_members_add_up_past_the_cap_is_refused(outer: Path) -> None:
    archive = tar_bytes(lambda tar: [add_file(tar, f"part{i}", bytes(600)) for i in range(3)])
    with pytest.raises(ArchiveError, match="member 'part1' takes the unpacked size past the cap"):
        archives.extract(archive, outer / "dest", max_bytes=1000)
    assert tree(outer / "dest") == ["part0"]


def test_a_truncated_or_foreign_file_is_one_clear_error(tmp_path: Path) -> None:
    good = tar_bytes(lambda tar: add_file(tar, "model.pth", os.urandom(100_000)))
    with pytest.raises(ArchiveError, match=r"not a readable tar\.gz"):
        archives.extract(good[: len(good) // 2], tmp_path / "cut")
    with pytest.raises(ArchiveError, match=r"not a readable tar\.gz"):
        archives.extract(b"PK\x03\x04 a zip file", tmp_path / "zip")


# --- the callers map the refusal to their own error ------------------------------------------


DOTDOT = "member 'code/../../../flag' has a '..' component"


def dotdot_archive() -> bytes:
    return tar_bytes(lambda tar: add_file(tar, "code/../../../flag", b"owned"))


def test_smlocal_serve_refuses_a_malicious_model(outer: Path) -> None:
    archive = outer / "dest" / "model.tar.gz"
    archive.write_bytes(cve_2025_4517_archive(Path("/tmp")))
    with pytest.raises(ModelLoadError, match=r"model archive .* member '.*' is a symbolic link"):
        unpack(archive)
    assert_nothing_outside(outer)


def test_create_endpoint_unpacking_refuses_a_malicious_model(outer: Path) -> None:
    with pytest.raises(StartError, match=re.escape(DOTDOT)):
        unpack_model(dotdot_archive(), outer / "dest")
    assert_nothing_outside(outer)


def test_a_malicious_sourcedir_fails_the_fetch(outer: Path) -> None:
    archive = outer / "dest" / "sourcedir.tar.gz"
    archive.write_bytes(dotdot_archive())
    with pytest.raises(FetchError, match=re.escape(DOTDOT)):
        fetch_sourcedir(str(archive), outer / "dest" / "job" / "code", s3_client=None)
    assert_nothing_outside(outer)


# --- folders ---------------------------------------------------------------------------------


def test_a_folder_is_copied_with_its_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print(1)\n")
    (src / "pkg" / "__init__.py").write_text("")
    assert archives.copy_tree(src, tmp_path / "copy") == 2
    assert tree(tmp_path / "copy") == ["pkg", "pkg/__init__.py", "train.py"]
    assert archives.copy_tree(src, tmp_path / "links", link=True) == 2
    assert (tmp_path / "links" / "train.py").stat().st_ino == (src / "train.py").stat().st_ino


def test_a_sourcedir_folder_with_a_symlink_loop_is_refused_at_once(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print(1)\n")
    (src / "loop").symlink_to(".")
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"loop is a symbolic link to '\.'"):
        fetch_sourcedir(str(src), tmp_path / "job" / "code", s3_client=None)
    elapsed = time.monotonic() - started
    print(f"symlink loop refused after {elapsed * 1000:.1f} ms")
    assert sum(1 for _ in (tmp_path / "job").rglob("*")) <= 2


def test_a_channel_folder_with_a_link_out_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "data"
    src.mkdir()
    (src / "secrets").symlink_to("/etc")
    with pytest.raises(FetchError, match="secrets is a symbolic link to '/etc'"):
        fetch_prefix(str(src), tmp_path / "job" / "training", s3_client=None)


def test_a_folder_copy_is_bounded(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}").write_bytes(bytes(100))
    with pytest.raises(ArchiveError, match="past the cap of 3 files"):
        archives.copy_tree(src, tmp_path / "a", max_files=3)
    with pytest.raises(ArchiveError, match="takes the copy past the cap of 250 bytes"):
        archives.copy_tree(src, tmp_path / "b", max_bytes=250)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../x", "has a '..' component"),
        ("a/../../x", "has a '..' component"),
        ("/etc/passwd", "is an absolute path"),
        ("a\x00b", "has a NUL byte"),
    ],
)
def test_safe_join_refuses_paths_that_leave(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        archives.safe_join(tmp_path, name, what="key")


def test_safe_join_and_inside_keep_names_under_their_root(tmp_path: Path) -> None:
    assert archives.safe_join(tmp_path, "a//./b/c") == tmp_path / "a" / "b" / "c"
    (tmp_path / "out").symlink_to("/")
    with pytest.raises(ArchiveError, match="resolves outside"):
        archives.safe_join(tmp_path, "out/etc")
    assert archives.inside(tmp_path, "123456789012", "us-east-1", "job") == (
        tmp_path / "123456789012" / "us-east-1" / "job"
    )
    for bad in ("..", ".", "", "a/b"):
        with pytest.raises(ArchiveError, match="cannot be a folder name"):
            archives.inside(tmp_path, "123456789012", bad)
