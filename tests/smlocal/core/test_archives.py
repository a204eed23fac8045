"""The one extraction routine and the one folder copy: malicious archives and trees, built here,
are refused with a message naming the member and the rule, nothing lands outside and nothing of
a refused archive stays; links that stay inside the tree are kept, as AWS keeps them."""

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
from smlocal.core import archives, folders
from smlocal.core.archives import ArchiveError
from tests.helpers.archives import MIB, zeros_archive
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
        lambda tar: add_special(tar, "escape", tarfile.SYMTYPE, "../"),
        "member 'escape' is a symbolic link to '../', which leads outside the tree",
    ),
    "absolute symlink": (
        lambda tar: add_special(tar, "etc", tarfile.SYMTYPE, "/etc"),
        "member 'etc' is a symbolic link to '/etc', an absolute path",
    ),
    "write through a link to the folder": (
        lambda tar: (
            add_special(tar, "a", tarfile.SYMTYPE, "."),
            add_file(tar, "a/flag", b"owned"),
        ),
        "member 'a/flag' goes through the symbolic link 'a'; nothing is written through a link",
    ),
    "write through an escaping link": (
        lambda tar: (
            add_special(tar, "d", tarfile.SYMTYPE, "../.."),
            add_file(tar, "d/x", b"owned"),
        ),
        "member 'd/x' goes through the symbolic link 'd'",
    ),
    "hardlink escape": (
        lambda tar: (
            add_special(tar, "flaglink", tarfile.LNKTYPE, "../flag"),
            add_file(tar, "flaglink", b"owned"),
        ),
        "member 'flaglink' is a hard link to '../flag', which is not a file of the archive",
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
    assert tree(outer / "dest") == []  # nothing of a refused archive stays
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
    # Its links `a`, `b`, ... stay inside; the first member through one of them is refused.
    with pytest.raises(ArchiveError, match=r"member 'a/b/.*' goes through the symbolic link 'a'"):
        archives.extract(archive, outer / "dest")
    assert_nothing_outside(outer)
    assert tree(outer / "dest") == []


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
    assert tree(outer / "dest") == []  # the ten written before it are gone too


def test_a_bomb_is_refused_before_it_is_decompressed(outer: Path) -> None:
    bomb = zeros_archive(256 * MIB)
    assert len(bomb) < 2 * MIB  # 256 MiB in about a quarter of a MiB
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match=re.escape("member 'zeros.bin' takes the")):
            archives.extract(bomb, outer / "dest", max_bytes=64 * MIB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"peak {peak} bytes"
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
    assert tree(outer / "dest") == []


def test_a_truncated_or_foreign_file_is_one_clear_error(tmp_path: Path) -> None:
    good = tar_bytes(lambda tar: add_file(tar, "model.pth", os.urandom(100_000)))
    with pytest.raises(ArchiveError, match=r"not a readable tar\.gz"):
        archives.extract(good[: len(good) // 2], tmp_path / "cut")
    with pytest.raises(ArchiveError, match=r"not a readable tar\.gz"):
        archives.extract(b"PK\x03\x04 a zip file", tmp_path / "zip")


# --- the ratio bound --------------------------------------------------------------------------


def test_a_gigabyte_of_zeros_is_refused_by_the_ratio_bound_with_nothing_written(
    outer: Path,
) -> None:
    bomb = zeros_archive(1024 * MIB)  # the audit's archive: 1 GiB in about 1 MB
    with pytest.raises(ArchiveError) as caught:
        archives.extract(bomb, outer / "dest")
    bound = max(archives.UNPACK_RATIO_FLOOR, 100 * len(bomb))  # the defaults
    assert str(caught.value) == (
        f"member 'zeros.bin' takes the unpacked size past {bound} bytes, "
        f"100 times the archive's {len(bomb)} bytes: a compression bomb, or data that "
        "compresses far better than models and code do (SMLOCAL_MAX_UNPACK_RATIO sets the "
        "ratio, SMLOCAL_UNPACK_RATIO_FLOOR the size under which any ratio passes)"
    )
    assert tree(outer / "dest") == []  # refused at the member's header: no byte written


def test_small_compressible_files_pass_under_the_floor(tmp_path: Path) -> None:
    archive = zeros_archive(16 * MIB)  # 16 MiB of zeros: a ratio near 1000, under the floor
    assert archives.extract(archive, tmp_path / "dest") == 16 * MIB


def test_the_ratio_and_its_floor_are_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMLOCAL_UNPACK_RATIO_FLOOR", "0")  # the ratio applies from the first byte
    monkeypatch.setenv("SMLOCAL_MAX_UNPACK_RATIO", "10")
    with pytest.raises(ArchiveError, match=r"past \d+ bytes, 10 times the archive's"):
        archives.extract(zeros_archive(MIB), tmp_path / "zeros")
    weights = tar_bytes(lambda tar: add_file(tar, "model.pth", os.urandom(MIB)))
    assert archives.extract(weights, tmp_path / "weights") == MIB  # about 1x
    monkeypatch.setenv("SMLOCAL_MAX_UNPACK_RATIO", "ten")
    with pytest.raises(ArchiveError, match="SMLOCAL_MAX_UNPACK_RATIO must be a positive integer"):
        archives.extract(weights, tmp_path / "again")


def test_the_projects_own_archives_fit_the_ratio_from_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real weights and code: far under the default ratio even with no floor at all."""
    from tests.helpers.models import model_archive
    from training.sourcedir import pack_sourcedir

    monkeypatch.setenv("SMLOCAL_UNPACK_RATIO_FLOOR", "0")
    model = model_archive()
    sourcedir = pack_sourcedir(tmp_path / "sourcedir.tar.gz").read_bytes()
    for name, archive in (("model", model), ("sourcedir", sourcedir)):
        unpacked = archives.extract(archive, tmp_path / name)
        print(f"{name}.tar.gz: {len(archive)} bytes, {unpacked / len(archive):.1f}x unpacked")
        assert unpacked < archives.MAX_UNPACK_RATIO * len(archive)


# --- links -----------------------------------------------------------------------------------


def test_links_that_stay_inside_the_tree_are_kept(tmp_path: Path) -> None:
    def add(tar: tarfile.TarFile) -> None:
        add_file(tar, "weights/model.pth", b"weights")
        add_special(tar, "model.pth", tarfile.SYMTYPE, "weights/model.pth")
        add_special(tar, "code/weights", tarfile.SYMTYPE, "../weights")  # a folder link
        add_special(tar, "self", tarfile.SYMTYPE, ".")
        add_special(tar, "copy.pth", tarfile.LNKTYPE, "weights/model.pth")  # a hard link

    dest = tmp_path / "dest"
    archives.extract(tar_bytes(add), dest)
    assert os.readlink(dest / "model.pth") == "weights/model.pth"
    assert (dest / "model.pth").read_bytes() == b"weights"
    assert (dest / "code" / "weights" / "model.pth").read_bytes() == b"weights"
    assert os.readlink(dest / "self") == "."
    assert (dest / "copy.pth").stat().st_ino == (dest / "weights" / "model.pth").stat().st_ino


def test_link_chains_are_followed_to_their_end(outer: Path) -> None:
    def inside(tar: tarfile.TarFile) -> None:
        add_file(tar, "c/data", b"x")
        add_special(tar, "a", tarfile.SYMTYPE, "b")
        add_special(tar, "b", tarfile.SYMTYPE, "c/")

    archives.extract(tar_bytes(inside), outer / "dest")
    assert (outer / "dest" / "a" / "data").read_bytes() == b"x"

    # `sub/up -> ..` stays inside, but `sub/up/..` is the tree's parent: whichever comes first.
    escape = ("esc", tarfile.SYMTYPE, "sub/up/..")
    up = ("sub/up", tarfile.SYMTYPE, "..")
    for order in ((up, escape), (escape, up)):
        with pytest.raises(
            ArchiveError, match=re.escape("member 'esc' is a symbolic link to 'sub/up/..'")
        ):
            archives.extract(
                tar_bytes(lambda tar, order=order: [add_special(tar, *m) for m in order]),
                outer / "other",
            )
        assert not (outer / "other").exists()
    loop = tar_bytes(
        lambda tar: (
            add_special(tar, "a", tarfile.SYMTYPE, "b"),
            add_special(tar, "b", tarfile.SYMTYPE, "a/x"),
        )
    )
    with pytest.raises(ArchiveError, match="a loop of symbolic links passes through"):
        archives.extract(loop, outer / "loop")
    assert_nothing_outside_but(outer, "dest")


def assert_nothing_outside_but(outer: Path, *kept: str) -> None:
    assert (outer / "flag").read_text() == "original"
    assert sorted(p.name for p in outer.iterdir()) == sorted(["flag", *kept])


def test_a_later_member_replaces_a_link_and_a_link_replaces_a_file(tmp_path: Path) -> None:
    def add(tar: tarfile.TarFile) -> None:
        add_special(tar, "x", tarfile.SYMTYPE, "y")
        add_file(tar, "x", b"file")  # replaces the link, which was never made
        add_file(tar, "z", b"file")
        add_special(tar, "z", tarfile.SYMTYPE, "x")

    dest = tmp_path / "dest"
    archives.extract(tar_bytes(add), dest)
    assert not (dest / "x").is_symlink() and (dest / "x").read_bytes() == b"file"
    assert os.readlink(dest / "z") == "x"


def test_a_link_where_a_folder_is_or_a_hard_link_ahead_of_its_file_is_refused(
    tmp_path: Path,
) -> None:
    folder = tar_bytes(
        lambda tar: (add_file(tar, "d/x"), add_special(tar, "d", tarfile.SYMTYPE, "e"))
    )
    with pytest.raises(ArchiveError, match="member 'd' is a symbolic link where a folder"):
        archives.extract(folder, tmp_path / "a")
    ahead = tar_bytes(lambda tar: (add_special(tar, "l", tarfile.LNKTYPE, "f"), add_file(tar, "f")))
    with pytest.raises(ArchiveError, match="member 'l' is a hard link to 'f', which is not"):
        archives.extract(ahead, tmp_path / "b")
    through = tar_bytes(
        lambda tar: (
            add_file(tar, "f"),
            add_special(tar, "s", tarfile.SYMTYPE, "."),
            add_special(tar, "l", tarfile.LNKTYPE, "s/f"),
        )
    )
    with pytest.raises(ArchiveError, match="member 'l' is a hard link to 's/f'"):
        archives.extract(through, tmp_path / "c")


# --- the callers map the refusal to their own error ------------------------------------------


DOTDOT = "member 'code/../../../flag' has a '..' component"


def dotdot_archive() -> bytes:
    return tar_bytes(lambda tar: add_file(tar, "code/../../../flag", b"owned"))


def test_smlocal_serve_refuses_a_malicious_model(outer: Path) -> None:
    archive = outer / "dest" / "model.tar.gz"
    archive.write_bytes(cve_2025_4517_archive(Path("/tmp")))
    through = r"model archive .* member '.*' goes through the symbolic link 'a'"
    with pytest.raises(ModelLoadError, match=through):
        unpack(archive)
    assert_nothing_outside(outer)


def test_create_endpoint_unpacking_refuses_a_malicious_model(outer: Path) -> None:
    url = "s3://bucket/evil/model.tar.gz"
    with pytest.raises(
        StartError, match=re.escape(f"the model data {url} cannot be unpacked: {DOTDOT}")
    ):
        unpack_model(dotdot_archive(), outer / "dest", url)
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
    assert folders.copy_tree(src, tmp_path / "copy") == 2
    assert tree(tmp_path / "copy") == ["pkg", "pkg/__init__.py", "train.py"]
    assert folders.copy_tree(src, tmp_path / "links", link=True) == 2
    assert (tmp_path / "links" / "train.py").stat().st_ino == (src / "train.py").stat().st_ino


def test_a_sourcedir_folder_with_a_symlink_loop_is_copied_at_once(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "train.py").write_text("print(1)\n")
    (src / "loop").symlink_to(".")
    (src / "lib" / "train.py").symlink_to("../train.py")
    started = time.monotonic()
    fetch_sourcedir(str(src), tmp_path / "job" / "code", s3_client=None)
    elapsed = time.monotonic() - started
    print(f"symlink loop copied as a link after {elapsed * 1000:.1f} ms")
    code = tmp_path / "job" / "code"
    assert tree(code) == ["lib", "lib/train.py", "loop", "train.py"]
    assert os.readlink(code / "loop") == "."
    assert (code / "lib" / "train.py").read_text() == "print(1)\n"


def test_a_folder_link_that_leaves_the_folder_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "up").symlink_to("..")  # inside
    (src / "esc").symlink_to("sub/up/..")  # `src`'s parent, through the link above
    with pytest.raises(
        FetchError, match=re.escape("esc is a symbolic link to 'sub/up/..', which leads")
    ):
        fetch_sourcedir(str(src), tmp_path / "job" / "code", s3_client=None)


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
        folders.copy_tree(src, tmp_path / "a", max_files=3)
    with pytest.raises(ArchiveError, match="takes the copy past the cap of 250 bytes"):
        folders.copy_tree(src, tmp_path / "b", max_bytes=250)


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
