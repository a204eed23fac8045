"""The local cloud's own access key: made at its first start, kept in the state dir (mode 0600)
across restarts. `cloud env` exports it, the gateway checks requests against it, and the cloud's
own clients (a training job's uploads) sign with it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
import uuid
from dataclasses import dataclass
from pathlib import Path

from smlocal.core.errors import UserError

# The account the cloud's own key acts in: moto's default account (`moto.core.DEFAULT_ACCOUNT_ID`),
# the management account of the cloud's organization; `CDK_DEFAULT_ACCOUNT` of `cloud env`.
ACCOUNT_ID = "123456789012"
CREDENTIALS_FILE = "credentials.json"
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


def credentials(state_dir: Path) -> Credentials:
    """The start key of the cloud of `state_dir`, made on first use (mode 0600, kept)."""
    path = Path(state_dir) / CREDENTIALS_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {
            # 20 characters as AWS's: moto reads the key id of a request by that shape.
            "AccessKeyId": "LKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
            "SecretAccessKey": "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
        }
        tmp = path.with_name(f".{CREDENTIALS_FILE}.{os.getpid()}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        # link, not rename: when two processes race, the first file wins and both read it.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    try:
        record = json.loads(path.read_text())
        return Credentials(record["AccessKeyId"], record["SecretAccessKey"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(
            f"{path}: not the local cloud's credentials; delete it to make new ones"
        ) from None
