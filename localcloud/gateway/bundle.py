"""The CA bundle a shell with the cloud's environment trusts: the cloud's CA (which signs AWS's
names only, see `authority`) followed by every CA the shell trusted before, so that the same
file serves the clients that meet the cloud under AWS's names (the SageMaker SDK's `requests`
calls, curl to a presigned URL) and the ones that reach the real internet through the relay.

`requests` reads REQUESTS_CA_BUNDLE (else CURL_CA_BUNDLE), curl CURL_CA_BUNDLE, OpenSSL and
Python's `ssl` SSL_CERT_FILE, Node NODE_EXTRA_CA_CERTS, AWS SDKs AWS_CA_BUNDLE: each of them
replaces a default set of CAs, so what it replaces is kept in the bundle: the files those
variables named in the shell that asked (a corporate or sandbox CA among them), else the
system's store (OpenSSL's default file), else certifi's. CAs of any smlocal cloud (this one's
included) are dropped from what was kept, so a second `eval "$(smlocal cloud env)"` does not
pile them up.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from collections.abc import Mapping
from pathlib import Path

from localcloud.gateway.authority import ensure_ca
from smlocal.core.files import write_atomically

BUNDLE_FILE = "ca-bundle.pem"
# The variables whose files a client with the cloud's environment would otherwise trust.
TRUST_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "AWS_CA_BUNDLE",
)
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.S)
_CLOUD_CA_NAME = b"smlocal cloud CA"  # in the subject of every cloud's CA (`authority`)


def _trusted_before(environ: Mapping[str, str]) -> tuple[list[Path], list[bytes]]:
    """The files the shell's clients trusted and their certificates (smlocal's left out)."""
    named = dict.fromkeys(Path(environ[name]) for name in TRUST_VARIABLES if environ.get(name))
    candidates = [[path for path in named if path.is_file()]]
    candidates.append([Path(ssl.get_default_verify_paths().openssl_cafile)])
    try:
        import certifi

        candidates.append([Path(certifi.where())])
    except ImportError:
        pass
    for paths in candidates:
        found = _certificates(paths)
        if found:
            return paths, found
    return [], []


def _certificates(paths: list[Path]) -> list[bytes]:
    """Each distinct certificate of `paths` (PEM), smlocal clouds' CAs left out."""
    kept: dict[bytes, bytes] = {}
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for match in _PEM.finditer(data):
            body = b"".join(match.group(1).split())
            try:
                der = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                continue
            if _CLOUD_CA_NAME not in der:
                kept.setdefault(der, match.group(0))
    return list(kept.values())


def write_bundle(state_dir: Path, environ: Mapping[str, str]) -> Path:
    """Write `state_dir`/ca-bundle.pem for a shell whose environment is `environ` (the cloud's
    CA, then what that shell trusted); its path."""
    state_dir = Path(state_dir)
    own = ensure_ca(state_dir).read_bytes()
    sources, kept = _trusted_before(environ)
    parts = [
        b"# the smlocal local cloud's CA: it signs *.amazonaws.com names only\n",
        own.rstrip() + b"\n",
        b"# kept from " + ", ".join(map(str, sources)).encode() + b"\n",
        *(pem + b"\n" for pem in kept),
    ]
    path = state_dir / BUNDLE_FILE
    write_atomically(path, b"".join(parts))
    return path
