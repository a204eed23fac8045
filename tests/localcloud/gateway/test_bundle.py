"""The CA bundle `cloud env` exports: the cloud's CA first, then what the shell trusted before
(never a cloud's CA twice, nor another cloud's), without a cloud."""

from __future__ import annotations

import ssl
from pathlib import Path

from localcloud.gateway import bundle as cabundle
from localcloud.gateway.authority import ensure_ca


def _count(path: Path) -> int:
    return path.read_text().count("-----BEGIN CERTIFICATE-----")


def test_the_bundle_is_the_clouds_ca_then_what_the_shell_trusted(tmp_path: Path) -> None:
    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    if not system.is_file():
        import certifi

        system = Path(certifi.where())
    shell = {"REQUESTS_CA_BUNDLE": str(system), "SSL_CERT_FILE": str(tmp_path / "missing.pem")}
    bundle = cabundle.write_bundle(tmp_path / "cloud", shell)
    text = bundle.read_text()
    ca = (tmp_path / "cloud" / "ca.pem").read_text()
    assert text.index(ca.strip()) < text.index(f"# kept from {system}\n")
    assert _count(bundle) == 1 + _count(system)
    assert bundle.stat().st_mode & 0o777 == 0o600
    # What the shell's clients load: every certificate parses, the cloud's and the system's.
    context = ssl.create_default_context(cafile=str(bundle))
    assert len(context.get_ca_certs()) == _count(bundle)


def test_a_second_env_and_another_clouds_bundle_add_no_cloud_ca(tmp_path: Path) -> None:
    other = tmp_path / "other"
    system = tmp_path / "system.pem"
    ensure_ca(tmp_path / "third")
    system.write_text((tmp_path / "third" / "ca.pem").read_text())  # stands in for a real CA...
    # ... which a cloud's CA is not: it is dropped, and the system's default file used instead.
    first = cabundle.write_bundle(other, {"REQUESTS_CA_BUNDLE": str(system)})
    assert "# kept from" in first.read_text()
    assert "# kept from " + str(system) not in first.read_text()
    # A shell that already has a cloud's environment: its bundle's other certificates are kept,
    # the cloud's CAs (that one's and this one's) are not piled up.
    again = cabundle.write_bundle(tmp_path / "cloud", {"REQUESTS_CA_BUNDLE": str(first)})
    twice = cabundle.write_bundle(tmp_path / "cloud", {"REQUESTS_CA_BUNDLE": str(again)})
    assert _count(twice) == _count(again) == _count(first)
    ca = (tmp_path / "cloud" / "ca.pem").read_text().strip()
    assert twice.read_text().count(ca) == 1
    assert (other / "ca.pem").read_text().strip() not in twice.read_text()
