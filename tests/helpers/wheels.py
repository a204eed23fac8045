"""A tiny pure-Python wheel written by hand (no build backend, no network), for tests of
requirements.txt installs: `smlocal_tinypkg` with `VALUE = "from-the-overlay"`."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

WHEEL = "smlocal_tinypkg-0.1-py3-none-any.whl"
VALUE = "from-the-overlay"


def build_wheel(directory: Path) -> Path:
    """Write the wheel into `directory`; its path."""
    files = {
        "smlocal_tinypkg/__init__.py": f'VALUE = "{VALUE}"\n'.encode(),
        "smlocal_tinypkg-0.1.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: smlocal-tinypkg\nVersion: 0.1\n"
        ),
        "smlocal_tinypkg-0.1.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, body in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(body)}")
    record.append("smlocal_tinypkg-0.1.dist-info/RECORD,,")
    files["smlocal_tinypkg-0.1.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return wheel
