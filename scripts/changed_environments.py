#!/usr/bin/env python3
"""Which environments a range of commits changes, in promotion order, for CI.

An environment changed when its manifest did; a change to the infrastructure code (stacks/,
app.py, cdk.json) changes every environment. Prints JSON, and with `--github-output` also
writes `envs` (a JSON list of {name, account, region}) and `<name>=true|false`,
`<name>_account`, `<name>_region` for each known environment to $GITHUB_OUTPUT.

    python scripts/changed_environments.py --base origin/main --head HEAD
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smlocal.core.environments import ENVIRONMENTS_DIR, load_all  # noqa: E402

INFRA_PREFIXES = ("stacks/", "app.py", "cdk.json")
NO_COMMIT = "0" * 40  # what GitHub sends as `before` for a branch's first push


def changed_paths(base: str, head: str) -> list[str] | None:
    """Paths changed between base and head; None when there is no usable base."""
    if not base or base == NO_COMMIT:
        return None
    proc = subprocess.run(
        ["git", "diff", "--name-only", f"{base}...{head}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"warning: git diff {base}...{head}: {proc.stderr.strip()}", file=sys.stderr)
        return None
    return proc.stdout.split()


def changed_environments(paths: list[str] | None, envdir: Path = ENVIRONMENTS_DIR) -> list[dict]:
    """The environments to plan or deploy, in promotion order (dev, staging, prod, others)."""
    envs = load_all(envdir)
    everything = paths is None or any(p.startswith(INFRA_PREFIXES) for p in paths)
    wanted = {f"{envdir.name}/{name}.yaml": name for name in envs}
    touched = {wanted[p] for p in paths or [] if p in wanted}
    picked = [name for name in envs if everything or name in touched]
    return [{"name": n, "account": envs[n].account, "region": envs[n].region} for n in picked]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="base commit (empty: every environment)")
    parser.add_argument("--head", default="HEAD", help="head commit [default: HEAD]")
    parser.add_argument("--github-output", action="store_true", help="also write $GITHUB_OUTPUT")
    args = parser.parse_args()
    picked = changed_environments(changed_paths(args.base, args.head))
    print(json.dumps(picked, indent=2))
    if args.github_output:
        lines = [f"envs={json.dumps(picked)}"]
        chosen = {e["name"] for e in picked}
        for name, env in load_all().items():
            lines += [
                f"{name}={'true' if name in chosen else 'false'}",
                f"{name}_account={env.account}",
                f"{name}_region={env.region}",
            ]
        with open(os.environ["GITHUB_OUTPUT"], "a") as out:
            out.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
