"""The call center's inquiry log (問合せ対応履歴): record a contact, list them.

An inquiry names how the caller got in touch (`INQUIRY_CHANNELS`), what it was about
(`INQUIRY_CATEGORIES`), a free-text summary (stored encrypted, inquiries_repository.py)
and whether it needs a follow-up; a general question without an application names its
program. The time of contact is RFC 3339 with a time zone, now when not given. Recording
is idempotent by request id; every listed summary is an audited read with a purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from subsidy_intake import limits
from subsidy_intake.inquiries_repository import InquiryRecord
from subsidy_intake.lookup import require_purpose
from subsidy_intake.service import IntakeService
from subsidy_platform.access import Principal
from subsidy_platform.errors import FieldViolation, InvalidArgument

INQUIRY_CHANNELS = ("電話", "窓口", "メール", "郵便")
INQUIRY_CATEGORIES = ("制度", "記入方法", "進捗", "補正", "振込", "苦情", "その他")


@dataclass(frozen=True, slots=True)
class InquiryView:
    """A listed inquiry: the record, its application (if any) and the plaintext summary."""

    inquiry: InquiryRecord
    application_number: str | None
    summary: str


def parse_instant(value: str, field: str) -> datetime | None:
    """An RFC 3339 time with its time zone; None for an empty value."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            [FieldViolation(field, "日時は RFC 3339 形式で入力してください")]
        ) from None
    if parsed.tzinfo is None:
        raise InvalidArgument([FieldViolation(field, "日時にはタイムゾーンを付けてください")])
    return parsed


def inquiry_violations(
    number: str | None, program_id: str | None, channel: str, category: str, summary: str
) -> list[FieldViolation]:
    """Every problem of an inquiry's fields (empty when it may be recorded)."""
    violations = []
    if not number and not program_id:
        violations.append(
            FieldViolation("program_id", "申請番号がない問合せは制度IDを指定してください")
        )
    if len(channel) > 8 or channel not in INQUIRY_CHANNELS:
        violations.append(
            FieldViolation("channel", f"受付方法は {'・'.join(INQUIRY_CHANNELS)} のいずれかです")
        )
    if len(category) > 8 or category not in INQUIRY_CATEGORIES:
        violations.append(
            FieldViolation("category", f"分類は {'・'.join(INQUIRY_CATEGORIES)} のいずれかです")
        )
    if not summary.strip():
        violations.append(FieldViolation("summary", "対応内容を入力してください"))
    return violations


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
    contacted_at: str = "",
) -> InquiryRecord:
    """Log one contact; a general question (no application) names its program."""
    request_id = limits.request_id(request_id or "", required=False)
    number = limits.optional_application_number(number or "")
    program_id = limits.program_id(program_id or "", required=False)
    summary = limits.summary(summary)
    contacted = parse_instant(limits.instant(contacted_at, "contacted_at"), "contacted_at")
    violations = inquiry_violations(number, program_id, channel, category, summary)
    if violations:
        raise InvalidArgument(violations)
    with service.uow() as work:
        if request_id:
            existing = work.repo.inquiries.by_request(request_id)
            if existing is not None:
                return existing
        application = work.repo.by_number(number) if number else None
        program_id = application.program_id if application else service.program(program_id or "").id
        inquiry = service.repo(work, program_id).inquiries.add(
            request_id=request_id,
            program_id=program_id,
            application_id=application.id if application else None,
            contacted_at=contacted or datetime.now(UTC),
            channel=channel,
            agent=who.subject,
            category=category,
            summary=summary,
            follow_up_needed=follow_up,
        )
        work.audit(who, "RecordInquiry", "create", application=number, fields=("inquiry_summary",))
        return inquiry


def list_inquiries(
    service: IntakeService,
    who: Principal,
    *,
    number: str | None,
    follow_up_only: bool,
    purpose: str | None,
) -> list[InquiryView]:
    """The inquiries with their summaries, newest first (each read audited)."""
    number = limits.optional_application_number(number or "")
    reason = require_purpose(purpose)
    with service.uow() as work:
        logged = work.repo.inquiries.listing(number=number, follow_up_only=follow_up_only)
        out: list[InquiryView] = []
        for item in logged:
            repo = service.repo(work, item.inquiry.program_id or "")
            summary = repo.inquiries.summary(item.inquiry.id)
            work.audit(
                who,
                "ListInquiries",
                "read",
                application=item.application_number,
                fields=("inquiry_summary",),
                purpose=reason,
            )
            out.append(InquiryView(item.inquiry, item.application_number, summary))
        return out
