"""Parking an environment's endpoint: `parked: true` in its manifest, so git records that the
endpoint stack is meant to be absent (the idle-dev workflow destroys an idle dev endpoint and
commits this; `smlocal reconcile` then neither redeploys it nor reports drift).

The manifest is rewritten in place (round-trip YAML: comments and key order kept), validated
before it is written, and written atomically, as a pin is.
"""

from __future__ import annotations

import io
from pathlib import Path

from smlocal.core.environments import (
    load_environment,
    parse_environment,
    read_manifest_text,
    round_trip_yaml,
)
from smlocal.core.files import atomic_write_text
from smlocal.core.manifest import Environment


def set_parked(path: Path | str, parked: bool, note: str = "") -> Environment:
    """Set (or remove, when `parked` is False) the manifest's `parked: true` line; `note`
    becomes its end-of-line comment (why and when)."""
    path = Path(path)
    y = round_trip_yaml()
    data = y.load(read_manifest_text(path))
    if parked:
        data["parked"] = True
        if note:
            data.yaml_add_eol_comment(note, "parked")
    else:
        data.pop("parked", None)
    buf = io.StringIO()
    y.dump(data, buf)
    text = buf.getvalue()
    parse_environment(path, round_trip_yaml().load(text))  # never write one that fails to load
    atomic_write_text(path, text)
    return load_environment(path)
