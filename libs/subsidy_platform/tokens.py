"""Short-lived signed tokens for staff and services (issue 3, "Identity and access").

A token is compact and JWT-shaped (RFC 7519 layout, RFC 8037 EdDSA):
`base64url(header) . base64url(payload) . base64url(signature)`, no padding, with the
header pinned to `{"alg":"EdDSA","typ":"JWT"}` and the payload

    {"sub": <login or service name>, "role": <role>, "kind": "staff"|"service",
     "iat": <unix seconds>, "exp": <unix seconds>, "jti": <random id>,
     "cnf": {"x5t#S256": <client certificate thumbprint>}}

signed with Ed25519. `cnf` (RFC 8705 certificate-bound tokens) is present when the token
was issued over a client certificate, as sign-in does: the access interceptor then refuses
the token over any other certificate. Tokens live 15 minutes by default; verification allows 30 seconds
of clock skew. One key pair signs for the whole platform: the private key stays with
the sign-in service (`<state_dir>/pki/token-signing-key.pem`, 0600); every service
verifies with the public key (`token-signing-key.pub`). A bad signature, an expired or
malformed token all raise `Unauthenticated`, with a message for staff in Japanese.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from subsidy_platform.access import ROLES, SERVICE_ROLE, Kind, Principal, service_principal
from subsidy_platform.errors import Unauthenticated
from subsidy_platform.tls import pki_directory, write_atomically

DEFAULT_LIFETIME = timedelta(minutes=15)
CLOCK_SKEW = timedelta(seconds=30)
PRIVATE_KEY_FILE = "token-signing-key.pem"
PUBLIC_KEY_FILE = "token-signing-key.pub"
MAX_TOKEN_LENGTH = 4096

MESSAGE_INVALID = "認証情報が正しくありません。再度サインインしてください"
MESSAGE_EXPIRED = "認証の有効期限が切れています。再度サインインしてください"

_HEADER = {"alg": "EdDSA", "typ": "JWT"}
_HEADER_SEGMENT = (
    base64.urlsafe_b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    .rstrip(b"=")
    .decode("ascii")
)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_CLAIMS = frozenset({"sub", "role", "kind", "iat", "exp", "jti"})
_OPTIONAL_CLAIMS = frozenset({"cnf"})
_THUMBPRINT = "x5t#S256"
_SHA256_BASE64URL = re.compile(r"[A-Za-z0-9_-]{43}")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class TokenIssuer:
    """Signs tokens; lives only where staff sign in (and where service tokens are minted)."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        *,
        lifetime: timedelta = DEFAULT_LIFETIME,
        clock: Clock = utc_now,
    ) -> None:
        if lifetime <= timedelta(0):
            raise ValueError("token lifetime must be positive")
        self._key = private_key
        self._lifetime = lifetime
        self._clock = clock

    def issue(
        self,
        subject: str,
        role: str,
        kind: Kind = "staff",
        *,
        certificate: str | None = None,
        not_before: int | None = None,
    ) -> str:
        """A signed token for a staff member (a role from ROLES) or a service ("service").

        `certificate` (a `tls.certificate_thumbprint`) binds the token to the client
        certificate it is issued over. `not_before` (unix seconds) is the earliest issue
        time the token may carry: the account's `tokens_valid_from` after a revocation,
        which lies less than a second ahead (within the verifiers' clock skew)."""
        principal = _principal(subject, role, kind)
        if certificate is not None and not _SHA256_BASE64URL.fullmatch(certificate):
            raise ValueError("a certificate binding is an unpadded base64url SHA-256")
        issued_at = max(int(self._clock().timestamp()), not_before or 0)
        payload: dict[str, Any] = {
            "sub": principal.subject,
            "role": principal.role,
            "kind": principal.kind,
            "iat": issued_at,
            "exp": issued_at + int(self._lifetime.total_seconds()),
            "jti": secrets.token_urlsafe(16),
        }
        if certificate is not None:
            payload["cnf"] = {_THUMBPRINT: certificate}
        body = _b64encode(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
        signing_input = f"{_HEADER_SEGMENT}.{body}"
        signature = self._key.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{_b64encode(signature)}"

    def issue_for_service(self, service: str) -> str:
        """A token naming another service of the platform (when mTLS identity is not enough)."""
        return self.issue(service, SERVICE_ROLE, "service")


class TokenVerifier:
    """Checks tokens on every service with the platform's public key."""

    def __init__(
        self,
        public_key: Ed25519PublicKey,
        *,
        clock_skew: timedelta = CLOCK_SKEW,
        clock: Clock = utc_now,
    ) -> None:
        self._key = public_key
        self._skew = clock_skew
        self._clock = clock

    def verify(self, token: str) -> Principal:
        """The principal a genuine, unexpired token names; Unauthenticated otherwise."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise Unauthenticated(MESSAGE_INVALID)
        header, body, signature = token.split(".")
        if header != _HEADER_SEGMENT:
            raise Unauthenticated(MESSAGE_INVALID)
        try:
            self._key.verify(_b64decode(signature), f"{header}.{body}".encode("ascii"))
        except (InvalidSignature, ValueError, UnicodeEncodeError):
            raise Unauthenticated(MESSAGE_INVALID) from None
        claims = _claims(body)
        now = self._clock().timestamp()
        skew = self._skew.total_seconds()
        if claims["exp"] <= claims["iat"] or claims["iat"] > now + skew:
            raise Unauthenticated(MESSAGE_INVALID)
        if claims["exp"] + skew <= now:
            raise Unauthenticated(MESSAGE_EXPIRED)
        try:
            principal = _principal(claims["sub"], claims["role"], claims["kind"])
        except ValueError:
            raise Unauthenticated(MESSAGE_INVALID) from None
        principal = replace(principal, issued_at=claims["iat"])
        if "cnf" in claims:
            return replace(principal, certificate=claims["cnf"][_THUMBPRINT])
        return principal


def ensure_signing_key(state_dir: Path) -> Ed25519PrivateKey:
    """The platform's signing key, created once under state_dir/pki with its public half."""
    with pki_directory(state_dir) as directory:
        private_path = directory / PRIVATE_KEY_FILE
        if not private_path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_atomically(private_path, pem, mode=0o600)
        key = load_private_key(state_dir)
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        public_path = directory / PUBLIC_KEY_FILE
        if not public_path.exists() or public_path.read_bytes() != public_pem:
            write_atomically(public_path, public_pem, mode=0o644)
    return key


def load_private_key(state_dir: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(
        (state_dir / "pki" / PRIVATE_KEY_FILE).read_bytes(), password=None
    )
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the token signing key is not an Ed25519 key")
    return key


def load_public_key(state_dir: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key((state_dir / "pki" / PUBLIC_KEY_FILE).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the token verification key is not an Ed25519 key")
    return key


def _principal(subject: str, role: str, kind: str) -> Principal:
    if kind == "service":
        if role != SERVICE_ROLE:
            raise ValueError(f"a service token carries the role {SERVICE_ROLE!r}")
        return service_principal(subject)
    if kind != "staff":
        raise ValueError(f"unknown principal kind {kind!r}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not subject or len(subject) > 256:
        raise ValueError("a staff token needs a subject")
    return Principal(subject=subject, role=role, kind="staff")


def _claims(body: str) -> dict[str, Any]:
    try:
        decoded = json.loads(_b64decode(body))
    except (ValueError, UnicodeDecodeError):
        raise Unauthenticated(MESSAGE_INVALID) from None
    if not isinstance(decoded, dict) or not _CLAIMS <= set(decoded) <= _CLAIMS | _OPTIONAL_CLAIMS:
        raise Unauthenticated(MESSAGE_INVALID)
    claims = cast(dict[str, Any], decoded)
    if "cnf" in claims:
        binding = claims["cnf"]
        if (
            not isinstance(binding, dict)
            or set(binding) != {_THUMBPRINT}
            or not isinstance(binding[_THUMBPRINT], str)
            or not _SHA256_BASE64URL.fullmatch(binding[_THUMBPRINT])
        ):
            raise Unauthenticated(MESSAGE_INVALID)
    for name in ("sub", "role", "kind", "jti"):
        if not isinstance(claims[name], str):
            raise Unauthenticated(MESSAGE_INVALID)
    for name in ("iat", "exp"):
        if type(claims[name]) is not int:
            raise Unauthenticated(MESSAGE_INVALID)
    return claims


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str) -> bytes:
    if not _BASE64URL.fullmatch(segment):
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as error:
        raise ValueError("not base64url") from error
