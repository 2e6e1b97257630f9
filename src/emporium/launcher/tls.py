"""A local certificate authority and a gateway certificate for ``emporium up --tls``.

Made once under ``var/tls/`` and reused: ``ca.pem`` (trust it in a browser or
with ``curl --cacert``), ``gateway.pem`` / ``gateway-key.pem`` for 127.0.0.1
and localhost, and ``trust.pem`` (the CA plus the system's roots) which the
launcher gives every child as ``SSL_CERT_FILE`` so services reach the gateway
over HTTPS without trusting anything less than before.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsFiles", "ensure_tls"]


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    trust: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600, never briefly readable under a permissive umask.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(data)


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_tls(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TlsFiles:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)  # private keys live here
    files = TlsFiles(
        directory / "ca.pem",
        directory / "gateway.pem",
        directory / "gateway-key.pem",
        directory / "trust.pem",
    )
    if not all(path.exists() for path in (files.ca, files.cert, files.key, files.trust)):
        _create(files, hosts)
    return files


def _create(files: TlsFiles, hosts: tuple[str, ...]) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Emporium local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=397))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    _write_private(files.key, _pem(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    system = ssl.get_default_verify_paths().cafile
    roots = Path(system).read_bytes() if system and Path(system).exists() else b""
    files.trust.write_bytes(ca_pem + roots)
    # Written last: its presence marks a complete set.
    files.ca.write_bytes(ca_pem)
    _write_private(files.ca.with_name("ca-key.pem"), _pem(ca_key))
