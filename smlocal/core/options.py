"""Command-line options several rooms' commands share, declared once so that each keeps the same
flag, default and help everywhere: `env: EnvName`, `envdir: EnvDir = None`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EnvName = Annotated[str, typer.Option("--env", help="Environment name (environments/<env>.yaml)")]
"""The environment a command acts on (required)."""

EnvDir = Annotated[
    Path | None, typer.Option("--envdir", help="Manifests folder [default: environments/]")
]
"""Where the manifests are; None: `environments/`."""
