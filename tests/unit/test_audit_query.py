"""The auditor's inputs and review rules, pure: filters, periods, anchors, unusual volumes,
command-line dates, and the audit hash of rows written before `target` existed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from subsidy_platform import audit
from subsidy_platform.admin_audit import moment
from subsidy_platform.audit_query import (
    UNUSUAL_FACTOR,
    UNUSUAL_MINIMUM,
    before_seq,
    event_filter,
    is_unusual_volume,
    review_period,
)
from subsidy_platform.audit_reader import MAX_ANCHORS, parse_anchors
from subsidy_platform.errors import InvalidArgument


def _fields(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


def test_an_actor_is_unusual_only_far_above_the_median_and_above_a_floor() -> None:
    assert is_unusual_volume(UNUSUAL_FACTOR * 10, 10.0)
    assert not is_unusual_volume(UNUSUAL_FACTOR * 10 - 1, 10.0)
    assert not is_unusual_volume(UNUSUAL_MINIMUM - 1, 1.0)  # a quiet period flags nobody
    assert is_unusual_volume(UNUSUAL_MINIMUM, 1.0)


def test_every_bad_criterion_is_named_and_none_is_repeated() -> None:
    hostile = "x" * 500
    with pytest.raises(InvalidArgument) as bad:
        event_filter(actor=hostile, action="Not-An-Action", rpc="no slash", since="yesterday")
    assert _fields(bad) == ["filter.actor", "filter.action", "filter.rpc", "filter.since"]
    assert hostile[:40] not in repr(bad.value.violations)


def test_a_time_needs_its_offset_and_a_period_its_order_and_bound() -> None:
    with pytest.raises(InvalidArgument) as naive:
        event_filter(since="2025-07-01T00:00:00")
    assert _fields(naive) == ["filter.since"]
    with pytest.raises(InvalidArgument) as backwards:
        review_period("2025-07-02T00:00:00+09:00", "2025-07-01T00:00:00+09:00")
    assert _fields(backwards) == ["until"]
    with pytest.raises(InvalidArgument) as long:
        review_period("2024-01-01T00:00:00+09:00", "2025-07-01T00:00:00+09:00")
    assert _fields(long) == ["until"]
    with pytest.raises(InvalidArgument) as missing:
        review_period("", "")
    assert _fields(missing) == ["since", "until"]
    since, until = review_period("2025-07-01T00:00:00+09:00", "2025-08-01T00:00:00+09:00")
    assert since.astimezone(UTC) == datetime(2025, 6, 30, 15, tzinfo=UTC)
    assert until > since


def test_anchors_and_page_tokens_are_checked_before_use() -> None:
    head = "12:" + "a" * 64
    assert parse_anchors([head, "0:" + "0" * 64]) == {12: "a" * 64, 0: "0" * 64}
    with pytest.raises(InvalidArgument) as bad:
        parse_anchors([head, "12:" + "A" * 64, "x" * 10_000])
    assert _fields(bad) == ["anchors[1]", "anchors[2]"]
    with pytest.raises(InvalidArgument):
        parse_anchors([head] * (MAX_ANCHORS + 1))
    assert before_seq("") is None and before_seq("1205") == 1205
    for token in ("0", "-1", "1e5", "9" * 30):
        with pytest.raises(InvalidArgument):
            before_seq(token)


def test_a_command_line_date_is_a_day_in_japan_and_until_includes_it() -> None:
    assert moment("2025-07-01", end=False) == "2025-07-01T00:00:00+09:00"
    assert moment("2025-07-31", end=True) == "2025-08-01T00:00:00+09:00"
    assert moment("2025-07-01T09:00:00+09:00", end=True) == "2025-07-01T09:00:00+09:00"
    with pytest.raises(ValueError):
        moment("2025-02-30", end=False)


def test_a_row_without_a_target_hashes_as_before_the_column_existed() -> None:
    row = {
        "seq": 1,
        "at": datetime(2025, 7, 1, tzinfo=UTC),
        "actor": "tanaka01",
        "role": "checker",
        "service": "intake",
        "rpc": "/subsidy.intake.v1.IntakeService/GetApplication",
        "action": "read",
        "application_id": "S2025-000001",
        "fields": ["name"],
        "purpose": None,
        "trace_id": None,
        "prev_hash": audit.GENESIS_HASH,
    }
    # the hash this row had before migration audit_0003 (computed with that version's row_hash)
    before = "2308cbf281afe07828d0daf346f18bed0b3dfccceb982c5fe182d0bb1368e1e6"
    assert audit.row_hash({**row, "target": None}) == audit.row_hash(row) == before
    assert audit.row_hash({**row, "target": "sato02"}) != audit.row_hash(row)
