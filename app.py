#!/usr/bin/env python3
"""The CDK app: manifests in, stacks out; it only wires.

Context: `-c envdir=PATH` (default environments/) and `-c env=NAME` (default: every
environment). A bad manifest prints one line and exits 2 instead of a jsii traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

from smlocal.core.environments import load_all
from smlocal.core.manifest import ManifestError


def main() -> None:
    import aws_cdk as cdk

    from stacks.wiring import add_stacks

    app = cdk.App()
    envdir = app.node.try_get_context("envdir")
    only = app.node.try_get_context("env")
    try:
        envs = load_all(Path(envdir) if envdir else None)
        add_stacks(app, envs, only=only)
    except ManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    app.synth()


if __name__ == "__main__":
    main()
