"""certs.selfsigned: made once, private key, the right names, renewed when expired."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from certs import selfsigned


def _sans(cert_path: Path) -> x509.SubjectAlternativeName:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_made_once_and_reused(tmp_path: Path) -> None:
    cert, key = selfsigned.ensure_certificate(tmp_path / "data")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = cert.read_bytes()
    assert selfsigned.ensure_certificate(tmp_path / "data") == (cert, key)
    assert cert.read_bytes() == first


def test_names_cover_local_access(tmp_path: Path) -> None:
    cert, _ = selfsigned.ensure_certificate(tmp_path)
    sans = _sans(cert)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    ips = sans.get_values_for_type(x509.IPAddress)
    assert ipaddress.IPv4Address("127.0.0.1") in ips
    for address in selfsigned.local_ipv4_addresses():
        assert address in ips and not address.is_loopback


def test_key_is_p256(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    cert, _ = selfsigned.ensure_certificate(tmp_path)
    public = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, ec.SECP256R1)


def test_regenerated_when_expired(tmp_path: Path) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=900)
    cert, _ = selfsigned.ensure_certificate(tmp_path, now=long_ago)
    old = cert.read_bytes()
    selfsigned.ensure_certificate(tmp_path)
    assert cert.read_bytes() != old
    fresh = x509.load_pem_x509_certificate(cert.read_bytes())
    assert fresh.not_valid_after_utc > datetime.now(UTC) + timedelta(days=365)


def test_regenerated_when_key_missing_or_garbage(tmp_path: Path) -> None:
    cert, key = selfsigned.ensure_certificate(tmp_path)
    key.unlink()
    selfsigned.ensure_certificate(tmp_path)
    assert key.exists()
    cert.write_text("garbage")
    selfsigned.ensure_certificate(tmp_path)
    x509.load_pem_x509_certificate(cert.read_bytes())


def test_ssl_context_serves_the_certificate(tmp_path: Path) -> None:
    cert, key = selfsigned.ensure_certificate(tmp_path)
    context = selfsigned.ssl_context(cert, key)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        selfsigned.ssl_context(cert, cert)
