"""Signed staff and service tokens: issue, verify, expiry, tampering, foreign keys."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from subsidy_platform.access import Principal
from subsidy_platform.errors import Unauthenticated
from subsidy_platform.tokens import (
    DEFAULT_LIFETIME,
    MESSAGE_EXPIRED,
    MESSAGE_INVALID,
    TokenIssuer,
    TokenVerifier,
    ensure_signing_key,
    load_public_key,
)

NOON = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


def pair(key: Ed25519PrivateKey, clock: Clock) -> tuple[TokenIssuer, TokenVerifier]:
    return TokenIssuer(key, clock=clock), TokenVerifier(key.public_key(), clock=clock)


def segment(data: Mapping[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(part: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_a_staff_token_names_the_user_role_and_kind(key: Ed25519PrivateKey, clock: Clock) -> None:
    issuer, verifier = pair(key, clock)
    token = issuer.issue("tanaka01", "checker")
    assert verifier.verify(token) == Principal("tanaka01", "checker", "staff")


def test_a_service_token_names_the_service(key: Ed25519PrivateKey, clock: Clock) -> None:
    issuer, verifier = pair(key, clock)
    principal = verifier.verify(issuer.issue_for_service("review"))
    assert principal == Principal("review", "service", "service")
    assert principal.grant == "service:review"


def test_the_payload_holds_the_documented_claims(key: Ed25519PrivateKey, clock: Clock) -> None:
    issuer, _ = pair(key, clock)
    header, payload, _signature = issuer.issue("tanaka01", "approver").split(".")
    assert decode(header) == {"alg": "EdDSA", "typ": "JWT"}
    claims = decode(payload)
    assert set(claims) == {"sub", "role", "kind", "iat", "exp", "jti"}
    assert claims["exp"] == int(NOON.timestamp()) + 15 * 60
    assert timedelta(minutes=15) == DEFAULT_LIFETIME


def test_every_token_has_its_own_id(key: Ed25519PrivateKey, clock: Clock) -> None:
    issuer, _ = pair(key, clock)
    first, second = issuer.issue("a", "admin"), issuer.issue("a", "admin")
    assert decode(first.split(".")[1])["jti"] != decode(second.split(".")[1])["jti"]


def test_a_token_is_accepted_until_it_expires_plus_the_clock_skew(
    key: Ed25519PrivateKey, clock: Clock
) -> None:
    issuer, verifier = pair(key, clock)
    token = issuer.issue("tanaka01", "operator")
    clock.now = NOON + timedelta(minutes=15, seconds=29)
    assert verifier.verify(token).subject == "tanaka01"
    clock.now = NOON + timedelta(minutes=15, seconds=30)
    with pytest.raises(Unauthenticated) as expired:
        verifier.verify(token)
    assert str(expired.value) == MESSAGE_EXPIRED


def test_a_token_issued_in_the_future_beyond_the_skew_is_refused(
    key: Ed25519PrivateKey, clock: Clock
) -> None:
    issuer = TokenIssuer(key, clock=Clock(NOON + timedelta(minutes=1)))
    with pytest.raises(Unauthenticated):
        TokenVerifier(key.public_key(), clock=clock).verify(issuer.issue("x", "admin"))


def test_a_token_whose_payload_was_altered_is_refused(key: Ed25519PrivateKey, clock: Clock) -> None:
    issuer, verifier = pair(key, clock)
    header, payload, signature = issuer.issue("tanaka01", "operator").split(".")
    claims = decode(payload)
    claims["role"] = "admin"
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(f"{header}.{segment(claims)}.{signature}")
    assert str(refused.value) == MESSAGE_INVALID


def test_a_token_signed_with_another_key_is_refused(key: Ed25519PrivateKey, clock: Clock) -> None:
    forger = TokenIssuer(Ed25519PrivateKey.generate(), clock=clock)
    with pytest.raises(Unauthenticated):
        TokenVerifier(key.public_key(), clock=clock).verify(forger.issue("mallory", "admin"))


def test_a_token_with_another_algorithm_in_its_header_is_refused(
    key: Ed25519PrivateKey, clock: Clock
) -> None:
    issuer, verifier = pair(key, clock)
    _header, payload, signature = issuer.issue("tanaka01", "operator").split(".")
    for header in ({"alg": "none", "typ": "JWT"}, {"alg": "HS256", "typ": "JWT"}):
        with pytest.raises(Unauthenticated):
            verifier.verify(f"{segment(header)}.{payload}.{signature}")


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "...", "eyJ.eyJ.***", "x" * 5000, "ey J.ey J.sig"],
)
def test_malformed_tokens_are_refused_as_unauthenticated(
    key: Ed25519PrivateKey, clock: Clock, token: str
) -> None:
    _, verifier = pair(key, clock)
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_a_token_for_an_unknown_role_cannot_be_issued(key: Ed25519PrivateKey, clock: Clock) -> None:
    issuer, _ = pair(key, clock)
    with pytest.raises(ValueError):
        issuer.issue("tanaka01", "superuser")


def test_the_signing_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    first = ensure_signing_key(tmp_path)
    second = ensure_signing_key(tmp_path)
    assert first.public_key() == second.public_key() == load_public_key(tmp_path)
    private_file = tmp_path / "pki" / "token-signing-key.pem"
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600
    assert (tmp_path / "pki" / "token-signing-key.pub").exists()


THUMBPRINT = base64.urlsafe_b64encode(b"\x01" * 32).rstrip(b"=").decode()


def test_a_token_issued_over_a_client_certificate_is_bound_to_its_thumbprint(
    key: Ed25519PrivateKey, clock: Clock
) -> None:
    issuer, verifier = pair(key, clock)
    token = issuer.issue("tanaka01", "checker", certificate=THUMBPRINT)
    assert decode(token.split(".")[1])["cnf"] == {"x5t#S256": THUMBPRINT}
    principal = verifier.verify(token)
    assert principal == Principal("tanaka01", "checker", "staff")
    assert principal.certificate == THUMBPRINT
    assert verifier.verify(issuer.issue("tanaka01", "checker")).certificate is None


def test_a_binding_that_was_altered_or_is_malformed_is_refused(
    key: Ed25519PrivateKey, clock: Clock
) -> None:
    issuer, verifier = pair(key, clock)
    header, payload, signature = issuer.issue("tanaka01", "checker", certificate=THUMBPRINT).split(
        "."
    )
    claims = decode(payload)
    claims["cnf"] = {"x5t#S256": THUMBPRINT.replace("A", "B")}
    with pytest.raises(Unauthenticated):
        verifier.verify(f"{header}.{segment(claims)}.{signature}")
    with pytest.raises(ValueError):
        issuer.issue("tanaka01", "checker", certificate="not a thumbprint")
