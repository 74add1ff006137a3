"""Intake use cases: submit, import, verification keying, look-up, timeline, inquiries.

Each use case is one database transaction: validate (rules library format), normalise,
compute blind indexes (Vault HMAC), then inside the transaction lock the facts it
depends on, check idempotency, store the encrypted application, flag probable
duplicates for a checker (never a silent refusal), write the audit record, commit.
PostgreSQL or Vault failing anywhere gives `DependencyUnavailable` and nothing is
written (the transaction is rolled back; ciphertext never outlives it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from subsidy_intake.events import PUBLISHED, publish_received
from subsidy_intake.facts import DUPLICATE_KINDS, EVIDENCE_OF_KIND, application_facts
from subsidy_intake.records import BANK_FIELDS, CONTACT_FIELDS
from subsidy_intake.repository import Cipher, IntakeRepository, NewApplication, blind_indexes
from subsidy_platform.access import Principal
from subsidy_platform.audit import AuditEvent
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.outbox import OutboxRelay
from subsidy_platform.unit_of_work import UnitOfWork, named_lock
from subsidy_rules.application import Application, FormatError, parse_application
from subsidy_rules.program import Program

SERVICE = "intake"
MATCHED_KINDS = frozenset({*DUPLICATE_KINDS, "logo"})
PENDING_AUDIT = "pending_audit_events"
RECEIVED = "RECEIVED"
PERSONAL_FIELDS = CONTACT_FIELDS + BANK_FIELDS  # what an audit event of a whole record names


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
    """The intake use cases over a session factory, a cipher per program and the programs."""

    sessions: sessionmaker[Session]
    cipher_for: Callable[[str], Cipher]
    programs: Mapping[str, Program]
    relay: OutboxRelay | None = None
    _ciphers: dict[str, Cipher] = field(default_factory=dict)
    _uow: UnitOfWork[Session] | None = None

    # plumbing ---------------------------------------------------------------------------

    def program(self, program_id: str) -> Program:
        program = self.programs.get(program_id)
        if program is None:
            raise InvalidArgument(
                [FieldViolation("program_id", f"制度IDが登録されていません: {program_id}")]
            )
        return program

    def cipher(self, program_id: str) -> Cipher:
        cipher = self._ciphers.get(program_id)
        if cipher is None:
            cipher = self._ciphers[program_id] = self.cipher_for(program_id)
        return cipher

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction of the platform's unit of work (subsidy_platform.unit_of_work).

        Database failures become DependencyUnavailable (UNAVAILABLE); audit events noted
        during the transaction are appended to the audit chain as its last statements; a
        commit that wrote outbox events wakes the relay.
        """
        if self._uow is None:
            self._uow = UnitOfWork(self.sessions, SERVICE, lambda session: session)
            if self.relay is not None:
                self._uow.on_commit.append(self.relay.wake)
        with self._uow() as work:
            yield work.session
            work.pending_audit.extend(work.session.info.pop(PENDING_AUDIT, []))
            work.published += work.session.info.pop(PUBLISHED, 0)

    def audit(
        self,
        session: Session,
        who: Principal,
        rpc: str,
        action: str,
        *,
        application: str | None,
        fields: Sequence[str],
        purpose: str | None = None,
    ) -> None:
        """Note an access to personal data; written to the audit chain at commit."""
        session.info.setdefault(PENDING_AUDIT, []).append(
            AuditEvent(
                actor=who.subject,
                role=who.role,
                service=SERVICE,
                rpc=rpc,
                action=action,
                application_id=application,
                fields=tuple(fields),
                purpose=purpose,
            ),
        )

    # validation -------------------------------------------------------------------------

    def prepare(self, program: Program, records: Sequence[dict[str, Any]]) -> list[Prepared]:
        """Validate records (format v1) and compute their blind indexes in Vault batches."""
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

    # submit -----------------------------------------------------------------------------

    def submit(
        self,
        who: Principal,
        program_id: str,
        request_id: str | None,
        record: dict[str, Any],
        *,
        rpc: str = "SubmitApplication",
    ) -> SubmitResult:
        program = self.program(program_id)
        if request_id is not None and not request_id.strip():
            raise InvalidArgument([FieldViolation("request_id", "リクエストIDが空です")])
        [item] = self.prepare(program, [record])
        with self.transaction() as session:
            return self.store(session, who, program, request_id, item, rpc)

    def store(
        self,
        session: Session,
        who: Principal,
        program: Program,
        request_id: str | None,
        item: Prepared,
        rpc: str,
    ) -> SubmitResult:
        """Store one prepared application inside the caller's transaction (or replay)."""
        repo = IntakeRepository(session, self.cipher(program.id))
        lock_program(session, program.id, shared=True)
        repo.lock_facts(program.id, [item.request_digest, *item.indexes.values()])
        stored = repo.matches(
            program.id, [(k, d) for k, d in item.indexes.items() if k in MATCHED_KINDS]
        )
        replay = self._replay(repo, program.id, request_id, item, stored)
        if replay is not None:
            return replay
        duplicates = [
            (kind, number, other_id)
            for kind, _, other_id, number in stored
            if kind in DUPLICATE_KINDS
        ]
        [number] = repo.allocate_numbers(program.application_number_prefix, 1)
        [row] = repo.add_all(
            [new_application(program, number, request_id, item)], RECEIVED, who.subject
        )
        repo.add_flags(
            (row.id, other_id, str(EVIDENCE_OF_KIND[kind])) for kind, _, other_id in duplicates
        )
        self.audit(session, who, rpc, "create", application=number, fields=PERSONAL_FIELDS)
        flags = tuple(sorted({(n, str(EVIDENCE_OF_KIND[k])) for k, n, _ in duplicates}))
        publish_received(session, [row], {row.id: flags})
        return SubmitResult(number, RECEIVED, flags, replayed=False)

    def _replay(
        self,
        repo: IntakeRepository,
        program_id: str,
        request_id: str | None,
        item: Prepared,
        stored: list[tuple[str, str, int, str]],
    ) -> SubmitResult | None:
        """The first result again for a request id (or LoGo answer) already stored."""
        existing = repo.by_request(program_id, request_id) if request_id else None
        if existing is not None and existing.request_digest != item.request_digest:
            raise Conflict("同じリクエストIDで異なる内容の申請が送信されました")
        same_answer = [number for kind, _, _, number in stored if kind == "logo"]
        if existing is None and same_answer:
            existing = repo.by_number(same_answer[0])
        if existing is None:
            return None
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
        external_ref=item.record.get("application_id") or None,
        record=item.record,
        indexes=item.indexes,
    )


def lock_program(session: Session, program_id: str, *, shared: bool) -> None:
    """Submissions share the program lock; a file import holds it alone."""
    named_lock(session, f"program:{program_id}", shared=shared)


def canonical(record: dict[str, Any]) -> str:
    """A canonical JSON text of a record (for the request fingerprint)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
