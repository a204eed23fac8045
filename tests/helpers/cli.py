"""Commands run to their end as another process: `run` (output captured as text, a timeout),
`SMLOCAL` (the installed CLI) and `one_line_refusal` (the CLI's manners on an expected failure)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

SMLOCAL = str(Path(sys.executable).with_name("smlocal"))


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`argv` run to its end, stdout and stderr captured as text; not checked."""
    return subprocess.run(
        list(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a CLI run that failed as expected: exit 2, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
