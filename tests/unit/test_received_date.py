"""Intake's received-date rule, pure: a received date (受付日) after the ward's today is
refused (today itself is not), naming the field or, in a LoGo file, the row and column."""

from __future__ import annotations

from datetime import date

import pytest
from subsidy_intake.received_date import (
    check_received_on,
    check_record,
    future_rows,
    received_on_problem,
)

from subsidy_platform.errors import InvalidArgument

TODAY = date(2025, 7, 15)


def test_today_and_earlier_days_are_accepted_and_tomorrow_is_not() -> None:
    assert received_on_problem(TODAY, TODAY) is None
    assert received_on_problem(date(2025, 4, 1), TODAY) is None
    problem = received_on_problem(date(2025, 7, 16), TODAY)
    assert problem is not None and "未来の日付" in problem and "2025-07-15" in problem
    assert "2025-07-16" not in problem  # the date sent is never repeated


def test_a_refusal_names_the_field_it_was_given() -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_received_on(date(2026, 1, 1), TODAY, "second_keying.received_on")
    assert [v.field for v in raised.value.violations] == ["second_keying.received_on"]


def test_a_record_as_sent_is_refused_only_for_a_well_formed_future_date() -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_record({"received_on": "2025-07-16"}, TODAY)
    assert [v.field for v in raised.value.violations] == ["received_on"]
    for value in ("2025-07-15", "2025/07/16", "2025-02-30", "", None, 20250716):
        check_record({"received_on": value}, TODAY)  # left to the record's validation
    check_record({}, TODAY)


def test_future_rows_are_errors_at_their_line_and_column() -> None:
    rows = [(2, TODAY), (3, date(2025, 7, 16)), (4, date(2025, 1, 1)), (5, date(2030, 1, 1))]
    errors = future_rows(rows, TODAY, "回答日時")
    assert [(e.line, e.column) for e in errors] == [(3, "回答日時"), (5, "回答日時")]
    assert all(e.message.startswith("回答日時：") for e in errors)
