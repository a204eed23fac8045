"""The local cloud's certificate authority, for the HTTPS proxy (`localcloud.gateway.proxy`).

Made at the cloud's first start, kept in the state dir: `ca-key.pem` (its key and certificate,
mode 0600) and `ca.pem` (the certificate alone: what `cloud env` exports as AWS_CA_BUNDLE).
The CA may only sign names under `amazonaws.com` (a critical name constraint, which OpenSSL
enforces), so a client that trusts it trusts it for AWS's names and nothing else. Per-host
certificates are signed on the fly, in memory, and cached while the cloud runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import ssl
import tempfile
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
DOMAIN = "amazonaws.com"
_CACHED_HOSTS = 256


def _write_new(path: Path, data: bytes) -> None:
    """Write `path` (mode 0600) unless it exists; when two processes race, the first wins."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    with contextlib.suppress(FileExistsError):
        os.link(tmp, path)
    tmp.unlink()


def _new_ca() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smlocal"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"smlocal cloud CA {uuid.uuid4().hex[:8]}"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(permitted_subtrees=[x509.DNSName(DOMAIN)], excluded_subtrees=None),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


def ca_path(state_dir: Path) -> Path:
    """Where the CA certificate of the cloud of `state_dir` is (AWS_CA_BUNDLE)."""
    return Path(state_dir) / CA_FILE


def ensure_ca(state_dir: Path) -> Path:
    """The CA of the cloud of `state_dir`, made on first use (mode 0600, kept); its cert's path."""
    state_dir = Path(state_dir)
    key_path, cert_path = state_dir / CA_KEY_FILE, ca_path(state_dir)
    if not key_path.exists():
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_new(key_path, _new_ca())
    if not cert_path.exists():
        pem = key_path.read_bytes()
        _write_new(cert_path, pem[pem.index(b"-----BEGIN CERTIFICATE-----") :])
    return cert_path


class Authority:
    """Signs a certificate per AWS host name with the CA of `state_dir`; one TLS server
    context per host, cached."""

    def __init__(self, state_dir: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.state_dir = Path(state_dir)
        ensure_ca(self.state_dir)
        pem = (self.state_dir / CA_KEY_FILE).read_bytes()
        self._ca_key: Any = serialization.load_pem_private_key(pem, password=None)
        self._ca_cert = x509.load_pem_x509_certificate(pem)
        # One key for every host certificate of this process: signing is then ~1 ms per host.
        self._host_key = ec.generate_private_key(ec.SECP256R1())
        self._host_key_pem = self._host_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self._lock = threading.Lock()

    def context(self, host: str) -> ssl.SSLContext:
        """A TLS server context presenting a certificate for `host` (an AWS name)."""
        with self._lock:
            found = self._contexts.get(host)
            if found is not None:
                self._contexts.move_to_end(host)
                return found
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # ssl loads a certificate chain from files only: a private temporary file, gone at once.
        with tempfile.NamedTemporaryFile(dir=self.state_dir, prefix=".host-", suffix=".pem") as f:
            f.write(self._host_key_pem + self._sign(host))
            f.flush()
            context.load_cert_chain(f.name)
        with self._lock:
            self._contexts[host] = context
            while len(self._contexts) > _CACHED_HOSTS:
                self._contexts.popitem(last=False)
        return context

    def _sign(self, host: str) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self._ca_cert.subject)
            .public_key(self._host_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                critical=False,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)
