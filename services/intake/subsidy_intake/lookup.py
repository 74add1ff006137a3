"""Call-center look-up, the application view, the timeline, inquiries and attachments.

Searches go through blind indexes only (application number, name kana + birth date,
phone). Every read of personal data is audited with the caller's purpose; the view is
masked unless the caller's role may unmask and states a purpose (masking.py). The
inquiry log (問合せ対応履歴) keeps its free-text summary encrypted. Status transitions
come from the other services' identities and are idempotent by request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from subsidy_intake.facts import person_fact, phone_fact
from subsidy_intake.masking import mask_bank, mask_name, masked_record, may_unmask
from subsidy_intake.orm import ApplicationRow, BlindIndexRow, InquiryRow, StatusEventRow
from subsidy_intake.records import CONTACT_FIELDS
from subsidy_intake.repository import IntakeRepository, blind_indexes
from subsidy_intake.service import PERSONAL_FIELDS, IntakeService
from subsidy_platform.access import Principal
from subsidy_platform.crypto import DataClass
from subsidy_platform.declaration import reportable_by
from subsidy_platform.errors import FieldViolation, InvalidArgument, PermissionDenied

STATUSES = (
    "RECEIVED",
    "DUPLICATE_SUSPECTED",
    "UNDER_REVIEW",
    "CORRECTION_REQUESTED",
    "GRANTED",
    "NOT_GRANTED",
    "NOTICE_SENT",
    "PAYMENT_SCHEDULED",
    "PAID",
    "TRANSFER_FAILED",
    "WITHDRAWN",
)
INQUIRY_CHANNELS = ("電話", "窓口", "メール", "郵便")
INQUIRY_CATEGORIES = ("制度", "記入方法", "進捗", "補正", "振込", "苦情", "その他")


@dataclass(frozen=True, slots=True)
class Summary:
    application_number: str
    program_id: str
    status: str
    received_on: str
    masked_name: str
    channel: str


def _require_purpose(purpose: str | None, field: str = "purpose") -> str:
    if not purpose or not purpose.strip():
        raise InvalidArgument([FieldViolation(field, "閲覧目的を入力してください")])
    return purpose.strip()


def search(
    service: IntakeService,
    who: Principal,
    program_id: str,
    *,
    number: str | None = None,
    name_kana: str | None = None,
    birth_date: str | None = None,
    phone: str | None = None,
    purpose: str | None = None,
) -> list[Summary]:
    program = service.program(program_id)
    reason = _require_purpose(purpose)
    cipher = service.cipher(program.id)
    with service.transaction() as session:
        query = select(ApplicationRow).where(ApplicationRow.program_id == program.id)
        if number:
            query = query.where(ApplicationRow.application_number == number.strip())
        else:
            fact = _search_fact(name_kana, birth_date, phone)
            [digest] = blind_indexes(cipher, [fact])
            query = query.join(
                BlindIndexRow, BlindIndexRow.application_id == ApplicationRow.id
            ).where(BlindIndexRow.kind == fact[0], BlindIndexRow.digest == digest)
        rows = list(
            session.scalars(query.order_by(ApplicationRow.received_on, ApplicationRow.id).limit(50))
        )
        names = cipher.decrypt(DataClass.CONTACT, [r.name_ct for r in rows]) if rows else []
        for row in rows:
            service.audit(
                session,
                who,
                "SearchApplications",
                "read",
                application=row.application_number,
                fields=("name",),
                purpose=reason,
            )
        return [
            Summary(
                r.application_number,
                r.program_id,
                r.status,
                r.received_on.isoformat(),
                mask_name(n or ""),
                r.channel,
            )
            for r, n in zip(rows, names, strict=True)
        ]


def _search_fact(
    name_kana: str | None, birth_date: str | None, phone: str | None
) -> tuple[str, str]:
    if phone:
        try:
            return phone_fact(phone)
        except ValueError:
            raise InvalidArgument(
                [FieldViolation("phone", "電話番号の形式が正しくありません")]
            ) from None
    if name_kana and birth_date:
        try:
            datetime.strptime(birth_date, "%Y-%m-%d")
        except ValueError:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "kana_and_birth_date.birth_date", "生年月日は YYYY-MM-DD で入力してください"
                    )
                ]
            ) from None
        return person_fact(name_kana, birth_date)
    raise InvalidArgument(
        [FieldViolation("by", "申請番号、フリガナと生年月日、電話番号のいずれかを指定してください")]
    )


def get_application(
    service: IntakeService, who: Principal, number: str, *, unmask: bool, purpose: str | None
) -> tuple[dict[str, Any], str, str, bool, list[tuple[str, str]]]:
    """(record, program id, status, masked, duplicate flags) as the caller may see it."""
    if who.kind == "service":
        return _for_service(service, who, number, purpose)
    if unmask and not may_unmask(who.role):
        raise PermissionDenied("この役割ではマスクを解除できません")
    reason = _require_purpose(purpose) if unmask else (purpose or None)
    with service.transaction() as session:
        row = IntakeRepository(session).by_number(number)
        repo = IntakeRepository(session, service.cipher(row.program_id))
        record = repo.decrypt_record(row, bank=True)
        service.audit(
            session,
            who,
            "GetApplication",
            "unmask" if unmask else "read",
            application=number,
            fields=PERSONAL_FIELDS,
            purpose=reason,
        )
        flags = repo.flags_of(row.id)
        return (
            (record if unmask else masked_record(record)),
            row.program_id,
            row.status,
            not unmask,
            flags,
        )


def _for_service(
    service: IntakeService, who: Principal, number: str, purpose: str | None
) -> tuple[dict[str, Any], str, str, bool, list[tuple[str, str]]]:
    """Another service's read (review's checks): contact details, the bank account masked.

    Bank details are decrypted only by intake and shown only to staff; a service never
    receives them (review's Vault policy has no bank key either). The read is audited under
    the service's identity with the purpose it states (naming the staff member it acts for).
    """
    reason = _require_purpose(purpose)
    with service.transaction() as session:
        row = IntakeRepository(session).by_number(number)
        repo = IntakeRepository(session, service.cipher(row.program_id))
        record = repo.decrypt_record(row, bank=True)
        service.audit(
            session,
            who,
            "GetApplication",
            "read",
            application=number,
            fields=CONTACT_FIELDS,
            purpose=reason,
        )
        return mask_bank(record), row.program_id, row.status, True, repo.flags_of(row.id)


def timeline(service: IntakeService, number: str) -> tuple[str, list[StatusEventRow]]:
    with service.transaction() as session:
        repo = IntakeRepository(session)
        row = repo.by_number(number)
        events = repo.timeline(row.id)
        session.expunge_all()
        return row.status, events


def report_transition(
    service: IntakeService,
    who: Principal,
    number: str,
    status: str,
    note: str | None,
    request_id: str,
) -> StatusEventRow:
    allowed = reportable_by(who.subject) if who.kind == "service" else frozenset()
    if status not in STATUSES:
        raise InvalidArgument([FieldViolation("status", f"状態が正しくありません: {status}")])
    if status not in allowed:
        raise PermissionDenied(f"このサービスは状態 {status} を報告できません")
    if not request_id:
        raise InvalidArgument([FieldViolation("request_id", "リクエストIDが空です")])
    with service.transaction() as session:
        repo = IntakeRepository(session)
        row = repo.by_number(number)
        existing = session.scalar(
            select(StatusEventRow).where(StatusEventRow.request_id == request_id)
        )
        if existing is None:
            existing = StatusEventRow(
                application_id=row.id,
                status=status,
                actor=who.subject,
                service=who.subject.removeprefix("service:"),
                note=note,
                request_id=request_id,
            )
            session.add(existing)
            row.status = status
            session.flush()
        session.refresh(existing)
        session.expunge(existing)
        return existing


def record_inquiry(
    service: IntakeService,
    who: Principal,
    *,
    request_id: str | None,
    number: str | None,
    program_id: str | None,
    channel: str,
    category: str,
    summary: str,
    follow_up: bool,
    contacted_at: datetime | None,
) -> InquiryRow:
    """Log one contact; a general question (no application) names its program."""
    violations = []
    if not number and not program_id:
        violations.append(
            FieldViolation("program_id", "申請番号がない問合せは制度IDを指定してください")
        )
    if channel not in INQUIRY_CHANNELS:
        violations.append(
            FieldViolation("channel", f"受付方法は {'・'.join(INQUIRY_CHANNELS)} のいずれかです")
        )
    if category not in INQUIRY_CATEGORIES:
        violations.append(
            FieldViolation("category", f"分類は {'・'.join(INQUIRY_CATEGORIES)} のいずれかです")
        )
    if not summary.strip():
        violations.append(FieldViolation("summary", "対応内容を入力してください"))
    if violations:
        raise InvalidArgument(violations)
    with service.transaction() as session:
        if request_id:
            existing = session.scalar(select(InquiryRow).where(InquiryRow.request_id == request_id))
            if existing is not None:
                session.expunge(existing)
                return existing
        application = IntakeRepository(session).by_number(number) if number else None
        program_id = application.program_id if application else service.program(program_id or "").id
        [ciphertext] = service.cipher(program_id).encrypt(DataClass.CONTACT, [summary])
        inquiry = InquiryRow(
            request_id=request_id,
            program_id=program_id,
            application_id=application.id if application else None,
            contacted_at=contacted_at or datetime.now(UTC),
            channel=channel,
            agent=who.subject,
            category=category,
            summary_ct=ciphertext or "",
            follow_up_needed=follow_up,
        )
        session.add(inquiry)
        service.audit(
            session, who, "RecordInquiry", "create", application=number, fields=("inquiry_summary",)
        )
        session.flush()
        session.expunge(inquiry)
        return inquiry


def list_inquiries(
    service: IntakeService,
    who: Principal,
    *,
    number: str | None,
    follow_up_only: bool,
    purpose: str | None,
) -> list[tuple[InquiryRow, str | None, str]]:
    """(inquiry, application number, plaintext summary), newest first."""
    reason = _require_purpose(purpose)
    with service.transaction() as session:
        query = select(InquiryRow, ApplicationRow.application_number).outerjoin(
            ApplicationRow, ApplicationRow.id == InquiryRow.application_id
        )
        if number:
            query = query.where(ApplicationRow.application_number == number)
        if follow_up_only:
            query = query.where(InquiryRow.follow_up_needed.is_(True))
        rows = list(
            session.execute(
                query.order_by(InquiryRow.contacted_at.desc(), InquiryRow.id.desc()).limit(200)
            )
        )
        out: list[tuple[InquiryRow, str | None, str]] = []
        for inquiry, app_number in rows:
            [summary] = service.cipher(inquiry.program_id or "").decrypt(
                DataClass.CONTACT, [inquiry.summary_ct]
            )
            service.audit(
                session,
                who,
                "ListInquiries",
                "read",
                application=app_number,
                fields=("inquiry_summary",),
                purpose=reason,
            )
            out.append((inquiry, app_number, summary or ""))
        session.expunge_all()
        return out


def attachment_checklist(
    service: IntakeService, number: str, present: list[str] | None = None
) -> tuple[list[tuple[str, str, bool, bool]], list[str]]:
    """(kind, label, required, present) per attachment of the program, and the missing labels."""
    with service.transaction() as session:
        row = IntakeRepository(session).by_number(number)
        program = service.program(row.program_id)
        known = {a.kind for a in program.attachments}
        if present is not None:
            unknown = [k for k in present if k not in known]
            if unknown:
                raise InvalidArgument(
                    [
                        FieldViolation(
                            "present", f"添付書類の種類が正しくありません: {', '.join(unknown)}"
                        )
                    ]
                )
            row.attachments = sorted(set(row.attachments) | set(present))
        have = set(row.attachments)
        items = [(a.kind, a.label, a.required, a.kind in have) for a in program.attachments]
        missing = [label for kind, label, required, ok in items if required and not ok]
        return items, missing
