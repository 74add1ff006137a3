"""The ward's clock: every date a person reads or a control compares is Japan's date.

A ward works in Japan Standard Time (Asia/Tokyo, UTC+9, no daylight saving time), while a
process may run in UTC (a pod) or anywhere else: the date on a notice, a decision, a
deadline or a transfer is taken from this module, never from the process's local date.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

JAPAN = timezone(timedelta(hours=9), "JST")


def ward_now() -> datetime:
    """The current instant in Japan's time zone."""
    return datetime.now(JAPAN)


def ward_today() -> date:
    """Today's date in Japan, whatever the process's time zone."""
    return ward_now().date()


def ward_date(moment: datetime) -> date:
    """The date in Japan of an instant (a stored timestamp), never of the process's zone."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no instant: give its time zone")
    return moment.astimezone(JAPAN).date()
