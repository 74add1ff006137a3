"""Paper entry with verification keying (ベリファイ入力), stored and decided.

A paper form (by its control number, `form_id`) is keyed twice by two different
operators. The first keying is stored encrypted; the second is compared with it
(verification.compare_keyings): when they agree the application is submitted in the
same transaction, otherwise the keying is stored as a mismatch and the differing field
paths are returned for a third look. The third look (`resolve`) is a keying by an
operator who keyed neither of the first two; it replaces both and is submitted. Keying
a form already accepted returns its application number again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from subsidy_intake.orm import ApplicationRow, PaperKeyingRow
from subsidy_intake.service import IntakeService
from subsidy_intake.verification import KeyingOutcome, compare_keyings, decide
from subsidy_platform.access import Principal
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.unit_of_work import named_lock

RPC = "KeyPaperForm"


@dataclass(frozen=True, slots=True)
class KeyingResult:
    outcome: KeyingOutcome
    differing_fields: tuple[str, ...] = ()
    application_number: str | None = None


def key_paper_form(
    service: IntakeService,
    who: Principal,
    program_id: str,
    form_id: str,
    record: dict[str, Any],
    *,
    resolve: bool = False,
) -> KeyingResult:
    program = service.program(program_id)
    if not form_id.strip():
        raise InvalidArgument([FieldViolation("form_id", "受付番号を入力してください")])
    record = {**record, "channel": "paper"}
    [prepared] = service.prepare(program, [record])  # validates the keyed record
    with service.transaction() as session:
        named_lock(session, f"paper-form:{program.id}:{form_id}")
        keyings = list(
            session.scalars(
                select(PaperKeyingRow)
                .where(PaperKeyingRow.program_id == program.id, PaperKeyingRow.form_id == form_id)
                .order_by(PaperKeyingRow.round)
            )
        )
        accepted = next((k for k in keyings if k.application_id is not None), None)
        if accepted is not None:
            number = session.scalar(
                select(ApplicationRow.application_number).where(
                    ApplicationRow.id == accepted.application_id
                )
            )
            return KeyingResult(KeyingOutcome.ACCEPTED, application_number=number)
        operators = {k.operator for k in keyings}
        if not keyings:
            _store(
                service,
                session,
                who,
                program.id,
                form_id,
                1,
                record,
                KeyingOutcome.FIRST_KEYING_STORED,
            )
            return KeyingResult(KeyingOutcome.FIRST_KEYING_STORED)
        if resolve:
            if len(keyings) < 2 or who.subject in operators:
                return KeyingResult(KeyingOutcome.SAME_OPERATOR)
            diffs: list[str] = []
        else:
            if len(keyings) >= 2:
                first = _load(service, program.id, keyings[0])
                return KeyingResult(KeyingOutcome.MISMATCH, tuple(compare_keyings(first, record)))
            first = _load(service, program.id, keyings[0])
            diffs = compare_keyings(first, record)
            outcome = decide(keyings[0].operator, who.subject, diffs)
            if outcome is KeyingOutcome.SAME_OPERATOR:
                return KeyingResult(outcome)
            if outcome is KeyingOutcome.MISMATCH:
                _store(service, session, who, program.id, form_id, 2, record, outcome)
                return KeyingResult(outcome, tuple(diffs))
        result = service.store(session, who, program, f"paper:{form_id}", prepared, RPC)
        row = _store(
            service,
            session,
            who,
            program.id,
            form_id,
            len(keyings) + 1,
            record,
            KeyingOutcome.ACCEPTED,
        )
        row.application_id = session.scalar(
            select(ApplicationRow.id).where(
                ApplicationRow.application_number == result.application_number
            )
        )
        return KeyingResult(KeyingOutcome.ACCEPTED, application_number=result.application_number)


def _store(
    service: IntakeService,
    session: Session,
    who: Principal,
    program_id: str,
    form_id: str,
    round_: int,
    record: dict[str, Any],
    outcome: KeyingOutcome,
) -> PaperKeyingRow:
    bank = record.get("bank_account")
    contact = {k: v for k, v in record.items() if k != "bank_account"}
    cipher = service.cipher(program_id)
    [contact_ct] = cipher.encrypt(DataClass.CONTACT, [json.dumps(contact, ensure_ascii=False)])
    [bank_ct] = cipher.encrypt(
        DataClass.BANK, [json.dumps(bank, ensure_ascii=False) if bank else None]
    )
    row = PaperKeyingRow(
        program_id=program_id,
        form_id=form_id,
        round=round_,
        operator=who.subject,
        contact_ct=contact_ct or "",
        bank_ct=bank_ct,
        outcome=outcome.name,
    )
    session.add(row)
    service.audit(
        session,
        who,
        RPC,
        "create",
        application=None,
        fields=("paper_form",),
        purpose=f"form {form_id}",
    )
    session.flush()
    return row


def _load(service: IntakeService, program_id: str, row: PaperKeyingRow) -> dict[str, Any]:
    cipher = service.cipher(program_id)
    [contact] = cipher.decrypt(DataClass.CONTACT, [row.contact_ct])
    record: dict[str, Any] = json.loads(contact or "{}")
    if row.bank_ct:
        [bank] = cipher.decrypt(DataClass.BANK, [row.bank_ct])
        record["bank_account"] = json.loads(bank or "null")
    return record
