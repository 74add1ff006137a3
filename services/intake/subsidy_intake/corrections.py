"""Corrections (補正) of stored applications, keyed in by contractor operators.

Review asks the applicant for a correction (補正依頼); the corrected values come back to the
contractor, who keys in the whole corrected record (`SubmitCorrection`). The record is
validated like a submission (format v1, blind indexes in Vault: IntakeService.prepare); the
application number, channel, received date and LoGo answer id stay the stored application's,
whatever the record carries (a received date after the ward's today is refused all the
same, as on every path: received_date). A paper application's correction is keyed twice
and compared field by field (verification.compare_keyings, as for paper forms): two
keyings that differ apply nothing and return the differing fields.

An application already decided or beyond (交付決定・不交付決定 and what follows them, or
withdrawn: `DECIDED`) is no longer corrected: `Conflict` (FAILED_PRECONDITION), checked
under the application's row lock so that a decision reported at the same time is seen.

Otherwise one transaction: the program's shared lock (a file import holds it alone), a lock
on the request id and one on the application, replay by request id (the same id and content
return the first result, even once the application is decided; the same id with other
content is `Conflict`), the status check above, the record re-encrypted in place with its
blind indexes replaced under their fact locks, duplicate flags added against the other
applications the corrected record now matches (flags already there stay for a checker to
resolve), the correction recorded (its note encrypted), a timeline step at the current
status (review decides what the correction changes), the audit event and a CORRECTED event
in intake's outbox for the subscribers of `intake.application`.

Intake cannot decrypt bank details (payments alone may): a corrected record carrying the
account as staff see it (masked) keeps the stored account, its ciphertext and its blind
index; any other account replaces it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from subsidy_intake import limits
from subsidy_intake.events import publish_corrected
from subsidy_intake.facts import DUPLICATE_KINDS, EVIDENCE_OF_KIND
from subsidy_intake.received_date import check_record
from subsidy_intake.repository import blind_indexes
from subsidy_intake.service import PERSONAL_FIELDS, IntakeService, lock_program
from subsidy_intake.verification import compare_keyings
from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.ward_clock import ward_today

RPC = "SubmitCorrection"
# stands in for the masked account while the rest of the record is validated
ACCOUNT_PLACEHOLDER = {"number": "0000000", "holder_kana": "ア"}
TIMELINE_NOTE = "補正入力"
# the statuses from which an application is no longer corrected, as staff read them
DECIDED = {
    "GRANTED": "交付決定済み",
    "NOT_GRANTED": "不交付決定済み",
    "NOTICE_SENT": "決定通知送付済み",
    "PAYMENT_SCHEDULED": "振込予定",
    "PAID": "振込済み",
    "TRANSFER_FAILED": "振込不能",
    "WITHDRAWN": "取下げ済み",
    "NOTICE_RETURNED": "決定通知返戻（宛所不明）",
    "GRANT_REVOKED": "交付決定取消済み",
}


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    application_number: str
    applied: bool
    differing_fields: tuple[str, ...] = ()
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class _Stored:
    """What a correction never changes: the stored application's own facts."""

    number: str
    program_id: str
    channel: str
    received_on: date
    logo_answer_id: str | None
    status: str
    account_shown: dict[str, Any] | None  # the stored account, masked


def submit_correction(
    service: IntakeService,
    who: Principal,
    request_id: str,
    number: str,
    record: dict[str, Any],
    second_keying: dict[str, Any] | None,
    note: str,
) -> CorrectionResult:
    request_id = limits.request_id(request_id) or ""
    note_text = limits.note(note)
    today = ward_today()
    check_record(record, today)
    if second_keying is not None:
        check_record(second_keying, today, "second_keying.received_on")
    stored = _stored(service, limits.application_number(number))
    program = service.program(stored.program_id)
    corrected = _keep_stored(record, stored)
    second = None
    if stored.channel == "paper":
        if second_keying is None:
            raise InvalidArgument(
                [FieldViolation("second_keying", "紙の申請の補正は2人目の入力が必要です")]
            )
        second = _keep_stored(second_keying, stored)
    # the account as staff see it (masked: intake cannot decrypt it) means "unchanged": the
    # stored account stays; a changed account is RecordBankAccountChange's (bank_changes.py)
    keep_account = stored.account_shown is not None and (
        corrected.get("bank_account") == stored.account_shown
    )
    to_check = (
        {**corrected, "bank_account": {**stored.account_shown, **ACCOUNT_PLACEHOLDER}}
        if keep_account and stored.account_shown is not None
        else corrected
    )
    [prepared] = service.prepare(program, [to_check])
    indexes = {k: d for k, d in prepared.indexes.items() if not (keep_account and k == "bank")}
    if second is not None:
        differing = compare_keyings(corrected, second)
        if differing:
            refuse_if_decided(stored.status)
            return CorrectionResult(stored.number, applied=False, differing_fields=tuple(differing))
    content = {"application_number": stored.number, "application": corrected, "note": note_text}
    if second is not None:
        content["second_keying"] = second
    # ASCII JSON: the HMAC input is NFKC-normalised, which must not make ３ and 3 the same content
    text = json.dumps(content, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    [digest] = blind_indexes(service.cipher(program.id), [("correction", text)])
    correction_id = f"{stored.number}-{hashlib.sha256(request_id.encode()).hexdigest()[:16]}"
    with service.uow() as work:
        lock_program(work, program.id, shared=True)
        work.lock(f"correction:{request_id}")
        work.lock(f"application:{stored.number}")
        repo = service.repo(work, program.id)
        previous = repo.entries.correction_by_request(request_id)
        if previous is not None:
            if previous.request_digest != digest:
                raise Conflict("同じリクエストIDで異なる内容の補正が送信されました")
            return CorrectionResult(previous.application_number, applied=True, replayed=True)
        application = repo.by_number(stored.number, for_update=True)
        refuse_if_decided(application.status)
        repo.lock_facts(program.id, indexes.values())
        repo.replace_record(application.id, prepared.record, indexes, keep_account=keep_account)
        found = repo.matches(
            program.id, [(k, d) for k, d in indexes.items() if k in DUPLICATE_KINDS]
        )
        others = sorted(
            {
                (m.application_id, str(EVIDENCE_OF_KIND[m.kind]), m.application_number)
                for m in found
                if m.application_id != application.id
            }
        )
        flagged = repo.flag_pairs(application.id)
        repo.add_flags(
            (application.id, other_id, evidence)
            for other_id, evidence, _ in others
            if (other_id, evidence) not in flagged
        )
        repo.entries.add_correction(
            application, request_id, digest, note_text or None, who.subject, None
        )
        repo.timeline.add_step(
            application, who.subject, TIMELINE_NOTE, f"correction:{correction_id}"
        )
        work.audit(who, RPC, "update", application=stored.number, fields=PERSONAL_FIELDS)
        publish_corrected(work, application, correction_id, [(n, e) for _, e, n in others])
        return CorrectionResult(stored.number, applied=True)


def refuse_if_decided(status: str) -> None:
    """`Conflict` for an application decided or beyond (or withdrawn): no more corrections."""
    label = DECIDED.get(status)
    if label is not None:
        raise Conflict(f"決定後または取下げ後の申請は補正できません（状態: {label}）")


def _stored(service: IntakeService, number: str) -> _Stored:
    with service.uow() as work:
        application = work.repo.by_number(number)
        repo = service.repo(work, application.program_id)
        return _Stored(
            application.application_number,
            application.program_id,
            application.channel,
            application.received_on,
            repo.logo_answer_id(application.id),
            application.status,
            repo.decrypt_record(application.id).get("bank_account"),
        )


def _keep_stored(record: dict[str, Any], stored: _Stored) -> dict[str, Any]:
    """The record with the stored application's number, channel, date and LoGo answer id."""
    kept = {
        **record,
        "application_id": stored.number,
        "channel": stored.channel,
        "received_on": stored.received_on.isoformat(),
    }
    kept.pop("logo_answer_id", None)
    if stored.logo_answer_id is not None:
        kept["logo_answer_id"] = stored.logo_answer_id
    return kept
