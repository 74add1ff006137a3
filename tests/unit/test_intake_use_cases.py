"""Intake's use cases over a fake repository and a fake cipher: no PostgreSQL, no Vault.

The fakes stand in for the adapters only (the unit of work, the repository, Vault's field
cipher); what is tested is the use cases' own logic: replay of a submission by request id,
status reports limited to what a service declares it `reports`, the attachment checklist,
inquiry validation, a stated purpose for unmasking, and no correction once an application
is decided. The real adapters are tested in tests/integration/test_intake_*.py.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from google.protobuf.message import Message
from subsidy.events.v1 import events_pb2
from subsidy_intake import inquiries, lookup
from subsidy_intake.corrections import DECIDED, refuse_if_decided, submit_correction
from subsidy_intake.entry_repository import AppliedCorrection
from subsidy_intake.inquiries_repository import InquiryRecord, LoggedInquiry
from subsidy_intake.repository import Match, NewApplication, StoredApplication
from subsidy_intake.service import IntakeService, submit
from subsidy_intake.timeline_repository import TimelineEntry

from subsidy_platform.access import SERVICE_ROLE, Principal
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from subsidy_rules.program import get_program

PROGRAM = "shinjuku-2025"
OPERATOR = Principal(subject="op-1", role="operator", kind="staff")
CHECKER = Principal(subject="checker-1", role="checker", kind="staff")
CALL_CENTER = Principal(subject="cc-1", role="call_center", kind="staff")
REVIEW = Principal(subject="review", role=SERVICE_ROLE, kind="service")
PAYMENTS = Principal(subject="payments", role=SERVICE_ROLE, kind="service")


# fakes ----------------------------------------------------------------------------------


class FakeCipher:
    """Reversible 'encryption' and a plain hash for blind indexes (what Vault's HMAC is to
    the use cases: equal facts, equal digests)."""

    def encrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]:
        return [None if v is None else f"ct:{data_class.value}:{v}" for v in values]

    def decrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]:
        prefix = f"ct:{data_class.value}:"
        return [None if v is None else v.removeprefix(prefix) for v in values]

    def blind_index(self, kind: str, values: Sequence[str]) -> list[str]:
        return [hashlib.sha256(f"{kind}|{v}".encode()).hexdigest() for v in values]


@dataclass
class Row:
    application: StoredApplication
    record: dict[str, Any]
    indexes: dict[str, str]


@dataclass
class Tables:
    applications: dict[int, Row] = field(default_factory=dict)
    flags: list[tuple[int, int, str]] = field(default_factory=list)
    steps: list[tuple[int, TimelineEntry, str | None]] = field(default_factory=list)
    corrections: dict[str, AppliedCorrection] = field(default_factory=dict)
    inquiries: dict[int, tuple[InquiryRecord, str | None, str, int | None]] = field(
        default_factory=dict
    )
    sequence: int = 0


class FakeTimeline:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def of(self, application_id: int) -> list[TimelineEntry]:
        return [e for a, e, _ in self.tables.steps if a == application_id]

    def by_request(self, request_id: str) -> TimelineEntry | None:
        return next((e for _, e, r in self.tables.steps if r == request_id), None)

    def add_step(
        self, application: StoredApplication, actor: str, note: str | None, request_id: str | None
    ) -> None:
        entry = TimelineEntry(datetime.now(UTC), application.status, actor, "intake", note)
        self.tables.steps.append((application.id, entry, request_id))

    def report(
        self,
        application_id: int,
        status: str,
        *,
        actor: str,
        service: str,
        note: str | None,
        request_id: str,
    ) -> TimelineEntry:
        row = self.tables.applications[application_id]
        row.application = replace(row.application, status=status)
        entry = TimelineEntry(datetime.now(UTC), status, actor, service, note)
        self.tables.steps.append((application_id, entry, request_id))
        return entry


class FakeInquiries:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def by_request(self, request_id: str) -> InquiryRecord | None:
        return next((i for i, r, _, _ in self.tables.inquiries.values() if r == request_id), None)

    def add(self, *, request_id: str | None, summary: str, **values: Any) -> InquiryRecord:
        application_id = values.pop("application_id")
        inquiry = InquiryRecord(id=len(self.tables.inquiries) + 1, **values)
        self.tables.inquiries[inquiry.id] = (inquiry, request_id, summary, application_id)
        return inquiry

    def listing(self, *, number: str | None, follow_up_only: bool) -> list[LoggedInquiry]:
        numbers = {i: r.application.application_number for i, r in self.tables.applications.items()}
        return [
            LoggedInquiry(inquiry, numbers.get(app_id) if app_id else None)
            for inquiry, _, _, app_id in reversed(self.tables.inquiries.values())
            if (not number or numbers.get(app_id or 0) == number)
            and (inquiry.follow_up_needed or not follow_up_only)
        ]

    def summary(self, inquiry_id: int) -> str:
        return self.tables.inquiries[inquiry_id][2]


class FakeEntries:
    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    def correction_by_request(self, request_id: str) -> AppliedCorrection | None:
        return self.tables.corrections.get(request_id)

    def add_correction(
        self,
        application: StoredApplication,
        request_id: str,
        request_digest: str,
        note: str | None,
        keyed_by: str,
        second_keyed_by: str | None,
    ) -> None:
        self.tables.corrections[request_id] = AppliedCorrection(
            request_digest, application.application_number
        )


class FakeRepository:
    """The methods of IntakeRepository the use cases call, over in-memory tables."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.timeline = FakeTimeline(tables)
        self.inquiries = FakeInquiries(tables)
        self.entries = FakeEntries(tables)
        self.locked_facts: list[str] = []

    def with_cipher(self, cipher: Any) -> FakeRepository:
        return self

    def allocate_numbers(self, prefix: str, count: int) -> list[str]:
        start = self.tables.sequence
        self.tables.sequence += count
        return [f"{prefix}-{n:06d}" for n in range(start + 1, start + count + 1)]

    def lock_facts(self, program_id: str, digests: Iterable[str]) -> None:
        self.locked_facts.extend(digests)

    def add_all(
        self, items: Sequence[NewApplication], status: str, actor: str
    ) -> list[StoredApplication]:
        out = []
        for item in items:
            application = StoredApplication(
                id=len(self.tables.applications) + 1,
                application_number=item.application_number,
                program_id=item.program_id,
                request_id=item.request_id,
                request_digest=item.request_digest,
                channel=item.record["channel"],
                received_on=date.fromisoformat(item.record["received_on"]),
                status=status,
                attachments=(),
            )
            self.tables.applications[application.id] = Row(
                application, copy.deepcopy(item.record), dict(item.indexes)
            )
            self.timeline.add_step(application, actor, None, None)
            out.append(application)
        return out

    def replace_record(
        self,
        application_id: int,
        record: dict[str, Any],
        indexes: dict[str, str],
        *,
        keep_account: bool = False,
    ) -> None:
        row = self.tables.applications[application_id]
        account, bank_index = row.record.get("bank_account"), row.indexes.get("bank")
        row.record, row.indexes = copy.deepcopy(record), dict(indexes)
        if keep_account:
            row.record["bank_account"] = account
            if bank_index is not None:
                row.indexes["bank"] = bank_index

    def set_attachments(self, application_id: int, kinds: Iterable[str]) -> None:
        row = self.tables.applications[application_id]
        row.application = replace(row.application, attachments=tuple(sorted(set(kinds))))

    def add_flags(self, flags: Iterable[tuple[int, int, str]]) -> int:
        added = list(flags)
        self.tables.flags.extend(added)
        return len(added)

    def by_request(self, program_id: str, request_id: str) -> StoredApplication | None:
        return next(
            (
                r.application
                for r in self.tables.applications.values()
                if (r.application.program_id, r.application.request_id) == (program_id, request_id)
            ),
            None,
        )

    def by_number(self, application_number: str, *, for_update: bool = False) -> StoredApplication:
        for row in self.tables.applications.values():
            if row.application.application_number == application_number:
                return row.application
        raise NotFound("申請", application_number)

    def matches(self, program_id: str, kind_digests: Sequence[tuple[str, str]]) -> list[Match]:
        wanted = set(kind_digests)
        return [
            Match(kind, digest, row.application.id, row.application.application_number)
            for row in self.tables.applications.values()
            for kind, digest in row.indexes.items()
            if (kind, digest) in wanted
        ]

    def flag_pairs(self, application_id: int) -> set[tuple[int, str]]:
        return {(o, e) for a, o, e in self.tables.flags if a == application_id}

    def flags_of(self, application_id: int) -> list[tuple[str, str]]:
        numbers = {i: r.application.application_number for i, r in self.tables.applications.items()}
        return [(numbers[o], e) for a, o, e in self.tables.flags if a == application_id]

    def logo_answer_id(self, application_id: int) -> str | None:
        answer: str | None = self.tables.applications[application_id].record.get("logo_answer_id")
        return answer

    def decrypt_record(self, application_id: int) -> dict[str, Any]:
        row = self.tables.applications[application_id]
        return {**copy.deepcopy(row.record), "application_id": row.application.application_number}


@dataclass
class FakeWork:
    repo: FakeRepository
    audits: list[tuple[str, str, str, str | None, tuple[str, ...], str | None]] = field(
        default_factory=list
    )
    locks: list[tuple[str, bool]] = field(default_factory=list)
    published: list[tuple[str, str, Message]] = field(default_factory=list)

    def audit(
        self,
        who: Principal,
        rpc: str,
        action: str,
        *,
        application: str | None,
        fields: Sequence[str],
        purpose: str | None = None,
    ) -> None:
        self.audits.append((who.subject, rpc, action, application, tuple(fields), purpose))

    def lock(self, name: str, *, shared: bool = False) -> None:
        self.locks.append((name, shared))

    def publish(self, topic: str, key: str, message: Message) -> int:
        self.published.append((topic, key, message))
        return 1


class FakeUnitOfWork:
    """One in-memory transaction per `with`: kept when the block ends, rolled back on error."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.opened = 0
        self.committed: list[FakeWork] = []

    @contextmanager
    def __call__(self) -> Iterator[FakeWork]:
        self.opened += 1
        snapshot = copy.deepcopy(self.tables)
        work = FakeWork(FakeRepository(self.tables))
        try:
            yield work
        except BaseException:
            self.tables.__dict__.update(snapshot.__dict__)
            raise
        self.committed.append(work)

    @property
    def audits(self) -> list[tuple[str, str, str, str | None, tuple[str, ...], str | None]]:
        return [a for w in self.committed for a in w.audits]

    @property
    def published(self) -> list[tuple[str, str, Message]]:
        return [p for w in self.committed for p in w.published]


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def service(uow: FakeUnitOfWork) -> IntakeService:
    cipher = FakeCipher()
    fake: Any = uow  # stands in for UnitOfWork[IntakeRepository]
    return IntakeService(fake, lambda program_id: cipher, {PROGRAM: get_program(PROGRAM)})


def application(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of the shared test record with nested changes ('applicant.name'=...)."""
    out = copy.deepcopy(record)
    out.pop("application_id")
    for path, value in changes.items():
        target = out
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    return out


# submit: replay by request id ------------------------------------------------------------


def test_a_submission_is_stored_audited_and_announced(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    result = submit(service, OPERATOR, PROGRAM, "req-1", application(record))
    assert (result.application_number, result.status, result.replayed) == (
        "S2025-000001",
        "RECEIVED",
        False,
    )
    assert result.duplicates == ()
    [work] = uow.committed
    assert ("program:shinjuku-2025", True) in work.locks
    [audit] = uow.audits
    assert audit[:4] == ("op-1", "SubmitApplication", "create", "S2025-000001")
    assert "account_number" in audit[4]
    [(topic, key, event)] = uow.published
    assert (topic, key) == ("intake.application", "received-S2025-000001")
    assert isinstance(event, events_pb2.ApplicationEvent)
    assert event.kind == events_pb2.ApplicationEvent.RECEIVED


def test_the_same_request_id_and_content_replays_the_first_result(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    first = submit(service, OPERATOR, PROGRAM, "req-1", application(record))
    again = submit(service, OPERATOR, PROGRAM, "req-1", application(record))
    assert again.replayed and not first.replayed
    assert (again.application_number, again.status) == (first.application_number, "RECEIVED")
    assert len(uow.tables.applications) == 1
    assert len(uow.published) == 1 and len(uow.audits) == 1


def test_the_same_request_id_with_other_content_is_a_conflict(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    submit(service, OPERATOR, PROGRAM, "req-1", application(record))
    with pytest.raises(Conflict):
        submit(
            service, OPERATOR, PROGRAM, "req-1", application(record, **{"applicant.phone": None})
        )
    assert len(uow.tables.applications) == 1
    assert len(uow.published) == 1


def test_the_same_logo_answer_under_another_request_id_replays(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    first = submit(service, OPERATOR, PROGRAM, "req-1", application(record))
    again = submit(service, OPERATOR, PROGRAM, "req-2", application(record))
    assert again.replayed and again.application_number == first.application_number
    assert len(uow.tables.applications) == 1


def test_a_second_household_member_is_flagged_not_refused(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    first = submit(service, OPERATOR, PROGRAM, "req-1", application(record))
    other = application(
        record,
        **{
            "logo_answer_id": "1000000002",
            "applicant.name": "新宿 花子",
            "applicant.name_kana": "シンジュク ハナコ",
            "applicant.birth_date": "1982-03-04",
            "bank_account.number": "7654321",
        },
    )
    second = submit(service, OPERATOR, PROGRAM, "req-2", other)
    assert not second.replayed and second.application_number != first.application_number
    assert second.duplicates == ((first.application_number, "SAME_HOUSEHOLD"),)
    assert len(uow.tables.flags) == 1


def test_a_blank_request_id_is_refused_before_any_transaction(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        submit(service, OPERATOR, PROGRAM, "  ", application(record))
    assert [v.field for v in raised.value.violations] == ["request_id"]
    assert uow.opened == 0


def test_an_unknown_program_is_an_invalid_argument(
    service: IntakeService, record: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        submit(service, OPERATOR, "nowhere-2025", "req-1", application(record))
    assert [v.field for v in raised.value.violations] == ["program_id"]


# status reports: only what a service declares it reports ---------------------------------


def test_review_may_report_granted_once_per_request_id(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    number = submit(service, OPERATOR, PROGRAM, "req-1", application(record)).application_number
    entry = lookup.report_transition(service, REVIEW, number, "GRANTED", "交付決定", "rev-1")
    assert (entry.status, entry.service, entry.actor, entry.note) == (
        "GRANTED",
        "review",
        "review",
        "交付決定",
    )
    again = lookup.report_transition(service, REVIEW, number, "GRANTED", "交付決定", "rev-1")
    assert again == entry
    timeline = lookup.timeline(service, number)
    assert timeline.status == "GRANTED"
    assert [e.status for e in timeline.events] == ["RECEIVED", "GRANTED"]


@pytest.mark.parametrize(
    ("who", "status"),
    [(REVIEW, "PAID"), (REVIEW, "PAYMENT_SCHEDULED"), (PAYMENTS, "GRANTED"), (CHECKER, "GRANTED")],
)
def test_a_status_outside_what_the_caller_reports_is_refused(
    service: IntakeService,
    uow: FakeUnitOfWork,
    record: dict[str, Any],
    who: Principal,
    status: str,
) -> None:
    number = submit(service, OPERATOR, PROGRAM, "req-1", application(record)).application_number
    opened = uow.opened
    with pytest.raises(PermissionDenied):
        lookup.report_transition(service, who, number, status, None, "rev-1")
    assert uow.opened == opened
    assert lookup.timeline(service, number).status == "RECEIVED"


def test_an_unknown_status_or_a_missing_request_id_is_an_invalid_argument(
    service: IntakeService,
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        lookup.report_transition(service, REVIEW, "S2025-000001", "APPROVED", None, "rev-1")
    assert [v.field for v in raised.value.violations] == ["status"]
    with pytest.raises(InvalidArgument) as raised:
        lookup.report_transition(service, REVIEW, "S2025-000001", "GRANTED", None, "")
    assert [v.field for v in raised.value.violations] == ["request_id"]


# attachments ----------------------------------------------------------------------------


def test_the_checklist_names_every_required_attachment_not_on_file() -> None:
    program = get_program(PROGRAM)
    empty = lookup.checklist(program, [])
    assert [i.kind for i in empty.items] == [a.kind for a in program.attachments]
    assert empty.missing == tuple(a.label for a in program.attachments if a.required)
    some = lookup.checklist(program, ["receipt", "id_copy"])
    assert [i.present for i in some.items] == [
        a.kind in ("receipt", "id_copy") for a in program.attachments
    ]
    assert "領収書の写し" not in some.missing and "設置後の写真" in some.missing
    assert lookup.checklist(program, [a.kind for a in program.attachments]).missing == ()


def test_recorded_attachments_add_up_and_unknown_kinds_are_refused(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    number = submit(service, OPERATOR, PROGRAM, "req-1", application(record)).application_number
    lookup.attachment_checklist(service, number, ["receipt"])
    after = lookup.attachment_checklist(service, number, ["id_copy", "receipt"])
    assert {i.kind for i in after.items if i.present} == {"receipt", "id_copy"}
    assert lookup.attachment_checklist(service, number).missing == after.missing
    with pytest.raises(InvalidArgument) as raised:
        lookup.attachment_checklist(service, number, ["receipt", "selfie"])
    [violation] = raised.value.violations
    assert violation.field == "present" and "selfie" in violation.description
    assert uow.tables.applications[1].application.attachments == ("id_copy", "receipt")


# inquiries ------------------------------------------------------------------------------


def inquiry(service: IntakeService, **changes: Any) -> InquiryRecord:
    values: dict[str, Any] = {
        "request_id": None,
        "number": None,
        "program_id": PROGRAM,
        "channel": "電話",
        "category": "進捗",
        "summary": "審査の状況を問い合わせ",
        "follow_up": False,
        "contacted_at": "",
        **changes,
    }
    return inquiries.record_inquiry(service, CALL_CENTER, **values)


def test_an_inquiry_outside_the_vocabularies_names_every_bad_field(
    service: IntakeService, uow: FakeUnitOfWork
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        inquiry(service, program_id=None, channel="FAX", category="雑談", summary="  ")
    assert [v.field for v in raised.value.violations] == [
        "program_id",
        "channel",
        "category",
        "summary",
    ]
    assert "電話・窓口・メール・郵便" in raised.value.violations[1].description
    assert uow.opened == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "RFC 3339"),
        ("2025-06-10 10:00", "タイムゾーン"),
        ("2025-06-10T10:00:00", "タイムゾーン"),
    ],
)
def test_a_contact_time_must_be_rfc_3339_with_a_time_zone(
    service: IntakeService, value: str, message: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        inquiry(service, contacted_at=value, channel="FAX")  # the time is checked first
    [violation] = raised.value.violations
    assert violation.field == "contacted_at" and message in violation.description


def test_an_inquiry_is_logged_once_per_request_id_and_listed_with_a_purpose(
    service: IntakeService, uow: FakeUnitOfWork
) -> None:
    logged = inquiry(service, request_id="inq-1", contacted_at="2025-06-10T10:00:00+09:00")
    assert logged.contacted_at == datetime.fromisoformat("2025-06-10T10:00:00+09:00")
    assert (logged.program_id, logged.agent, logged.channel) == (PROGRAM, "cc-1", "電話")
    assert inquiry(service, request_id="inq-1", summary="別の内容") == logged
    assert len(uow.tables.inquiries) == 1
    with pytest.raises(InvalidArgument) as raised:
        inquiries.list_inquiries(
            service, CALL_CENTER, number=None, follow_up_only=False, purpose=" "
        )
    assert [v.field for v in raised.value.violations] == ["purpose"]
    [listed] = inquiries.list_inquiries(
        service, CALL_CENTER, number=None, follow_up_only=False, purpose="折り返し確認"
    )
    assert (listed.inquiry, listed.summary) == (logged, "審査の状況を問い合わせ")
    assert uow.audits[-1][1:3] == ("ListInquiries", "read")
    assert uow.audits[-1][5] == "折り返し確認"


def test_an_inquiry_without_application_needs_a_known_program(service: IntakeService) -> None:
    with pytest.raises(InvalidArgument) as raised:
        inquiry(service, program_id="nowhere-2025")
    assert [v.field for v in raised.value.violations] == ["program_id"]


# a stated purpose for personal data -----------------------------------------------------


@pytest.mark.parametrize("purpose", [None, "", "   "])
def test_unmasking_needs_a_stated_purpose(
    service: IntakeService, uow: FakeUnitOfWork, purpose: str | None
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        lookup.get_application(service, CHECKER, "S2025-000001", unmask=True, purpose=purpose)
    assert [v.field for v in raised.value.violations] == ["purpose"]
    with pytest.raises(InvalidArgument):
        lookup.get_application(service, REVIEW, "S2025-000001", unmask=False, purpose=purpose)
    with pytest.raises(InvalidArgument):
        lookup.search(service, CALL_CENTER, PROGRAM, number="S2025-000001", purpose=purpose)
    assert uow.opened == 0


def test_a_role_that_may_not_unmask_is_refused_whatever_the_purpose(
    service: IntakeService, uow: FakeUnitOfWork
) -> None:
    with pytest.raises(PermissionDenied):
        lookup.get_application(service, CALL_CENTER, "S2025-000001", unmask=True, purpose="確認")
    # nothing is read; the refusal itself is audited (issue 10), naming no field
    assert uow.opened == 1
    _, rpc, action, audited, fields, purpose = uow.audits[-1]
    assert (rpc, action, audited, tuple(fields), purpose) == (
        "GetApplication",
        "unmask_refused",
        "S2025-000001",
        (),
        None,
    )


def test_an_unmasked_read_is_audited_with_its_purpose_and_a_masked_one_is_masked(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    number = submit(service, OPERATOR, PROGRAM, "req-1", application(record)).application_number
    full = lookup.get_application(service, CHECKER, number, unmask=True, purpose=" 本人確認 ")
    assert not full.masked and full.record["bank_account"]["number"] == "1234567"
    _, rpc, action, audited, fields, purpose = uow.audits[-1]
    assert (rpc, action, audited, purpose) == ("GetApplication", "unmask", number, "本人確認")
    assert "account_number" in fields
    masked = lookup.get_application(service, CALL_CENTER, number, unmask=False, purpose=None)
    assert masked.masked and masked.record["applicant"]["birth_date"] == "1980-**-**"
    assert masked.record["bank_account"]["number"] == "****567"
    assert uow.audits[-1][2] == "read"
    for_review = lookup.get_application(service, REVIEW, number, unmask=False, purpose="審査")
    assert for_review.record["applicant"]["birth_date"] == "1980-01-02"
    assert for_review.record["bank_account"]["number"] == "****567"


def test_a_search_needs_a_way_to_find_the_application(service: IntakeService) -> None:
    with pytest.raises(InvalidArgument) as raised:
        lookup.search(service, CALL_CENTER, PROGRAM, purpose="確認")
    assert [v.field for v in raised.value.violations] == ["by"]
    with pytest.raises(InvalidArgument) as raised:
        lookup.search(
            service,
            CALL_CENTER,
            PROGRAM,
            name_kana="シンジュク",
            birth_date="1980/01/02",
            purpose="確認",
        )
    assert [v.field for v in raised.value.violations] == ["kana_and_birth_date.birth_date"]


# corrections: none once decided ---------------------------------------------------------


@pytest.mark.parametrize("status", sorted(DECIDED))
def test_a_decided_status_refuses_corrections(status: str) -> None:
    with pytest.raises(Conflict) as raised:
        refuse_if_decided(status)
    assert "補正できません" in str(raised.value)


@pytest.mark.parametrize(
    "status", ["RECEIVED", "DUPLICATE_SUSPECTED", "UNDER_REVIEW", "CORRECTION_REQUESTED"]
)
def test_an_undecided_status_allows_corrections(status: str) -> None:
    refuse_if_decided(status)


def test_a_correction_of_a_granted_application_is_refused_and_changes_nothing(
    service: IntakeService, uow: FakeUnitOfWork, record: dict[str, Any]
) -> None:
    number = submit(service, OPERATOR, PROGRAM, "req-1", application(record)).application_number
    corrected = application(record, **{"applicant.phone": "03-9999-0000"})
    applied = submit_correction(service, OPERATOR, "corr-1", number, corrected, None, "電話番号")
    assert applied.applied and not applied.replayed
    lookup.report_transition(service, REVIEW, number, "GRANTED", None, "rev-1")
    before = copy.deepcopy(uow.tables)
    with pytest.raises(Conflict):
        submit_correction(service, OPERATOR, "corr-2", number, application(record), None, "")
    assert uow.tables == before
    # a retry of the correction applied before the decision still replays
    again = submit_correction(service, OPERATOR, "corr-1", number, corrected, None, "電話番号")
    assert again.applied and again.replayed
