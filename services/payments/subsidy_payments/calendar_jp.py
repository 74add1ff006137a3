"""Bank business days in Japan (銀行営業日): not a Saturday or Sunday, not a national
holiday (国民の祝日, substitute and citizens' holidays), and not a bank holiday: the
year-end and new-year closing, 12/31 to 1/3 (銀行法施行令 第5条). Holidays come from the
`holidays` package (`Japan`, categories public and bank); the year-end rule is also
applied here so that it holds whatever that package's version says. Today's date is the
ward's (`subsidy_platform.ward_clock.ward_today`), never the process's.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import holidays


@functools.lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    found = holidays.country_holidays("JP", years=year, categories=("public", "bank"))
    return frozenset(found.keys())


def is_year_end(day: date) -> bool:
    return (day.month == 12 and day.day == 31) or (day.month == 1 and day.day <= 3)


def is_bank_business_day(day: date) -> bool:
    return day.weekday() < 5 and not is_year_end(day) and day not in _holidays(day.year)


def next_bank_business_day(day: date) -> date:
    """`day` itself when it is a bank business day, else the next one."""
    while not is_bank_business_day(day):
        day += timedelta(days=1)
    return day
