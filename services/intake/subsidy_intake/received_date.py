"""An application's received date (受付日) is never after the ward's today.

An application is received on a day that has come. A received date in the future would
pick program parameters and windows not yet in force and date a case ahead of its own
review and decision (`decision_file.decision_date_problem` compares a decision date with
it), so every path that takes one refuses it before any work: a submission, paper keying
and a correction's records (`received_on`, `second_keying.received_on`; a correction keeps
the stored date anyway) are INVALID_ARGUMENT naming the field; a LoGo import's row is an
error at its line and column, and the file is refused whole (all or nothing). Today is the
ward's (`subsidy_platform.ward_clock.ward_today`, Asia/Tokyo), never the process's local
date. The checks below are pure: they take today as an argument. The message names today
and never repeats the caller's value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from subsidy_intake.logo_csv import LineError
from subsidy_platform.errors import FieldViolation, InvalidArgument

FIELD = "received_on"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def received_on_problem(received_on: date, today: date) -> str | None:
    """Why an application may not carry `received_on` (Japanese, for staff), or None."""
    if received_on > today:
        return f"受付日に未来の日付は指定できません（今日は{today.isoformat()}です）"
    return None


def check_received_on(received_on: date, today: date, field: str = FIELD) -> None:
    """`InvalidArgument` naming `field` when `received_on` is after `today`."""
    problem = received_on_problem(received_on, today)
    if problem is not None:
        raise InvalidArgument([FieldViolation(field, problem)])


def check_record(record: dict[str, Any], today: date, field: str = FIELD) -> None:
    """The same check on a record as sent, before it is validated: a `YYYY-MM-DD` value
    after `today` is refused; any other value is left to the record's validation."""
    value = record.get("received_on")
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return
    try:
        received_on = date.fromisoformat(value)
    except ValueError:
        return
    check_received_on(received_on, today, field)


def future_rows(
    records: Iterable[tuple[int, date]], today: date, header: str | None
) -> list[LineError]:
    """A LoGo import's rows received after `today`, each an error at its line and column
    (`header`, the Japanese column name that fills the received date)."""
    errors = []
    for line, received_on in records:
        problem = received_on_problem(received_on, today)
        if problem is not None:
            where = header or FIELD
            errors.append(LineError(line, header, f"{where}：{problem}"))
    return errors
