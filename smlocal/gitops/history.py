"""The pins an environment had, read from git history with the same manifest models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from smlocal.core import environments
from smlocal.core.manifest import ManifestError, ModelPin
from smlocal.gitops import git
from smlocal.gitops.promote import parse_text


@dataclass(frozen=True)
class PinRecord:
    """One commit that changed an environment's pin (or that made the manifest unreadable)."""

    commit: str
    committed_at: datetime
    subject: str
    pin: ModelPin | None  # None: the manifest at that commit did not validate
    error: str | None = None


def pin_history(env_name: str, envdir: Path | None = None) -> list[PinRecord]:
    """Commits where `env_name`'s model pin changed, newest first."""
    path = environments.manifest_path(env_name, envdir)
    if not path.exists():
        raise ManifestError(f"{path}: no such manifest")
    records: list[PinRecord] = []
    for c in git.file_log(path):
        if c.text is None:
            continue
        try:
            pin: ModelPin | None = parse_text(path, c.text, c.sha[:12]).model
            error = None
        except ManifestError as err:
            pin, error = None, str(err)
        records.append(PinRecord(c.sha, c.committed_at, c.subject, pin, error))
    # keep a commit only where the pin differs from the one before it (history is newest first)
    changes = []
    for i, rec in enumerate(records):
        older = records[i + 1] if i + 1 < len(records) else None
        if older is None or rec.error or older.pin != rec.pin:
            changes.append(rec)
    return changes
