"""Print batches: render, download, confirm printing and mailing (flow steps 8-9).

`create_batch` takes every notice waiting (and every reprint asked for) of a program, up
to a limit, lays each out (postcard.py), leaves out and reports those that cannot be
printed as they are, sorts the rest by postal code (the bulk-mail discount) and renders
one merged PDF; the PDF is stored encrypted with its manifest (count, application numbers
in print order, SHA-256 of the PDF). A batch is PRINTED when the print operator confirms,
then MAILED on a date: each decision notice is reported NOTICE_SENT to intake's
timeline (a correction letter leaves the application's status as it is), and the
print data is kept for the retention period from that date (retention.py deletes it).
Every command is idempotent by its request id; the download checks the stored SHA-256.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from subsidy_notices.layout import LayoutProblem
from subsidy_notices.postcard import Postcard, lay_out, render
from subsidy_notices.repository import Batch, StoredNotice
from subsidy_notices.service import Notices, parse_date, report_status, today
from subsidy_notices.wording import wording_for
from subsidy_platform.access import Principal
from subsidy_platform.crypto import CiphertextUnreadable
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import identifier
from subsidy_platform.ward_clock import ward_date

MAX_BATCH = 20_000
DECISIONS = frozenset({"GRANT", "REFUSAL", "REVOCATION"})  # mailed: NOTICE_SENT
PRINTED_FIELDS = ("applicant.name", "applicant.postal_code", "applicant.address")


@dataclass(frozen=True)
class BatchResult:
    batch: Batch | None
    application_numbers: tuple[str, ...]
    problems: tuple[tuple[str, str], ...]


def _limit(value: int) -> int:
    if value < 0 or value > MAX_BATCH:
        raise InvalidArgument([FieldViolation("limit", "件数は0から20,000までで指定してください")])
    return value or MAX_BATCH


def create_batch(
    notices: Notices, who: Principal, request_id: str, program_id: str, limit: int = 0
) -> BatchResult:
    request_id = identifier("request_id", request_id)
    program = notices.program(program_id)
    count = _limit(limit)
    wording = wording_for(program.id)
    with_barcode = True
    with notices.uow() as work:
        work.lock(f"notices:batch:{program.id}")
        repo = notices.repo(work, program.id)
        existing = repo.batch_for_request(request_id)
        if existing is not None:
            if existing.program_id != program.id:
                raise Conflict("この request_id は別の制度の印刷に使われています")
            return BatchResult(existing, tuple(existing.manifest["application_numbers"]), ())
        waiting = repo.waiting(program.id, count)
        if not waiting:
            raise Conflict("印刷を待っている通知はありません")
        cards: list[tuple[Postcard, StoredNotice]] = []
        problems: list[tuple[str, str]] = []
        for stored, content in waiting:
            try:
                cards.append((lay_out(content, wording, with_barcode=with_barcode), stored))
            except LayoutProblem as problem:
                problems.append((stored.application_number, str(problem)))
                repo.set_problem(stored.id, str(problem))
        if not cards:
            return BatchResult(None, (), tuple(problems))
        cards.sort(key=lambda pair: (pair[0].postal_code, pair[0].application_number))
        batch_id = str(uuid.uuid4())
        pdf = render((card for card, _ in cards), title=f"通知書 印刷バッチ {batch_id}")
        printed = [(stored, stored.state != "WAITING") for _, stored in cards]
        manifest = _manifest(batch_id, program.id, pdf, cards, printed, with_barcode, len(problems))
        repo.add_batch(program.id, request_id, manifest, pdf, printed, who.subject)
        work.audit(
            who,
            "CreatePrintBatch",
            "read",
            application=None,
            fields=PRINTED_FIELDS,
            purpose=f"通知書の印刷データ作成 {batch_id} ({len(cards)}件)",
        )
        return BatchResult(
            repo.batch(batch_id), tuple(manifest["application_numbers"]), tuple(problems)
        )


def _manifest(
    batch_id: str,
    program_id: str,
    pdf: bytes,
    cards: list[tuple[Postcard, StoredNotice]],
    printed: list[tuple[StoredNotice, bool]],
    with_barcode: bool,
    problems: int,
) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for card, _ in cards:
        kinds[card.kind] = kinds.get(card.kind, 0) + 1
    return {
        "batch_id": batch_id,
        "program_id": program_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "count": len(cards),
        "reprints": sum(1 for _, reprint in printed if reprint),
        "kinds": kinds,
        "pages": 2 * len(cards),
        "sheet_mm": [210, 148],
        "folded_mm": [105, 148],
        "customer_barcode": with_barcode,
        "left_out": problems,
        "sha256": hashlib.sha256(pdf).hexdigest(),
        "size": len(pdf),
        "application_numbers": [card.application_number for card, _ in cards],
    }


def download(notices: Notices, who: Principal, batch_id: str) -> tuple[dict[str, Any], bytes]:
    """The batch's manifest and PDF, checked against its SHA-256 (audited)."""
    batch_id = identifier("batch_id", batch_id)
    with notices.uow() as work:
        batch = work.repo.batch(batch_id)
        repo = notices.repo(work, batch.program_id)
        pdf = repo.print_file(batch.id)
        if pdf is None:
            raise Conflict("この印刷バッチの印刷データは削除済みです")
        work.audit(
            who,
            "DownloadPrintFile",
            "read",
            application=None,
            fields=PRINTED_FIELDS,
            purpose=f"通知書の印刷 {batch.id}",
        )
    if hashlib.sha256(pdf).hexdigest() != batch.sha256:
        raise CiphertextUnreadable("印刷データが manifest の SHA-256 と一致しません")
    return batch.manifest, pdf


def confirm_printed(notices: Notices, who: Principal, request_id: str, batch_id: str) -> Batch:
    request_id = identifier("request_id", request_id)
    batch_id = identifier("batch_id", batch_id)
    with notices.uow() as work:
        batch = work.repo.batch(batch_id, for_update=True)
        if work.repo.confirmation_seen(request_id, batch.program_id, batch.id, "PRINTED"):
            return batch
        if batch.state != "RENDERED":
            raise Conflict("この印刷バッチは既に印刷済みです")
        work.repo.mark_printed(batch.id, who.subject)
        return work.repo.batch(batch.id)


def confirm_mailed(
    notices: Notices, who: Principal, request_id: str, batch_id: str, mailed_on: str
) -> Batch:
    request_id = identifier("request_id", request_id)
    batch_id = identifier("batch_id", batch_id)
    day = parse_date(mailed_on, "mailed_on", default=today())
    with notices.uow() as work:
        batch = work.repo.batch(batch_id, for_update=True)
        if work.repo.confirmation_seen(request_id, batch.program_id, batch.id, "MAILED"):
            return batch
        if batch.state != "PRINTED":
            raise Conflict("印刷済みの確認がない（または発送済みの）印刷バッチです")
        if not ward_date(batch.created_at) <= day <= today():
            raise InvalidArgument([FieldViolation("mailed_on", "発送日は作成日から今日までです")])
        work.repo.mark_mailed(
            batch.id, who.subject, day, day + timedelta(days=notices.retention_days)
        )
        for number, kind, reprint in work.repo.items(batch.id):
            if kind in DECISIONS:  # a correction letter is no decision notice (status unchanged)
                report_status(
                    work,
                    batch.program_id,
                    number,
                    "NOTICE_SENT",
                    "通知書再送" if reprint else "通知書発送",
                )
        return work.repo.batch(batch.id)


def list_batches(notices: Notices, program_id: str) -> list[Batch]:
    program = notices.program(program_id)
    with notices.uow() as work:
        return work.repo.batches(program.id)
