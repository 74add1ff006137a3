"""The per-line part of a LoGo import report: which number each line got, and its flags.

A committed import says, for every data line in file order, the 回答ID given, the
application number it was given, or, for an answer imported before (or repeated earlier
in the same file), the number of that application (`already_present`), and the
applications the line was flagged as a probable duplicate of: stored ones and earlier
lines of the file, with the evidence. `subsidy-intake-import --report-csv` writes it as
a CSV for staff (subsidy_intake.cli).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from subsidy_intake.repository import IntakeRepository, StoredApplication
from subsidy_intake.service import Prepared


@dataclass(frozen=True)
class ImportedLine:
    """One data line of a committed import."""

    line: int
    logo_answer_id: str
    application_number: str
    already_present: bool
    duplicates: tuple[tuple[str, str], ...] = ()  # (other application number, evidence)


def imported_lines(
    repo: IntakeRepository,
    program_id: str,
    lines: Sequence[int],
    prepared: Sequence[Prepared],
    fresh: Sequence[Prepared],
    stored: Sequence[StoredApplication],
    found: Mapping[int, Sequence[tuple[str, str]]],
) -> tuple[ImportedLine, ...]:
    """The report lines: `fresh` were stored as `stored` (same order) with `found` flags
    by application id; the other prepared lines name the application already there."""
    new_by_item = {id(item): app for item, app in zip(fresh, stored, strict=True)}
    by_logo = {
        m.digest: m.application_number
        for m in repo.matches(
            program_id, [("logo", p.indexes["logo"]) for p in prepared if "logo" in p.indexes]
        )
    }
    out = []
    for line, item in zip(lines, prepared, strict=True):
        answer = str(item.record.get("logo_answer_id") or "")
        app = new_by_item.get(id(item))
        if app is not None:
            flags = tuple(found.get(app.id, ()))
            out.append(ImportedLine(line, answer, app.application_number, False, flags))
        else:
            number = by_logo.get(item.indexes.get("logo", ""), "")
            out.append(ImportedLine(line, answer, number, True))
    return tuple(out)
