"""Dates as Japanese official documents write them: the era (和暦), 令和7年6月10日.

The era comes from `japanera` (so that a new era is a library update, not a code change);
the first year of an era is written 元年, as public notices do.
"""

from __future__ import annotations

from datetime import date

from japanera import EraDate


def wareki(day: date) -> str:
    """`令和7年6月10日` (`令和元年5月1日` for the era's first year)."""
    era = EraDate.from_date(day)
    year = int(era.strftime("%-Y"))
    return f"{era.era.kanji}{'元' if year == 1 else year}年{day.month}月{day.day}日"
