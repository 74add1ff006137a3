"""Staff passwords: scrypt hashes with their parameters, and the lock-out clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from subsidy_platform import passwords
from subsidy_platform.errors import InvalidArgument
from subsidy_platform.passwords import (
    LOCKOUT_PERIOD,
    MAX_FAILED_ATTEMPTS,
    LockoutState,
    after_failure,
    after_success,
    hash_password,
    is_locked,
    needs_rehash,
    verify_password,
)

GOOD = "correct horse battery"
NOON = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)


def test_a_hashed_password_verifies() -> None:
    assert verify_password(GOOD, hash_password(GOOD))


def test_a_wrong_password_does_not_verify() -> None:
    encoded = hash_password(GOOD)
    assert not verify_password("correct horse battery!", encoded)
    assert not verify_password("", encoded)


def test_the_hash_string_carries_algorithm_and_parameters() -> None:
    encoded = hash_password(GOOD)
    scheme, params, _salt, _key = encoded.split("$")
    assert scheme == "scrypt"
    assert params == "n=16384,r=8,p=1"
    assert GOOD not in encoded
    assert not needs_rehash(encoded)


def test_the_same_password_gets_a_different_salt_each_time() -> None:
    assert hash_password(GOOD) != hash_password(GOOD)


def test_a_hash_made_with_other_parameters_still_verifies_and_asks_for_rehash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(passwords, "SCRYPT_N", 2**10)
    old = hash_password(GOOD)
    monkeypatch.undo()
    assert old.startswith("scrypt$n=1024,r=8,p=1$")
    assert verify_password(GOOD, old)
    assert needs_rehash(old)


def test_the_same_text_typed_in_composed_or_decomposed_form_verifies() -> None:
    composed = "がぎぐげごパスワード12"
    decomposed = "か\u3099き\u3099く\u3099け\u3099こ\u3099ハ\u309aスワード12"
    assert verify_password(decomposed, hash_password(composed))


def test_a_password_shorter_than_twelve_characters_is_refused_in_japanese() -> None:
    with pytest.raises(InvalidArgument) as refused:
        hash_password("elevenchars")
    (violation,) = refused.value.violations
    assert violation.field == "password"
    assert violation.description == "パスワードは12文字以上にしてください"


def test_a_malformed_stored_hash_is_a_data_error_not_a_wrong_password() -> None:
    with pytest.raises(ValueError):
        verify_password(GOOD, "md5$abc")
    with pytest.raises(ValueError):
        verify_password(GOOD, "scrypt$n=3,r=8,p=1$AAAA$AAAA")


def test_four_failures_do_not_lock_and_the_fifth_locks_for_fifteen_minutes() -> None:
    state = LockoutState()
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        state = after_failure(state, NOON)
        assert not is_locked(state, NOON)
    state = after_failure(state, NOON)
    assert is_locked(state, NOON)
    assert is_locked(state, NOON + LOCKOUT_PERIOD - timedelta(seconds=1))
    assert not is_locked(state, NOON + LOCKOUT_PERIOD)
    assert timedelta(minutes=15) == LOCKOUT_PERIOD


def test_after_a_lock_expires_the_staff_member_has_five_attempts_again() -> None:
    state = LockoutState()
    for _ in range(MAX_FAILED_ATTEMPTS):
        state = after_failure(state, NOON)
    later = NOON + LOCKOUT_PERIOD
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        state = after_failure(state, later)
    assert not is_locked(state, later)


def test_a_success_forgets_earlier_failures() -> None:
    state = after_failure(after_failure(LockoutState(), NOON), NOON)
    assert state.failed_attempts == 2
    assert after_success() == LockoutState(failed_attempts=0, locked_until=None)
