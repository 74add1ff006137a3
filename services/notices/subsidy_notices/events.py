"""Review's events arriving at notices: a decision, a revocation (交付決定の取消) or a correction
request becomes a notice.

Each event is checked whole before anything is read, and applied at most once by its event
id (notices.processed_events); one decision notice per application, ever. The application
is read from intake (service.read_application): only what the notice shows is kept
(content.py), encrypted with the program's contact key, with the next document number (第…号)
of its ward's series for the fiscal year, shared by every kind of notice
(numbering.py). The notice waits for the next print batch. A revocation notice
(交付決定取消通知書, one per application: the database's unique index) prints the grant's
decision number and amount, the reasons' standard wording and what follows for the money
(not paid, or to be repaid).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2

from subsidy_notices.content import (
    NoticeContent,
    addressee,
    item_names,
    masked_account,
)
from subsidy_notices.numbering import number_notice
from subsidy_notices.repository import MAX_NUMBER
from subsidy_notices.service import Notices, parse_date
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier
from subsidy_rules.reasons import Reason

MAX_EVENT_ID = 200
DECISIONS = frozenset({"GRANT", "REFUSAL"})  # one per application, ever
MAX_ITEMS = 20
MAX_SEALED_ITEMS = 64 * 1024  # the ciphertext of 20 items of at most 200 characters
MAX_AMOUNT = 100_000_000
PURPOSE = "通知書の作成（宛名・申請内容）"


def _reasons(values: list[common_pb2.ReasonCode.ValueType]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for value in values:
        try:
            name = common_pb2.ReasonCode.Name(value)
        except ValueError:
            name = ""
        if name not in Reason.__members__:
            raise InvalidArgument([FieldViolation("reasons", "理由コードが正しくありません")])
        out[name] = None
    return tuple(out)


def _record_content(
    notices: Notices, number: str, program_id: str, kind: str, issued_on: date
) -> NoticeContent:
    """A notice's content from intake's view (document number 0 until stored)."""
    program_of, record = notices.read_application(number, PURPOSE)
    if program_of != program_id:
        raise Conflict("申請の制度が通知と一致しません")
    try:
        name, postal_code, address = addressee(record)
        received_on = date.fromisoformat(record["received_on"])
    except (KeyError, ValueError):
        raise Conflict("申請の宛名・受付日を読み取れません") from None
    return NoticeContent(
        kind=kind,
        application_number=number,
        program_id=program_id,
        document_number=0,
        issued_on=issued_on,
        name=name,
        postal_code=postal_code,
        address=address,
        received_on=received_on,
        items=item_names(record),
        applied_amount=sum(int(p.get("amount", 0)) for p in record.get("purchases") or []),
        account=masked_account(record) if kind == "GRANT" else None,
    )


def _store(notices: Notices, content: NoticeContent, event_id: str) -> bool:
    """Store a notice of any kind, numbered in its ward's series (numbering.py)."""
    program = notices.program(content.program_id)
    same_ward = [p.id for p in notices.programs.values() if p.municipality == program.municipality]
    with notices.uow() as work:
        repo = notices.repo(work, content.program_id)
        work.lock(f"notices:numbers:{content.program_id}")
        if not repo.first_time(event_id, content.program_id):
            return False
        if content.kind in DECISIONS and repo.has_decision_notice(content.application_number):
            raise Conflict("この申請の決定通知は既にあります")
        if content.kind == "REVOCATION" and any(
            n.kind == "REVOCATION" for n in repo.notices_of(content.application_number)
        ):
            raise Conflict("この申請の交付決定取消通知は既にあります")
        numbered, series = number_notice(repo, program, same_ward, content)
        repo.add_notice(numbered, event_id, series.ward, series.year)
    return True


def apply_decision(notices: Notices, event: events_pb2.DecisionEvent) -> bool:
    """A decision notice (交付決定 / 不交付決定) to print; False when applied before."""
    event_id = identifier("event_id", event.event_id, limit=MAX_EVENT_ID)
    number = identifier("application_number", event.application_number, limit=MAX_NUMBER)
    program = notices.program(event.program_id)
    decided_on = parse_date(event.decided_on, "decided_on")
    decision_number = identifier("decision_number", event.decision_number, limit=64)
    reasons = _reasons(list(event.reasons))
    if event.granted and not 0 < event.amount <= MAX_AMOUNT:
        raise InvalidArgument([FieldViolation("amount", "交付決定額が正しくありません")])
    if not event.granted and (event.amount != 0 or not reasons):
        raise InvalidArgument([FieldViolation("reasons", "不交付の理由がありません")])
    kind = "GRANT" if event.granted else "REFUSAL"
    content = replace(
        _record_content(notices, number, program.id, kind, decided_on),
        granted_amount=int(event.amount) if event.granted else 0,
        decision_number=decision_number,
        reasons=reasons,
    )
    return _store(notices, content, f"decision:{event_id}")


def apply_correction(notices: Notices, event: events_pb2.CorrectionRequestEvent) -> bool:
    """A correction request letter (補正依頼通知) to print; False when applied before."""
    event_id = identifier("event_id", event.event_id, limit=MAX_EVENT_ID)
    number = identifier("application_number", event.application_number, limit=MAX_NUMBER)
    program = notices.program(event.program_id)
    requested_on = parse_date(event.requested_on, "requested_on")
    deadline = parse_date(event.deadline, "deadline")
    if deadline <= requested_on:
        raise InvalidArgument([FieldViolation("deadline", "期限が依頼日より前です")])
    pairs = (
        _sealed_items(notices, program.id, event.items_ciphertext)
        if event.items_ciphertext
        else [(item.field, item.problem) for item in event.items]
    )
    if not 0 < len(pairs) <= MAX_ITEMS:
        raise InvalidArgument([FieldViolation("items", "補正事項は1件以上20件以内です")])
    items = tuple(
        (
            identifier(f"items[{i}].field", field, limit=64),
            bounded_text(f"items[{i}].problem", problem, 200, required=True),
        )
        for i, (field, problem) in enumerate(pairs)
    )
    content = replace(
        _record_content(notices, number, program.id, "CORRECTION", requested_on),
        deadline=deadline,
        corrections=items,
    )
    return _store(notices, content, f"correction:{event_id}")


def _sealed_items(notices: Notices, program_id: str, sealed: str) -> list[tuple[str, str]]:
    """The correction items review sealed with the program's contact key."""
    if len(sealed) > MAX_SEALED_ITEMS:
        raise InvalidArgument([FieldViolation("items_ciphertext", "補正事項が長すぎます")])
    [plain] = notices.cipher_for(program_id).decrypt(DataClass.CONTACT, [sealed])
    try:
        loaded = json.loads(plain or "")
        pairs = [(str(field), str(problem)) for field, problem in loaded]
    except (ValueError, TypeError):
        raise InvalidArgument(
            [FieldViolation("items_ciphertext", "補正事項を読み取れません")]
        ) from None
    return pairs


def apply_revocation(notices: Notices, event: events_pb2.RevocationEvent) -> bool:
    """A revocation notice (交付決定取消通知書) to print; False when applied before."""
    event_id = identifier("event_id", event.event_id, limit=MAX_EVENT_ID)
    number = identifier("application_number", event.application_number, limit=MAX_NUMBER)
    program = notices.program(event.program_id)
    revoked_on = parse_date(event.revoked_on, "revoked_on")
    revocation_number = identifier("revocation_number", event.revocation_number, limit=64)
    decision_number = identifier("decision_number", event.decision_number, limit=64)
    reasons = _reasons(list(event.reasons))
    if not reasons:
        raise InvalidArgument([FieldViolation("reasons", "取消の理由がありません")])
    if not 0 < event.amount <= MAX_AMOUNT:
        raise InvalidArgument([FieldViolation("amount", "取り消した交付決定額が正しくありません")])
    content = replace(
        _record_content(notices, number, program.id, "REVOCATION", revoked_on),
        granted_amount=int(event.amount),
        decision_number=decision_number,
        revocation_number=revocation_number,
        reasons=reasons,
    )
    return _store(notices, content, f"revocation:{event_id}")
