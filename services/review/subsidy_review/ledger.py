"""The handover ledger (管理簿): every export to and import from the ward, append-only.

Each entry says when, who (and in which role), what, how many records, the file name and
its SHA-256, and the direction, so that the history of every file holding personal data can
be traced. The ledger is listable and exportable as a CSV that Excel opens correctly in
Japanese (formula cells neutralised) for the ward's inspection; the table refuses updates
and deletes.
"""

from __future__ import annotations

from subsidy_platform.excel_csv import write_excel_csv
from subsidy_platform.limits import identifier
from subsidy_platform.ward_clock import ward_stamp
from subsidy_review.repository import Case, Correction, Decision, Handover
from subsidy_review.service import Review

HEADER = ("日時", "方向", "担当者", "役割", "内容", "件数", "ファイル名", "SHA-256", "制度ID")
DIRECTIONS = {"export": "引渡し（区へ）", "import": "受領（区から）"}


def list_handovers(review: Review, program_id: str) -> list[Handover]:
    program = review.program(program_id)
    with review.uow() as work:
        return work.repo.handovers(program.id)


def ledger_csv(review: Review, program_id: str) -> tuple[str, bytes]:
    entries = list_handovers(review, program_id)
    rows = [
        (
            ward_stamp(e.at),
            DIRECTIONS[e.direction],
            e.handler,
            e.role,
            e.content,
            e.records,
            e.file_name,
            e.sha256,
            e.program_id,
        )
        for e in entries
    ]
    return f"handover-ledger-{program_id}.csv", write_excel_csv(HEADER, rows)


def get_case(review: Review, number: str) -> tuple[Case, list[Correction], int, Decision | None]:
    """A case with its correction requests, open duplicate flags and decision (one read)."""
    identifier("application_number", number)
    with review.uow() as work:
        case = work.repo.case(number)
        repo = review.repo(work, case.program_id)
        return case, repo.corrections(number), repo.open_flag_count(number), repo.decision(number)
