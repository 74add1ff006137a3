"""Document numbers (第…号) of notices: one series per ward and fiscal year (issue 15).

A ward numbers what it sends out in one series per fiscal year (年度, 1 April to 31 March,
as Japanese municipalities keep their document registers), whatever the kind of document:
a grant, a refusal, a correction request and any kind added later (a revocation) never share
a number in the same ward and year. The ward is the program's municipality (two programs of
one ward share its series); the year is the fiscal year of the notice's issue date (the
decision or request date, which the notice prints). The number comes from the counter
`notices.document_numbers` under its row lock, and the unique constraint
`uq_notices_ward_year_number` (migration notices_0002) makes a second use of
a number impossible whatever the code does. `number_notice` is the one entry point: a new kind
of notice is numbered by passing its content, with no change here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from subsidy_notices.content import NoticeContent
from subsidy_notices.repository import NoticesRepository
from subsidy_rules.program import Program

FISCAL_YEAR_STARTS = 4  # April


@dataclass(frozen=True, slots=True)
class Series:
    """The series a notice is numbered in: the ward and the fiscal year (its first year)."""

    ward: str
    year: int


def fiscal_year(day: date) -> int:
    """The fiscal year (年度) a day falls in, named by the year it starts: 2026-03-31 is 2025."""
    return day.year if day.month >= FISCAL_YEAR_STARTS else day.year - 1


def series_of(program: Program, issued_on: date) -> Series:
    return Series(program.municipality, fiscal_year(issued_on))


def number_notice(
    repo: NoticesRepository, program: Program, programs_of_ward: list[str], content: NoticeContent
) -> tuple[NoticeContent, Series]:
    """The content with its document number, and the series it was taken from (the caller
    stores the notice with both in the same transaction)."""
    series = series_of(program, content.issued_on)
    number = repo.allocate_document_number(series.ward, series.year, programs_of_ward)
    return replace(content, document_number=number), series
