"""Reading a manifest is bounded: size cap, no YAML aliases, bad bytes and folders refused, each
failure one line naming the file, and `smlocal validate` answers them with exit 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from smlocal.core.environments import MAX_MANIFEST_BYTES, load_all, load_environment
from smlocal.core.manifest import ManifestError
from tests.helpers import ROOT
from tests.helpers.cli import run


def _laughs(levels: int, top_level: bool = False) -> str:
    """The billion-laughs document: each level a list of nine aliases of the one before."""
    item = "- " if top_level else ""
    lines = [f'{item or "l0: "}&l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        aliases = ",".join([f"*l{i - 1}"] * 9)
        lines.append(f"{item or f'l{i}: '}&l{i} [{aliases}]")
    return "\n".join(lines) + "\n"


def _one_line_naming(err: pytest.ExceptionInfo[ManifestError], path: Path) -> str:
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert len(message) < 300  # names the problem, never echoes the document
    return message


def test_an_alias_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text(_laughs(3))  # small enough to expand on a loader that allows aliases
    with pytest.raises(ManifestError) as err:
        load_environment(path)
    message = _one_line_naming(err, path)
    assert "yaml aliases are not allowed" in message and "*l0" in message
    assert "line 2" in message


def test_a_top_level_bomb_is_one_line_without_the_data(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text(_laughs(5, top_level=True))  # 9**5 items once expanded
    with pytest.raises(ManifestError) as err:
        load_environment(path)
    assert "yaml aliases are not allowed" in _one_line_naming(err, path)


def test_a_top_level_list_is_described_not_repeated(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text("".join(f"- item-{i}\n" for i in range(2000)))
    with pytest.raises(ManifestError) as err:
        load_environment(path)
    message = _one_line_naming(err, path)
    assert message.endswith("expected a mapping at the top level, got a list of length 2000")
    assert "item-1" not in message


def test_a_long_value_is_cut_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text(f"name: dev\nunknown_field: {'x' * 50_000}\n")
    with pytest.raises(ManifestError) as err:
        load_environment(path)
    (line,) = [line for line in str(err.value).splitlines() if "unknown_field" in line]
    assert line.endswith("… (50002 characters)") and len(line) < 300


def test_a_manifest_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text("name: dev\n#" + "x" * MAX_MANIFEST_BYTES + "\n")
    with pytest.raises(ManifestError) as err:
        load_environment(path)
    assert f"larger than the {MAX_MANIFEST_BYTES} bytes" in _one_line_naming(err, path)


def test_invalid_utf8_names_the_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_bytes(b"name: d\xffev\n")
    with pytest.raises(ManifestError) as err:
        load_environment(path)
    assert _one_line_naming(err, path).endswith("not valid UTF-8 (byte 0xff at offset 7)")


def test_a_folder_named_like_a_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dev.yaml").mkdir()
    with pytest.raises(ManifestError) as err:
        load_all(tmp_path)
    assert str(err.value) == f"{tmp_path / 'dev.yaml'}: is a directory, not a manifest file"


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text("name: " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ManifestError) as err:
        load_environment(path)
    assert "maximum depth" in _one_line_naming(err, path)


@pytest.mark.parametrize(
    "content",
    [_laughs(10).encode(), b"name: dev\nx: '" + b"a" * 6_000_000 + b"'\n"],
    ids=["billion-laughs", "6-MB"],
)
def test_validate_answers_a_bomb_with_one_line_and_exit_2(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "dev.yaml").write_bytes(content)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The timeout only keeps a regression from hanging the suite; the fix answers in about 0.5 s.
    cli = [sys.executable, "-c", "from smlocal.cli import main; main()"]
    result = run([*cli, "validate", "--envdir", str(tmp_path)], env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"error: {tmp_path / 'dev.yaml'}: ")
