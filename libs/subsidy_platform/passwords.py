"""Staff passwords: scrypt hashes and the lock-out policy (issue 3, "Identity and access").

Hashes follow RFC 7914 scrypt through `hashlib.scrypt` with n=2**14, r=8, p=1 and a
random 16-byte salt per password; the stored string carries its parameters so they can
be raised later without breaking old hashes:

    scrypt$n=16384,r=8,p=1$<salt, base64>$<key, base64>

Verification compares in constant time. Passwords are NFC-normalised (the same text
typed through different input methods gives the same bytes) and must have at least 12
characters. After a number of consecutive failures an account is locked for a period (the
sign-in policy, subsidy_platform.sign_in_throttle, which also counts failures per client);
the lock-out rules are pure functions of the stored state and the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from subsidy_platform.errors import FieldViolation, InvalidArgument

MIN_LENGTH = 12
MAX_LENGTH = 1024
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MAX_FAILED_ATTEMPTS = 5
LOCKOUT_PERIOD = timedelta(minutes=15)

_MAX_N = 2**20
_ENCODED = re.compile(
    r"scrypt\$n=(?P<n>[0-9]{1,8}),r=(?P<r>[0-9]{1,3}),p=(?P<p>[0-9]{1,3})"
    r"\$(?P<salt>[A-Za-z0-9+/=]+)\$(?P<key>[A-Za-z0-9+/=]+)"
)


def check_password_policy(password: str) -> None:
    """Raise InvalidArgument (message for staff, in Japanese) if the password is too weak."""
    length = len(unicodedata.normalize("NFC", password))
    if length < MIN_LENGTH:
        raise InvalidArgument(
            [FieldViolation("password", f"パスワードは{MIN_LENGTH}文字以上にしてください")]
        )
    if length > MAX_LENGTH:
        raise InvalidArgument(
            [FieldViolation("password", f"パスワードは{MAX_LENGTH}文字以内にしてください")]
        )


def hash_password(password: str) -> str:
    """The encoded scrypt hash of a password that satisfies the policy."""
    check_password_policy(password)
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether the password matches the encoded hash (constant-time comparison).

    A malformed stored hash is a data error, not a wrong password: it raises ValueError.
    """
    match = _ENCODED.fullmatch(encoded)
    if match is None:
        raise ValueError("malformed password hash")
    n, r, p = int(match["n"]), int(match["r"]), int(match["p"])
    if n < 2 or n > _MAX_N or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("password hash parameters out of range")
    try:
        salt = base64.b64decode(match["salt"], validate=True)
        expected = base64.b64decode(match["key"], validate=True)
    except binascii.Error as error:
        raise ValueError("malformed password hash") from error
    if len(password) > MAX_LENGTH:
        return False
    actual = _scrypt(password, salt, n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def needs_rehash(encoded: str) -> bool:
    """Whether a stored hash was made with other parameters than today's."""
    match = _ENCODED.fullmatch(encoded)
    return match is None or (int(match["n"]), int(match["r"]), int(match["p"])) != (
        SCRYPT_N,
        SCRYPT_R,
        SCRYPT_P,
    )


@dataclass(frozen=True)
class LockoutState:
    """What the lock-out rules remember about an account."""

    failed_attempts: int = 0
    locked_until: datetime | None = None


def is_locked(state: LockoutState, now: datetime) -> bool:
    """Whether sign-in is refused at `now` without even looking at the password."""
    return state.locked_until is not None and now < state.locked_until


def after_failure(
    state: LockoutState,
    now: datetime,
    limit: int = MAX_FAILED_ATTEMPTS,
    period: timedelta = LOCKOUT_PERIOD,
) -> LockoutState:
    """The state after a wrong password: the `limit`-th consecutive failure locks for
    `period` (a `limit` of 0 never locks; the failures are still counted).

    Locking restarts the count, so after the lock-out period the staff member has `limit`
    attempts again.
    """
    failures = state.failed_attempts + 1
    if limit and failures >= limit:
        return LockoutState(failed_attempts=0, locked_until=now + period)
    return LockoutState(failed_attempts=failures, locked_until=None)


def after_success() -> LockoutState:
    """The state after a correct password: failures are forgotten."""
    return LockoutState()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    secret = unicodedata.normalize("NFC", password).encode("utf-8")
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * 1024 * 1024)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
