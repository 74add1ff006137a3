"""Mutual TLS between services: a private CA and one certificate per identity (issue 3).

Every service listens with TLS and *requires* a client certificate signed by the CA, so
only holders of a certificate can even open a channel. The certificate's common name is
the caller's identity: a service (`intake`, `review`, ...) or a staff-facing client
(`client-<name>`, e.g. the admin command line), which still has to present a staff token.

The embedded default (DESIGN.md principle 10) generates the CA and the certificates with
`cryptography` under `<state_dir>/pki` on first use and reuses them afterwards:
ECDSA P-256, one year of validity, SAN `DNS:localhost, DNS:<name>, IP:127.0.0.1`, keys
written 0600. A certificate is issued again when it is missing, close to expiry, or not
signed by the current CA. In Kubernetes the same layout (`ca.crt`, `<name>.crt`,
`<name>.key`) can be mounted from a secret and read with `Pki(directory)`.

A staff token is bound to the client certificate it was issued over (RFC 8705): the
sign-in service puts the certificate's thumbprint (`certificate_thumbprint`, base64url of
the SHA-256 of its DER encoding, the `x5t#S256` confirmation) in the token, and the access
interceptor compares it with the thumbprint of the certificate the call comes over
(`peer_certificate_thumbprint`).
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import functools
import hashlib
import ipaddress
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
CA_COMMON_NAME = "subsidy-platform private CA"
CLIENT_PREFIX = "client-"
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class Pki:
    """A folder holding the CA certificate and each identity's certificate and key."""

    directory: Path

    @property
    def ca_certificate(self) -> bytes:
        return (self.directory / "ca.crt").read_bytes()

    def certificate(self, identity: str) -> bytes:
        return (self.directory / f"{_checked(identity)}.crt").read_bytes()

    def private_key(self, identity: str) -> bytes:
        return (self.directory / f"{_checked(identity)}.key").read_bytes()


def client_identity(name: str) -> str:
    """The common name of a staff-facing client's certificate."""
    return f"{CLIENT_PREFIX}{name}"


def ensure_pki(
    state_dir: Path,
    services: Iterable[str],
    clients: Iterable[str] = (),
    *,
    now: dt.datetime | None = None,
) -> Pki:
    """Create (once) the CA and a certificate per service and per client under state_dir/pki.

    Safe to call from several processes at once: creation is serialised by a file lock
    and files are written atomically.
    """
    moment = now or dt.datetime.now(dt.UTC)
    identities = [_checked(s) for s in services] + [_checked(client_identity(c)) for c in clients]
    with pki_directory(state_dir) as directory:
        ca_key, ca_cert = _ensure_ca(directory, moment)
        for identity in identities:
            if not _is_current(directory, identity, ca_cert, moment):
                _issue(directory, identity, ca_key, ca_cert, moment)
    return Pki(directory)


def server_credentials(pki: Pki, service: str) -> grpc.ServerCredentials:
    """Server TLS credentials for a service that refuse clients without a CA-signed certificate."""
    return grpc.ssl_server_credentials(
        [(pki.private_key(service), pki.certificate(service))],
        root_certificates=pki.ca_certificate,
        require_client_auth=True,
    )


def channel_credentials(pki: Pki, identity: str) -> grpc.ChannelCredentials:
    """Channel TLS credentials presenting `identity`'s certificate (a service or client-<name>)."""
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca_certificate,
        private_key=pki.private_key(identity),
        certificate_chain=pki.certificate(identity),
    )


def peer_identity(context: grpc.ServicerContext) -> str | None:
    """The common name of the caller's verified client certificate, or None without one."""
    values: object = context.auth_context().get("x509_common_name")
    if isinstance(values, list | tuple):
        values = values[0] if values else None
    if isinstance(values, bytes):
        return values.decode("utf-8")
    return None


@functools.lru_cache(maxsize=1024)
def certificate_thumbprint(pem: bytes) -> str:
    """RFC 8705 `x5t#S256` of a PEM certificate: base64url (unpadded) SHA-256 of its DER."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def peer_certificate_thumbprint(context: grpc.ServicerContext) -> str | None:
    """The thumbprint of the caller's verified client certificate, or None without one."""
    values: object = context.auth_context().get("x509_pem_cert")
    if isinstance(values, list | tuple):
        values = values[0] if values else None
    if isinstance(values, bytes):
        return certificate_thumbprint(values)
    return None


def _checked(identity: str) -> str:
    if not _NAME.fullmatch(identity):
        raise ValueError(f"not a valid certificate identity (DNS label): {identity!r}")
    return identity


@contextmanager
def pki_directory(state_dir: Path) -> Iterator[Path]:
    """state_dir/pki, held under an exclusive file lock while key material is created."""
    directory = state_dir / "pki"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield directory
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Write a file in one step: no reader sees half a key, no key is ever world-readable."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _ensure_ca(
    directory: Path, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey) and _valid_for_a_while(cert, now):
            return key, cert
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    cert = (
        _builder(name, name, key.public_key(), now)
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
        .sign(key, hashes.SHA256())
    )
    write_atomically(key_path, _key_pem(key), mode=0o600)
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return key, cert


def _is_current(
    directory: Path, identity: str, ca_cert: x509.Certificate, now: dt.datetime
) -> bool:
    cert_path, key_path = directory / f"{identity}.crt", directory / f"{identity}.key"
    if not (cert_path.exists() and key_path.exists()):
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if cert.public_key() != key.public_key() or not _valid_for_a_while(cert, now):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _issue(
    directory: Path,
    identity: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: dt.datetime,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)])
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if identity != "localhost":
        alt_names.append(x509.DNSName(identity))
    alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        _builder(subject, ca_cert.subject, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_atomically(directory / f"{identity}.key", _key_pem(key), mode=0o600)
    write_atomically(
        directory / f"{identity}.crt", cert.public_bytes(serialization.Encoding.PEM), mode=0o644
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _valid_for_a_while(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now and now + RENEW_BEFORE < cert.not_valid_after_utc


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
