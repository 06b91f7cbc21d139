"""The self-signed certificate for embedded mode, and the server's TLS context.

Browsers give a page the microphone only in a secure context (HTTPS, or http://localhost),
so a LAN install needs HTTPS from the first start. We make an EC P-256 certificate for
the names agents will type: localhost, 127.0.0.1, this host's name and its non-loopback
IPv4 addresses. It is made once and reused (agents accept it once per browser);
a new one is made only when it is missing, unreadable, or expired/expiring.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ifaddr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CERT_FILE_NAME = "selfsigned-cert.pem"
KEY_FILE_NAME = "selfsigned-key.pem"
# 825 days: the longest validity Apple platforms accept for a server certificate.
VALIDITY = timedelta(days=825)
# Renew a little early so a certificate never expires in the middle of a shift.
RENEW_BEFORE = timedelta(days=7)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def local_ipv4_addresses() -> list[ipaddress.IPv4Address]:
    """This machine's non-loopback, non-link-local IPv4 addresses."""
    found: set[ipaddress.IPv4Address] = set()
    try:
        adapters = ifaddr.get_adapters()
    except OSError:
        adapters = []
    for adapter in adapters:
        for ip in adapter.ips:
            if isinstance(ip.ip, str):  # IPv6 addresses come as tuples
                found.add(ipaddress.IPv4Address(ip.ip))
    return sorted(a for a in found if not (a.is_loopback or a.is_link_local or a.is_unspecified))


def subject_names(hostname: str | None = None) -> tuple[list[str], list[IPAddress]]:
    """The DNS names and IP addresses the certificate covers."""
    host = (hostname or socket.gethostname()).strip().lower()
    dns = ["localhost"]
    if host and host != "localhost":
        dns.append(host)
    ips: list[IPAddress] = [ipaddress.IPv4Address("127.0.0.1"), *local_ipv4_addresses()]
    return dns, list(dict.fromkeys(ips))


def make_certificate(
    dns_names: list[str], ip_addresses: list[IPAddress], now: datetime | None = None
) -> tuple[bytes, bytes]:
    """A new self-signed certificate and its private key, both PEM."""
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Headset (self-signed)"),
    ])
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ip) for ip in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated an hour: clocks on agents' laptops are not all exact.
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=False, crl_sign=False, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _still_good(cert_path: Path, key_path: Path, now: datetime) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        log.warning("certificate %s or its key is unreadable; making a new one", cert_path)
        return False
    if cert.public_key() != key.public_key():
        log.warning("certificate %s does not match its key; making a new one", cert_path)
        return False
    if cert.not_valid_after_utc - RENEW_BEFORE <= now:
        log.warning("certificate %s expires %s; making a new one", cert_path,
                    cert.not_valid_after_utc.date())
        return False
    return True


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write to a temporary file created with ``mode``, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def ensure_certificate(data_dir: str | Path, now: datetime | None = None) -> tuple[Path, Path]:
    """Paths of a usable self-signed certificate and key in ``data_dir``, made if needed."""
    now = now or datetime.now(UTC)
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_FILE_NAME, directory / KEY_FILE_NAME
    if _still_good(cert_path, key_path, now):
        return cert_path, key_path
    dns, ips = subject_names()
    cert_pem, key_pem = make_certificate(dns, ips, now)
    # Key first: a certificate on disk must never point at a key that is not there.
    _write_atomically(key_path, key_pem, 0o600)
    _write_atomically(cert_path, cert_pem, 0o644)
    log.info("made self-signed certificate %s for %s", cert_path,
             ", ".join([*dns, *(str(ip) for ip in ips)]))
    return cert_path, key_path


def ssl_context(cert_path: str | Path, key_path: str | Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) for the given certificate and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
