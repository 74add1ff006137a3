"""What intake's use cases share, and the first of them: submitting one application.

A use case is `(service, caller, command) -> result` (DESIGN.md "Service shape"). It
validates (rules library format; a received date never after the ward's today,
`received_date`), normalises and computes blind indexes (Vault HMAC) before its
transaction, then runs in one transaction of the platform's unit of work
(`service.uow()`, a `Work[IntakeRepository]`): lock the facts it depends on
(`work.lock`, `repo.lock_facts`), check idempotency, store the encrypted application,
flag probable duplicates for a checker (never a silent refusal), note the audit events
(`work.audit`, appended at commit) and the outbox events (`work.publish`), commit.
PostgreSQL or Vault failing anywhere gives `DependencyUnavailable` and nothing is
written (the transaction is rolled back; ciphertext never outlives it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from subsidy_intake import limits
from subsidy_intake.events import publish_received
from subsidy_intake.facts import DUPLICATE_KINDS, EVIDENCE_OF_KIND, application_facts
from subsidy_intake.received_date import check_received_on
from subsidy_intake.records import BANK_FIELDS, CONTACT_FIELDS
from subsidy_intake.repository import (
    Cipher,
    IntakeRepository,
    Match,
    NewApplication,
    StoredApplication,
    blind_indexes,
)
from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import shown
from subsidy_platform.program_phase import PhaseReader
from subsidy_platform.unit_of_work import UnitOfWork, Work
from subsidy_platform.ward_clock import ward_today
from subsidy_rules.application import Application, FormatError, parse_application
from subsidy_rules.program import Program

SERVICE = "intake"
MATCHED_KINDS = frozenset({*DUPLICATE_KINDS, "logo"})
RECEIVED = "RECEIVED"
PERSONAL_FIELDS = CONTACT_FIELDS + BANK_FIELDS  # what an audit event of a whole record names
MAX_PROGRAM_ID = limits.MAX_PROGRAM_ID


@dataclass(frozen=True, slots=True)
class SubmitResult:
    application_number: str
    status: str
    duplicates: tuple[tuple[str, str], ...]  # (other application number, evidence code)
    replayed: bool


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated application with its blind indexes, ready for a transaction."""

    record: dict[str, Any]
    application: Application
    indexes: dict[str, str]
    request_digest: str


@dataclass
class IntakeService:
    """The intake use cases' dependencies: the unit of work, a cipher per program, the
    programs (built once per process by main.py)."""

    uow: UnitOfWork[IntakeRepository]
    cipher_for: Callable[[str], Cipher]
    programs: Mapping[str, Program]
    phases: PhaseReader = field(default_factory=PhaseReader)
    _ciphers: dict[str, Cipher] = field(default_factory=dict)

    # plumbing ---------------------------------------------------------------------------

    def program(self, program_id: str, field: str = "program_id") -> Program:
        """The program intake serves under this id; the message names a short, well-formed id
        only (never a caller's long or odd value)."""
        program = self.programs.get(program_id) if len(program_id) <= MAX_PROGRAM_ID else None
        if program is None:
            shown_id = shown(program_id)
            raise InvalidArgument(
                [FieldViolation(field, f"制度IDが登録されていません: {shown_id}")]
            )
        return program

    def open_program(
        self, program_id: str, field: str = "program_id", *, paper: bool = False
    ) -> Program:
        """The program, when it takes new applications now (subsidy_platform.program_phase;
        `paper`: a paper form, still keyed after the deadline)."""
        program = self.program(program_id, field)
        if not self.phases.accepts_applications(program.id, paper=paper):
            raise Conflict("この制度の申請受付は終了しているか、まだ始まっていません")
        return program

    def cipher(self, program_id: str) -> Cipher:
        cipher = self._ciphers.get(program_id)
        if cipher is None:
            cipher = self._ciphers[program_id] = self.cipher_for(program_id)
        return cipher

    def repo(self, work: Work[IntakeRepository], program_id: str) -> IntakeRepository:
        """The transaction's repository with one program's cipher."""
        return work.repo.with_cipher(self.cipher(program_id))

    # validation -------------------------------------------------------------------------

    def prepare(self, program: Program, records: Sequence[dict[str, Any]]) -> list[Prepared]:
        """Validate records (format v1: every field within its limit; received on a day that
        has come) and compute their blind indexes in Vault batches. The records kept are the
        parsed ones' numbers in ASCII (`with_ascii_numbers`), so that what is stored is what
        the indexes were computed of."""
        applications = []
        for record in records:
            try:
                applications.append(
                    parse_application(
                        {**record, "application_id": record.get("application_id") or "(new)"}
                    )
                )
            except FormatError as error:
                raise InvalidArgument([FieldViolation(error.field, error.message)]) from None
        today = ward_today()
        for application in applications:
            check_received_on(application.received_on, today)
        records = [with_ascii_numbers(r, a) for r, a in zip(records, applications, strict=True)]
        facts_per_app = [application_facts(program, a) for a in applications]
        flat = [fact for facts in facts_per_app for fact in facts]
        requests = [("request", canonical(r)) for r in records]
        digests = blind_indexes(self.cipher(program.id), flat + requests)
        prepared, position = [], 0
        for n, (record, application, facts) in enumerate(
            zip(records, applications, facts_per_app, strict=True)
        ):
            indexes = {kind: digests[position + i] for i, (kind, _) in enumerate(facts)}
            position += len(facts)
            prepared.append(Prepared(record, application, indexes, digests[len(flat) + n]))
        return prepared


# submit -------------------------------------------------------------------------------


def submit(
    service: IntakeService,
    who: Principal,
    program_id: str,
    request_id: str | None,
    record: dict[str, Any],
    *,
    rpc: str = "SubmitApplication",
) -> SubmitResult:
    """Store one application (or replay the first result for its request id)."""
    request_id = limits.request_id(request_id or "", required=False)
    program = service.open_program(program_id)
    [item] = service.prepare(program, [record])
    with service.uow() as work:
        return store(service, work, who, program, request_id, item, rpc)


def store(
    service: IntakeService,
    work: Work[IntakeRepository],
    who: Principal,
    program: Program,
    request_id: str | None,
    item: Prepared,
    rpc: str,
) -> SubmitResult:
    """Store one prepared application inside the caller's transaction (or replay)."""
    repo = service.repo(work, program.id)
    lock_program(work, program.id, shared=True)
    repo.lock_facts(program.id, [item.request_digest, *item.indexes.values()])
    stored = repo.matches(
        program.id, [(k, d) for k, d in item.indexes.items() if k in MATCHED_KINDS]
    )
    replay = replayed(repo, program.id, request_id, item.request_digest, stored)
    if replay is not None:
        return replay
    duplicates = [
        (m.kind, m.application_number, m.application_id)
        for m in stored
        if m.kind in DUPLICATE_KINDS
    ]
    [number] = repo.allocate_numbers(program.application_number_prefix, 1)
    [application] = repo.add_all(
        [new_application(program, number, request_id, item)], RECEIVED, who.subject
    )
    repo.add_flags(
        (application.id, other_id, str(EVIDENCE_OF_KIND[kind])) for kind, _, other_id in duplicates
    )
    work.audit(who, rpc, "create", application=number, fields=PERSONAL_FIELDS)
    flags = tuple(sorted({(n, str(EVIDENCE_OF_KIND[k])) for k, n, _ in duplicates}))
    publish_received(work, [application], {application.id: flags})
    return SubmitResult(number, RECEIVED, flags, replayed=False)


def replayed(
    repo: IntakeRepository,
    program_id: str,
    request_id: str | None,
    request_digest: str,
    stored: Sequence[Match],
) -> SubmitResult | None:
    """The first result again for a request id (or LoGo answer) already stored.

    The same request id with another request digest (other content) is `Conflict`; an
    application with the same LoGo answer id is the same answer sent again.
    """
    existing = repo.by_request(program_id, request_id) if request_id else None
    if existing is not None and existing.request_digest != request_digest:
        raise Conflict("同じリクエストIDで異なる内容の申請が送信されました")
    same_answer = [m.application_number for m in stored if m.kind == "logo"]
    if existing is None and same_answer:
        existing = repo.by_number(same_answer[0])
    if existing is None:
        return None
    return _result_of(repo, existing)


def _result_of(repo: IntakeRepository, existing: StoredApplication) -> SubmitResult:
    flags = tuple(sorted({(n, e) for n, e in repo.flags_of(existing.id)}))
    return SubmitResult(existing.application_number, existing.status, flags, replayed=True)


def new_application(
    program: Program, number: str, request_id: str | None, item: Prepared
) -> NewApplication:
    """What the repository stores for a prepared application under its new number."""
    return NewApplication(
        application_number=number,
        program_id=program.id,
        request_id=request_id,
        request_digest=item.request_digest,
        record=item.record,
        indexes=item.indexes,
    )


def lock_program(work: Work[IntakeRepository], program_id: str, *, shared: bool) -> None:
    """Submissions share the program lock; a file import holds it alone."""
    work.lock(f"program:{program_id}", shared=shared)


def with_ascii_numbers(record: dict[str, Any], application: Application) -> dict[str, Any]:
    """The record with its bank and branch codes, account number and LoGo answer id as the
    parser read them (full-width digits folded to ASCII; other digits were refused)."""
    out = dict(record)
    bank = application.bank_account
    if bank is not None and isinstance(record.get("bank_account"), dict):
        out["bank_account"] = {
            **record["bank_account"],
            "bank_code": bank.bank_code,
            "branch_code": bank.branch_code,
            "number": bank.number,
        }
    if application.logo_answer_id is not None:
        out["logo_answer_id"] = application.logo_answer_id
    return out


def canonical(record: dict[str, Any]) -> str:
    """A canonical JSON text of a record (for the request fingerprint)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
