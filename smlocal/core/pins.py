"""Writing a model pin: the `model:` block of a manifest replaced in place.

Comments and key order of the rest of the file are kept (round-trip YAML); the new text is
validated before it is written, and written atomically, so a manifest never stops loading.
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
from smlocal.core.manifest import Environment, ModelPin


def render_with_pin(path: Path, pin: ModelPin) -> str:
    """The manifest's text with its `model:` block replaced by `pin`, the rest untouched."""
    path = Path(path)
    y = round_trip_yaml()
    data = y.load(read_manifest_text(path))
    new_model = pin.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    if not new_model.get("metrics"):
        new_model.pop("metrics", None)
    if new_model.get("promotion") and not new_model["promotion"].get("skipped_checks"):
        new_model["promotion"].pop("skipped_checks", None)
    data["model"] = new_model
    buf = io.StringIO()
    y.dump(data, buf)
    text = buf.getvalue()
    # Never write a manifest that would not load.
    parse_environment(path, round_trip_yaml().load(text))
    return text


def write_pin(path: Path | str, pin: ModelPin) -> Environment:
    """Replace the manifest's model pin atomically, keeping comments and order of the rest."""
    path = Path(path)
    text = render_with_pin(path, pin)
    atomic_write_text(path, text)
    return load_environment(path)
