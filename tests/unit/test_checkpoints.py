"""The pure parts of the audit checkpoints: what is signed, the settings, OpenBao's times."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from subsidy_platform import audit
from subsidy_platform.checkpoints import (
    DEFAULT_INTERVAL,
    DEFAULT_MAX_AGE,
    Checkpoint,
    CheckpointCheck,
    _vault_time,
    interval_from,
    max_age_from,
    signed_message,
)


def test_the_signed_message_names_the_chain_so_a_checkpoint_cannot_be_replayed_elsewhere() -> None:
    one = signed_message("postgres", 7, "a" * 64, "2026-12-06T01:00:00+00:00")
    other = signed_message("other-db", 7, "a" * 64, "2026-12-06T01:00:00+00:00")

    assert one != other
    assert json.loads(one) == {
        "kind": "subsidy-audit-checkpoint/2",
        "chain": "postgres",
        "seq": 7,
        "hash": "a" * 64,
        "at": "2026-12-06T01:00:00+00:00",
    }


def test_the_interval_and_the_maximum_age_come_from_the_environment_within_bounds() -> None:
    assert (interval_from({}), max_age_from({})) == (DEFAULT_INTERVAL, DEFAULT_MAX_AGE)
    assert DEFAULT_INTERVAL < DEFAULT_MAX_AGE
    environ = {"AUDIT_CHECKPOINT_SECONDS": "2.5", "AUDIT_MAX_AGE_SECONDS": "30"}
    assert (interval_from(environ), max_age_from(environ)) == (2.5, 30.0)
    for bad in ("0", "-1", "soon", "100000"):
        with pytest.raises(ValueError, match="AUDIT_MAX_AGE_SECONDS"):
            max_age_from({"AUDIT_MAX_AGE_SECONDS": bad})


def test_openbaos_nanosecond_times_are_read_to_the_microsecond() -> None:
    assert _vault_time("2026-12-06T01:02:03.123456789Z") == datetime(
        2026, 12, 6, 1, 2, 3, 123456, tzinfo=UTC
    )
    assert _vault_time("2026-12-06T01:02:03Z") == datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC)
    with pytest.raises(ValueError):
        _vault_time("2026-12-06 01:02:03")


def test_the_rows_after_the_newest_checkpoint_are_counted_as_unsealed() -> None:
    checkpoint = Checkpoint("postgres", 5, "b" * 64, "2026-12-06T01:00:00+00:00", "k", "s")
    check = CheckpointCheck(audit.VerifyResult(True, 8, None, None, "c" * 64), checkpoint, 1, 3.4)

    printed = check.as_json()

    assert (check.unsealed, printed["unsealed_rows"], printed["checkpoint"]) == (
        3,
        3,
        f"5:{'b' * 64}",
    )
    assert (printed["head"], printed["checkpoint_age_seconds"]) == (f"8:{'c' * 64}", 3)
