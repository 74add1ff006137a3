"""The ward's clock: every date and time a person reads is Japan's, whatever the process's zone.

A ward works in Japan Standard Time (Asia/Tokyo, UTC+9, no daylight saving time), while a
process may run in UTC (a pod) or anywhere else. The rule: the date on a notice, a decision,
a correction deadline, a transfer or a bank business day, and every date a control compares,
is taken from this module (`ward_today`, `ward_date`), never from the process's local date
(`date.today()`, a naive `datetime.now()`); a time staff read (a CLI table, a CSV handed to
the ward) is shown in Japan's time with its offset (`ward_stamp`). Instants are stored and
carried between services as they are (aware, any offset); only what a person reads is turned
into Japan's time. `tests/integration/test_ward_clock_processes.py` runs the services with
`TZ=UTC` at 23:30 and 00:30 Japan time and checks the dates people read.
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


def ward_time(moment: datetime) -> datetime:
    """An instant (a stored timestamp) as Japan's time; a naive datetime is refused."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no instant: give its time zone")
    return moment.astimezone(JAPAN)


def ward_date(moment: datetime) -> date:
    """The date in Japan of an instant (a stored timestamp), never of the process's zone."""
    return ward_time(moment).date()


def ward_stamp(moment: datetime | str) -> str:
    """An instant as staff read it: Japan's time to the second with its offset
    (`2026-12-06T08:30:00+09:00`). A string is an RFC 3339 time as the services send it;
    the empty string (no time) stays empty, and a string that is no aware time is refused."""
    if isinstance(moment, str):
        if not moment:
            return ""
        moment = datetime.fromisoformat(moment)
    return ward_time(moment).isoformat(timespec="seconds")
