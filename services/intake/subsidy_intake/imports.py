"""LoGoフォーム CSV import: all-or-nothing per file, re-imports are no-ops.

The file is parsed and every line validated first (subsidy_intake.logo_csv; a row
received after the ward's today is an error at its line and received-date column,
subsidy_intake.received_date); any bad line means nothing is written and the report
lists every bad line (line number, column, problem). A good file is stored in one transaction of the unit of work holding
the program's lock alone: answers already imported (same 回答ID, by blind index) are
skipped, the same file (same SHA-256) twice is a no-op, and probable duplicates against
stored applications and within the file are flagged for a checker. A committed report
lists every line's application number and flags (subsidy_intake.import_lines).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from subsidy_intake import limits
from subsidy_intake.events import publish_received
from subsidy_intake.facts import DUPLICATE_KINDS, EVIDENCE_OF_KIND
from subsidy_intake.import_lines import ImportedLine, imported_lines
from subsidy_intake.logo_csv import LineError, UnknownProgramError, mapping_for, parse_logo_csv
from subsidy_intake.received_date import future_rows
from subsidy_intake.repository import IntakeRepository
from subsidy_intake.service import (
    PERSONAL_FIELDS,
    RECEIVED,
    IntakeService,
    Prepared,
    lock_program,
    new_application,
)
from subsidy_platform.access import Principal
from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.ward_clock import ward_today
from subsidy_rules.program import Program

RPC = "ImportLogoCsv"


@dataclass(frozen=True)
class ImportReport:
    committed: bool
    rows: int
    imported: int = 0
    already_present: int = 0
    duplicates_flagged: int = 0
    errors: tuple[LineError, ...] = ()
    file_sha256: str = ""
    encoding: str = ""
    lines: tuple[ImportedLine, ...] = ()


def check_header(service: IntakeService, program_id: str, file_name: str) -> tuple[Program, str]:
    """The program and the file name of an upload's header, checked before its bytes are
    read (limits: a program intake serves and has a column mapping for, a file name of at
    most 255 characters)."""
    name = limits.file_name(file_name)
    program = service.open_program(program_id, field="header.program_id")
    try:
        mapping_for(program.id)
    except UnknownProgramError:
        raise InvalidArgument(
            [FieldViolation("header.program_id", "この制度にはLoGoフォームの列定義がありません")]
        ) from None
    return program, name


def import_logo_file(
    service: IntakeService, who: Principal, program_id: str, file_name: str, data: bytes
) -> ImportReport:
    program, file_name = check_header(service, program_id, file_name)
    mapping = mapping_for(program.id)
    parsed = parse_logo_csv(data, mapping)
    line_count = len(parsed.records) + len({e.line for e in parsed.errors if e.line > 1})
    base = ImportReport(
        committed=False, rows=line_count, file_sha256=parsed.sha256, encoding=parsed.encoding
    )
    received = [(line, date.fromisoformat(r["received_on"])) for line, r in parsed.records]
    future = future_rows(received, ward_today(), mapping.header_for("received_on"))
    if parsed.errors or future:
        return replace(base, errors=tuple(sorted((*parsed.errors, *future), key=_line)))
    try:
        prepared = service.prepare(program, [record for _, record in parsed.records])
    except InvalidArgument as error:  # the parser validated already; kept for safety
        return replace(
            base, errors=tuple(LineError(1, v.field, v.description) for v in error.violations)
        )
    with service.uow() as work:
        lock_program(work, program.id, shared=False)
        done = work.repo.entries.imported_rows(program.id, parsed.sha256)
        repo = service.repo(work, program.id)
        line_numbers = [line for line, _ in parsed.records]
        if done is not None:
            lines = imported_lines(repo, program.id, line_numbers, prepared, [], [], {})
            return replace(base, committed=True, already_present=done, lines=lines)
        fresh = _not_yet_imported(repo, program.id, prepared)
        numbers = repo.allocate_numbers(program.application_number_prefix, len(fresh))
        news = [
            new_application(program, n, None, item) for n, item in zip(numbers, fresh, strict=True)
        ]
        stored = repo.add_all(news, RECEIVED, who.subject)
        flags = _flags(repo, program.id, fresh, [a.id for a in stored])
        repo.add_flags(flags)
        numbers_by_id = repo.numbers_of({other for _, other, _ in flags})
        numbers_by_id.update({a.id: a.application_number for a in stored})
        found: dict[int, list[tuple[str, str]]] = {}
        for app_id, other, evidence in flags:
            found.setdefault(app_id, []).append((numbers_by_id[other], evidence))
        publish_received(work, stored, found)
        lines = imported_lines(repo, program.id, line_numbers, prepared, fresh, stored, found)
        repo.entries.add_import(
            program.id, parsed.sha256, file_name, who.subject, len(prepared), len(stored)
        )
        for number in numbers:
            work.audit(
                who,
                RPC,
                "create",
                application=number,
                fields=PERSONAL_FIELDS,
                purpose=f"import {parsed.sha256[:12]}",
            )
        return replace(
            base,
            committed=True,
            imported=len(stored),
            already_present=len(prepared) - len(fresh),
            duplicates_flagged=len({f[0] for f in flags}),
            lines=lines,
        )


def _line(error: LineError) -> int:
    return error.line


def _not_yet_imported(
    repo: IntakeRepository, program_id: str, prepared: list[Prepared]
) -> list[Prepared]:
    logos = [("logo", p.indexes["logo"]) for p in prepared if "logo" in p.indexes]
    stored = {m.digest for m in repo.matches(program_id, logos)}
    fresh, seen = [], set()
    for item in prepared:
        logo = item.indexes.get("logo")
        if logo is not None and (logo in stored or logo in seen):
            continue
        if logo is not None:
            seen.add(logo)
        fresh.append(item)
    return fresh


def _flags(
    repo: IntakeRepository, program_id: str, items: list[Prepared], ids: list[int]
) -> list[tuple[int, int, str]]:
    """Flags against stored applications and between earlier and later lines of the file."""
    wanted = [(k, d) for item in items for k, d in item.indexes.items() if k in DUPLICATE_KINDS]
    new_ids = set(ids)
    stored: dict[tuple[str, str], list[int]] = {}
    for match in repo.matches(program_id, wanted):
        if match.application_id not in new_ids:
            stored.setdefault((match.kind, match.digest), []).append(match.application_id)
    first_in_file: dict[tuple[str, str], int] = {}
    flags: set[tuple[int, int, str]] = set()
    for item, app_id in zip(items, ids, strict=True):
        for kind, digest in item.indexes.items():
            if kind not in DUPLICATE_KINDS:
                continue
            evidence = str(EVIDENCE_OF_KIND[kind])
            for other in stored.get((kind, digest), ()):
                flags.add((app_id, other, evidence))
            earlier = first_in_file.setdefault((kind, digest), app_id)
            if earlier != app_id:
                flags.add((app_id, earlier, evidence))
    return sorted(flags)
