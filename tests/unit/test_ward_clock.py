"""The ward's clock: dates in Japan whatever the process's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from subsidy_platform.ward_clock import (
    JAPAN,
    ward_date,
    ward_now,
    ward_stamp,
    ward_time,
    ward_today,
)


def test_an_instant_after_15_00_utc_is_already_the_next_day_in_japan() -> None:
    assert ward_date(datetime(2026, 3, 31, 15, 30, tzinfo=UTC)) == date(2026, 4, 1)
    assert ward_date(datetime(2026, 3, 31, 14, 59, tzinfo=UTC)) == date(2026, 3, 31)


def test_the_date_is_the_same_whatever_zone_the_instant_is_given_in() -> None:
    moment = datetime(2026, 1, 1, 0, 30, tzinfo=JAPAN)
    pacific = moment.astimezone(timezone(timedelta(hours=-8)))
    assert pacific.date() == date(2025, 12, 31)
    assert ward_date(pacific) == ward_date(moment) == date(2026, 1, 1)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError):
        ward_date(datetime(2026, 1, 1, 0, 30))


def test_a_time_staff_read_is_japan_time_with_its_offset() -> None:
    assert ward_stamp(datetime(2026, 3, 31, 15, 30, 12, 345678, tzinfo=UTC)) == (
        "2026-04-01T00:30:12+09:00"
    )
    assert ward_stamp("2026-03-31T14:30:00+00:00") == "2026-03-31T23:30:00+09:00"
    assert ward_stamp("2026-03-31T23:30:00.5+09:00") == "2026-03-31T23:30:00+09:00"
    assert ward_stamp("") == ""


def test_a_stamp_of_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        ward_stamp("2026-03-31T14:30:00")
    with pytest.raises(ValueError):
        ward_time(datetime(2026, 1, 1, 0, 30))


def test_today_is_japan_s_date_of_now() -> None:
    before = datetime.now(UTC)
    today = ward_today()
    after = datetime.now(UTC)
    assert today in {ward_date(before), ward_date(after)}
    assert ward_now().utcoffset() == timedelta(hours=9)
