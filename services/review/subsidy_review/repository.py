"""Review's persistence: every SQL statement of the service, and nothing else.

Rows leave as frozen dataclasses (`Case`, `Flag`, `Correction`, `Handover`), never as
database rows. Free texts staff write about an applicant (correction items, reasons for a
clear or a reduction, notes) are encrypted at this edge with the program's contact key;
the repository is given the cipher of the program it works on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import NotFound
from subsidy_platform.limits import shown

MAX_NUMBER = 32  # application numbers are at most 32 characters (review.cases)
CASE_COLUMNS = (
    "application_number, program_id, received_on, channel, state, claimed_by, "
    "claim_expires_at, checked_on, checked_by, confirmed_items, attachments_complete, "
    "rules_amount, proposal_granted, proposal_reasons, pending_amount, pending_by, handover_id"
)


class Cipher(Protocol):
    def encrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]: ...
    def decrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]: ...


@dataclass(frozen=True, slots=True)
class Case:
    application_number: str
    program_id: str
    received_on: date
    channel: str
    state: str
    claimed_by: str | None
    claim_expires_at: datetime | None
    checked_on: date | None
    checked_by: str | None
    confirmed_items: tuple[str, ...]
    attachments_complete: bool
    rules_amount: int
    proposal_granted: bool
    proposal_reasons: tuple[str, ...]
    pending_amount: int | None
    pending_by: str | None
    handover_id: str | None


@dataclass(frozen=True, slots=True)
class Flag:
    first: str
    second: str
    evidence: str
    open: bool
    resolution: str | None


@dataclass(frozen=True, slots=True)
class Correction:
    requested_on: date
    deadline: date
    items: tuple[tuple[str, str], ...]
    requested_by: str
    corrected_on: date | None
    expired: bool


@dataclass(frozen=True, slots=True)
class Decision:
    application_number: str
    granted: bool
    amount: int
    reasons: tuple[str, ...]
    decided_on: date
    decided_by: str
    approved_by: str | None
    decision_number: str


@dataclass(frozen=True, slots=True)
class GrantedDecisionRow:
    """A granted decision as reconciliation reads it: the case's state now, and where the
    decision's event to payments is in the outbox (missing, pending, delivered, parked)."""

    application_number: str
    amount: int
    decision_number: str
    decided_on: date
    case_state: str
    delivery: str


@dataclass(frozen=True, slots=True)
class Clearing:
    """A request to clear strong duplicate evidence, waiting for (or given) a second person."""

    clearing_id: str
    program_id: str
    numbers: tuple[str, ...]
    evidence: tuple[str, ...]
    state: str
    requested_by: str
    requested_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    application_number: str
    program_id: str
    revocation_number: str
    case_id: str
    members: tuple[str, ...]
    decision_number: str
    amount: int
    revoked_on: date
    revoked_by: str


@dataclass(frozen=True, slots=True)
class Handover:
    handover_id: str
    at: datetime
    program_id: str
    direction: str
    handler: str
    role: str
    content: str
    records: int
    file_name: str
    sha256: str


def _case(row: Any) -> Case:
    return Case(
        row.application_number,
        row.program_id,
        row.received_on,
        row.channel,
        row.state,
        row.claimed_by,
        row.claim_expires_at,
        row.checked_on,
        row.checked_by,
        tuple(row.confirmed_items or ()),
        bool(row.attachments_complete),
        int(row.rules_amount),
        bool(row.proposal_granted),
        tuple(row.proposal_reasons or ()),
        None if row.pending_amount is None else int(row.pending_amount),
        row.pending_by,
        None if row.handover_id is None else str(row.handover_id),
    )


class ReviewRepository:
    """SQL over one transaction; `cipher` encrypts staff-written texts about applicants."""

    def __init__(self, session: Session, cipher: Cipher | None = None) -> None:
        self.session = session
        self._cipher = cipher

    def with_cipher(self, cipher: Cipher) -> ReviewRepository:
        return ReviewRepository(self.session, cipher)

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            raise RuntimeError("this repository was opened without a cipher")
        return self._cipher

    def _x(self, sql: str, **params: Any) -> Any:
        return self.session.execute(text(sql), params)

    # events and commands ------------------------------------------------------------

    def first_time(self, key: str, program_id: str) -> bool:
        """Record an event key (under its program: erased with it); False when it was
        processed before (apply at most once)."""
        result = self._x(
            "INSERT INTO review.processed_events (key, program_id) VALUES (:k, :p) "
            "ON CONFLICT DO NOTHING",
            k=key,
            p=program_id,
        )
        return bool(result.rowcount)

    def command_seen(
        self,
        request_id: str,
        rpc: str,
        number: str | None,
        actor: str,
        *,
        program_id: str | None = None,
    ) -> bool:
        """Record a command's request id; True when that request was already applied.

        The command is recorded under `program_id`, else its application's program (erased
        with it). A number longer than any application number is NotFound (nothing
        recorded)."""
        if number is not None and len(number) > MAX_NUMBER:
            raise NotFound("申請", shown(number))
        if program_id is None and number is not None:
            program_id = self._x(
                "SELECT program_id FROM review.cases WHERE application_number = :n", n=number
            ).scalar_one_or_none()
        result = self._x(
            "INSERT INTO review.commands (request_id, rpc, application_number, actor, "
            "program_id) VALUES (:r, :rpc, :n, :a, :p) ON CONFLICT DO NOTHING",
            r=request_id,
            rpc=rpc,
            n=number,
            a=actor,
            p=program_id,
        )
        return not result.rowcount

    # cases --------------------------------------------------------------------------

    def add_case(
        self, number: str, program_id: str, received_on: date, channel: str, state: str
    ) -> None:
        self._x(
            "INSERT INTO review.cases (application_number, program_id, received_on, channel, "
            "state) VALUES (:n, :p, :r, :c, :s) ON CONFLICT (application_number) DO NOTHING",
            n=number,
            p=program_id,
            r=received_on,
            c=channel,
            s=state,
        )

    def case(self, number: str, *, for_update: bool = False) -> Case:
        """The case of `number`; NotFound (repeating the number only when it is short and
        well formed) when review has none."""
        if len(number) > MAX_NUMBER:
            raise NotFound("申請", shown(number))
        lock = " FOR UPDATE" if for_update else ""
        row = self._x(
            f"SELECT {CASE_COLUMNS} FROM review.cases WHERE application_number = :n{lock}",
            n=number,
        ).first()
        if row is None:
            raise NotFound("申請", shown(number))
        return _case(row)

    def cases(self, numbers: Iterable[str], *, for_update: bool = False) -> list[Case]:
        wanted = sorted(set(numbers))
        if not wanted:
            return []
        lock = " FOR UPDATE" if for_update else ""
        rows = self._x(
            f"SELECT {CASE_COLUMNS} FROM review.cases "
            f"WHERE application_number = ANY(:ns) ORDER BY application_number{lock}",
            ns=wanted,
        )
        return [_case(r) for r in rows]

    def update_case(self, number: str, **values: Any) -> None:
        allowed = set(CASE_COLUMNS.replace(" ", "").split(",")) | {
            "pending_reduction_ct",
            "duplicate_of",
        }
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown case columns: {sorted(unknown)}")
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        self._x(
            f"UPDATE review.cases SET {assignments}, updated_at = now() "
            "WHERE application_number = :number",
            number=number,
            **values,
        )

    def note_attachments(self, number: str, complete: bool) -> None:
        """What a checker found of the attachments (intake's checklist) and when."""
        self._x(
            "UPDATE review.cases SET attachments_complete = :c, attachments_seen_at = now() "
            "WHERE application_number = :n",
            c=complete,
            n=number,
        )

    def worklist(
        self,
        program_id: str,
        states: Sequence[str],
        *,
        attachments_missing: bool | None,
        after: tuple[date, str] | None,
        limit: int,
    ) -> tuple[list[Case], int]:
        where = "program_id = :p AND state = ANY(:s)"
        params: dict[str, Any] = {"p": program_id, "s": list(states)}
        if attachments_missing:  # seen by a checker and found incomplete
            where += " AND attachments_seen_at IS NOT NULL AND NOT attachments_complete"
        total = int(self._x(f"SELECT count(*) FROM review.cases WHERE {where}", **params).scalar())
        page_where = where
        if after is not None:
            page_where += " AND (received_on, application_number) > (:after_on, :after_n)"
            params.update(after_on=after[0], after_n=after[1])
        rows = self._x(
            f"SELECT {CASE_COLUMNS} FROM review.cases WHERE {page_where} "
            "ORDER BY received_on, application_number LIMIT :limit",
            limit=limit,
            **params,
        )
        return [_case(r) for r in rows], total

    def numbers_in_state(self, program_id: str, state: str, limit: int | None = None) -> list[str]:
        sql = (
            "SELECT application_number FROM review.cases WHERE program_id = :p AND state = :s "
            "ORDER BY received_on, application_number"
        )
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [str(n) for (n,) in self._x(sql, p=program_id, s=state)]

    # duplicate flags ----------------------------------------------------------------

    def add_flag(self, program_id: str, a: str, b: str, evidence: str) -> bool:
        first, second = sorted((a, b))
        result = self._x(
            "INSERT INTO review.duplicate_flags (program_id, first_number, second_number, "
            "evidence) VALUES (:p, :a, :b, :e) ON CONFLICT DO NOTHING",
            p=program_id,
            a=first,
            b=second,
            e=evidence,
        )
        return bool(result.rowcount)

    def flags_touching(self, numbers: Iterable[str]) -> list[Flag]:
        wanted = sorted(set(numbers))
        rows = self._x(
            "SELECT first_number, second_number, evidence, open, resolution "
            "FROM review.duplicate_flags WHERE first_number = ANY(:ns) OR second_number = ANY(:ns) "
            "ORDER BY first_number, second_number, evidence",
            ns=wanted,
        )
        return [Flag(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def open_flag_count(self, number: str) -> int:
        return int(
            self._x(
                "SELECT count(*) FROM review.duplicate_flags WHERE open "
                "AND (first_number = :n OR second_number = :n)",
                n=number,
            ).scalar()
        )

    def close_flags(
        self, program_id: str, numbers: Iterable[str], resolution: str, by: str, reason: str | None
    ) -> int:
        wanted = sorted(set(numbers))
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [reason]) if reason else [None]
        result = self._x(
            "UPDATE review.duplicate_flags SET open = false, resolution = :r, resolved_by = :by, "
            "resolution_reason_ct = :ct, resolved_at = now() WHERE open AND program_id = :p "
            "AND (first_number = ANY(:ns) OR second_number = ANY(:ns))",
            r=resolution,
            by=by,
            ct=sealed,
            p=program_id,
            ns=wanted,
        )
        return int(result.rowcount)

    # corrections --------------------------------------------------------------------

    def add_correction(
        self,
        program_id: str,
        number: str,
        requested_on: date,
        deadline: date,
        items: Sequence[tuple[str, str]],
        by: str,
    ) -> str:
        """Store the request with its items sealed; the ciphertext (the event carries it)."""
        payload = json.dumps([list(i) for i in items], ensure_ascii=False)
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [payload])
        assert sealed is not None
        self._x(
            "INSERT INTO review.corrections (program_id, application_number, requested_on, "
            "deadline, items_ct, requested_by) VALUES (:p, :n, :on, :d, :ct, :by)",
            p=program_id,
            n=number,
            on=requested_on,
            d=deadline,
            ct=sealed,
            by=by,
        )
        return sealed

    def corrections(self, number: str) -> list[Correction]:
        return self.corrections_of([number]).get(number, [])

    def corrections_of(self, numbers: Iterable[str]) -> dict[str, list[Correction]]:
        """Correction requests of several applications: one query, one Vault batch."""
        rows = list(
            self._x(
                "SELECT application_number, requested_on, deadline, items_ct, requested_by, "
                "corrected_on, expired FROM review.corrections "
                "WHERE application_number = ANY(:ns) ORDER BY id",
                ns=sorted(set(numbers)),
            )
        )
        if not rows:
            return {}
        plain = self.cipher.decrypt(DataClass.CONTACT, [r.items_ct for r in rows])
        found: dict[str, list[Correction]] = {}
        for r, items in zip(rows, plain, strict=True):
            found.setdefault(r.application_number, []).append(
                Correction(
                    r.requested_on,
                    r.deadline,
                    tuple((str(f), str(p)) for f, p in json.loads(items or "[]")),
                    r.requested_by,
                    r.corrected_on,
                    bool(r.expired),
                )
            )
        return found

    def close_correction(self, number: str, *, corrected_on: date | None, expired: bool) -> None:
        self._x(
            "UPDATE review.corrections SET corrected_on = :c, expired = :e "
            "WHERE application_number = :n AND corrected_on IS NULL AND NOT expired",
            c=corrected_on,
            e=expired,
            n=number,
        )

    def extend_correction(self, number: str, deadline: date) -> None:
        self._x(
            "UPDATE review.corrections SET deadline = :d WHERE application_number = :n "
            "AND corrected_on IS NULL AND NOT expired",
            d=deadline,
            n=number,
        )

    def open_deadline(self, number: str) -> date | None:
        """The deadline of the application's outstanding correction request, if any."""
        found: date | None = self._x(
            "SELECT deadline FROM review.corrections WHERE application_number = :n "
            "AND corrected_on IS NULL AND NOT expired ORDER BY id DESC LIMIT 1",
            n=number,
        ).scalar()
        return found

    def overdue(self, program_id: str, as_of: date) -> list[str]:
        rows = self._x(
            "SELECT c.application_number FROM review.corrections c JOIN review.cases k "
            "ON k.application_number = c.application_number WHERE c.program_id = :p "
            "AND k.state = 'AWAITING_CORRECTION' AND c.corrected_on IS NULL AND NOT c.expired "
            "AND c.deadline < :d ORDER BY c.application_number",
            p=program_id,
            d=as_of,
        )
        return [str(n) for (n,) in rows]

    # decisions ----------------------------------------------------------------------

    def next_decision_number(self, prefix: str) -> str:
        value = int(self._x("SELECT nextval('review.decision_number_seq')").scalar())
        return f"{prefix}-{value:06d}"

    def add_decision(
        self,
        case: Case,
        *,
        granted: bool,
        amount: int,
        reasons: Sequence[str],
        decided_on: date,
        decided_by: str,
        approved_by: str | None,
        reduction_reason: str | None,
        note: str | None,
        decision_number: str,
    ) -> None:
        sealed = self.cipher.encrypt(DataClass.CONTACT, [reduction_reason or None, note or None])
        self._x(
            "INSERT INTO review.decisions (application_number, program_id, granted, amount, "
            "reasons, decided_on, decided_by, approved_by, reduction_reason_ct, note_ct, "
            "handover_id, decision_number) VALUES (:n, :p, :g, :a, :r, :on, :by, :ap, :rr, "
            ":note, :h, :dn)",
            n=case.application_number,
            p=case.program_id,
            g=granted,
            a=amount,
            r=list(reasons),
            on=decided_on,
            by=decided_by,
            ap=approved_by,
            rr=sealed[0],
            note=sealed[1],
            h=case.handover_id,
            dn=decision_number,
        )

    def decision(self, number: str) -> Decision | None:
        row = self._x(
            "SELECT application_number, granted, amount, reasons, decided_on, decided_by, "
            "approved_by, decision_number FROM review.decisions WHERE application_number = :n",
            n=number,
        ).first()
        if row is None:
            return None
        return Decision(
            row[0], bool(row[1]), int(row[2]), tuple(row[3] or ()), row[4], row[5], row[6], row[7]
        )

    def pending_reduction(self, number: str) -> str | None:
        sealed = self._x(
            "SELECT pending_reduction_ct FROM review.cases WHERE application_number = :n", n=number
        ).scalar()
        if sealed is None:
            return None
        [plain] = self.cipher.decrypt(DataClass.CONTACT, [sealed])
        return plain

    def seal_text(self, value: str | None) -> str | None:
        if not value:
            return None
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [value])
        return sealed

    # handover ledger ----------------------------------------------------------------

    def add_handover(
        self,
        *,
        program_id: str,
        direction: str,
        handler: str,
        role: str,
        content: str,
        records: int,
        file_name: str,
        sha256: str,
        items: Sequence[tuple[str, int]] = (),
    ) -> str:
        handover_id = str(uuid.uuid4())
        self._x(
            "INSERT INTO review.handovers (id, program_id, direction, handler, role, content, "
            "records, file_name, sha256) VALUES (:id, :p, :d, :h, :r, :c, :n, :f, :s)",
            id=handover_id,
            p=program_id,
            d=direction,
            h=handler,
            r=role,
            c=content,
            n=records,
            f=file_name,
            s=sha256,
        )
        if items:
            self.session.execute(
                text(
                    "INSERT INTO review.handover_items (handover_id, application_number, "
                    "rules_amount) VALUES (:h, :n, :a)"
                ),
                [{"h": handover_id, "n": n, "a": a} for n, a in items],
            )
        return handover_id

    def handover_items(self, program_id: str) -> dict[str, tuple[int, str]]:
        """Applications with the ward now: number -> (rules amount, handover id)."""
        rows = self._x(
            "SELECT i.application_number, i.rules_amount, i.handover_id FROM review.handover_items i "
            "JOIN review.cases c ON c.application_number = i.application_number "
            "AND c.handover_id = i.handover_id WHERE c.program_id = :p AND c.state = 'HANDED_OVER'",
            p=program_id,
        )
        return {str(n): (int(a), str(h)) for n, a, h in rows}

    def handovers(self, program_id: str) -> list[Handover]:
        rows = self._x(
            "SELECT id, at, program_id, direction, handler, role, content, records, file_name, "
            "sha256 FROM review.handovers WHERE program_id = :p ORDER BY at, id",
            p=program_id,
        )
        return [Handover(str(r[0]), *r[1:]) for r in rows]

    def sealed_file_seen(self, program_id: str, sha256: str, direction: str) -> bool:
        return (
            self._x(
                "SELECT 1 FROM review.handovers WHERE program_id = :p AND sha256 = :s "
                "AND direction = :d",
                p=program_id,
                s=sha256,
                d=direction,
            ).first()
            is not None
        )

    # reconciliation -----------------------------------------------------------------

    def granted_decisions(
        self, program_id: str, after: str, limit: int, event_key_prefix: str
    ) -> list[GrantedDecisionRow]:
        """A page of the program's granted decisions by application number (keyset paging
        after `after`), each with its case's state and its event to payments (the outbox row
        keyed `<event_key_prefix><application number>`)."""
        rows = self._x(
            "SELECT d.application_number, d.amount, d.decision_number, d.decided_on, c.state, "
            "CASE WHEN o.id IS NULL THEN 'MISSING' WHEN o.delivered_at IS NOT NULL THEN "
            "'DELIVERED' WHEN o.parked_at IS NOT NULL THEN 'PARKED' ELSE 'PENDING' END "
            "FROM review.decisions d JOIN review.cases c "
            "ON c.application_number = d.application_number "
            "LEFT JOIN review.outbox o ON o.destination = 'payments' "
            "AND o.key = :k || d.application_number "
            "WHERE d.program_id = :p AND d.granted AND d.application_number > :a "
            "ORDER BY d.application_number LIMIT :l",
            p=program_id,
            a=after,
            l=limit,
            k=event_key_prefix,
        )
        return [
            GrantedDecisionRow(str(r[0]), int(r[1]), str(r[2]), r[3], str(r[4]), str(r[5]))
            for r in rows
        ]

    def parked_to_payments(self, limit: int) -> list[tuple[str, bytes]]:
        """(topic, payload) of the events to payments parked in review's outbox (refused for
        good), at most `limit`, oldest first."""
        rows = self._x(
            "SELECT topic, payload FROM review.outbox WHERE destination = 'payments' "
            "AND parked_at IS NOT NULL AND delivered_at IS NULL ORDER BY id LIMIT :l",
            l=limit,
        )
        return [(str(r[0]), bytes(r[1])) for r in rows]

    # households: duplicate_of, clearings, revocations ---------------------------------------

    def second_grant(self, number: str) -> tuple[str | None, str | None]:
        """(the member its group kept instead of `number`, another granted member of its
        household): one recursive query over the flags not cleared."""
        row = self._x(
            """
            WITH RECURSIVE members(n) AS (
                SELECT CAST(:n AS varchar)
                UNION
                SELECT CASE WHEN f.first_number = m.n THEN f.second_number
                            ELSE f.first_number END
                  FROM review.duplicate_flags f
                  JOIN members m ON f.first_number = m.n OR f.second_number = m.n
                 WHERE f.open OR f.resolution IS DISTINCT FROM 'cleared'
            )
            SELECT (SELECT duplicate_of FROM review.cases WHERE application_number = :n),
                   (SELECT min(c.application_number) FROM review.cases c
                      JOIN members m ON m.n = c.application_number
                     WHERE c.state = 'GRANTED' AND c.application_number <> :n)
            """,
            n=number,
        ).one()
        return (
            None if row[0] is None else str(row[0]),
            None if row[1] is None else str(row[1]),
        )

    def household_flags(self, program_id: str) -> list[Flag]:
        """Every flag of the program not cleared as "not one household" (open or kept)."""
        rows = self._x(
            "SELECT first_number, second_number, evidence, open, resolution "
            "FROM review.duplicate_flags WHERE program_id = :p "
            "AND (open OR resolution IS DISTINCT FROM 'cleared') "
            "ORDER BY first_number, second_number, evidence",
            p=program_id,
        )
        return [Flag(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def granted_numbers(self, program_id: str) -> set[str]:
        rows = self._x(
            "SELECT application_number FROM review.cases WHERE program_id = :p "
            "AND state = 'GRANTED'",
            p=program_id,
        )
        return {str(n) for (n,) in rows}

    def close_flags_within(
        self, program_id: str, numbers: Iterable[str], resolution: str, by: str, reason: str
    ) -> int:
        """Close the open flags between members of `numbers` (both ends inside)."""
        wanted = sorted(set(numbers))
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [reason])
        result = self._x(
            "UPDATE review.duplicate_flags SET open = false, resolution = :r, resolved_by = :by, "
            "resolution_reason_ct = :ct, resolved_at = now() WHERE open AND program_id = :p "
            "AND first_number = ANY(:ns) AND second_number = ANY(:ns)",
            r=resolution,
            by=by,
            ct=sealed,
            p=program_id,
            ns=wanted,
        )
        return int(result.rowcount)

    def add_clearing(
        self,
        program_id: str,
        numbers: Sequence[str],
        evidence: Sequence[str],
        requested_by: str,
        reason: str,
    ) -> str | None:
        """A pending clearing; None when the group has one pending already."""
        clearing_id = str(uuid.uuid4())
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [reason])
        row = self._x(
            "INSERT INTO review.clearings (clearing_id, program_id, group_key, numbers, evidence, "
            "requested_by, reason_ct) VALUES (:i, :p, :k, :ns, :e, :by, :ct) "
            "ON CONFLICT (group_key) WHERE state = 'PENDING' DO NOTHING RETURNING clearing_id",
            i=clearing_id,
            p=program_id,
            k=",".join(sorted(numbers)),
            ns=sorted(numbers),
            e=sorted(set(evidence)),
            by=requested_by,
            ct=sealed,
        ).first()
        return None if row is None else str(row[0])

    def pending_clearing_of(self, numbers: Iterable[str]) -> str | None:
        row = self._x(
            "SELECT clearing_id FROM review.clearings WHERE state = 'PENDING' "
            "AND numbers && CAST(:ns AS text[]) ORDER BY id LIMIT 1",
            ns=sorted(set(numbers)),
        ).first()
        return None if row is None else str(row[0])

    def _clearings(self, rows: list[Any]) -> list[Clearing]:
        if not rows:
            return []
        plain = self.cipher.decrypt(DataClass.CONTACT, [r.reason_ct for r in rows])
        return [
            Clearing(
                str(r.clearing_id),
                r.program_id,
                tuple(r.numbers),
                tuple(r.evidence),
                r.state,
                r.requested_by,
                r.requested_at,
                reason or "",
            )
            for r, reason in zip(rows, plain, strict=True)
        ]

    def clearing(self, clearing_id: str, *, for_update: bool = False) -> Clearing:
        try:
            uuid.UUID(clearing_id)
        except ValueError:
            raise NotFound("重複の解除", shown(clearing_id)) from None
        rows = list(
            self._x(
                "SELECT clearing_id, program_id, numbers, evidence, state, requested_by, "
                "requested_at, reason_ct FROM review.clearings WHERE clearing_id = :i"
                + (" FOR UPDATE" if for_update else ""),
                i=clearing_id,
            )
        )
        if not rows:
            raise NotFound("重複の解除", shown(clearing_id))
        return self._clearings(rows)[0]

    def clearing_program(self, clearing_id: str) -> str:
        try:
            uuid.UUID(clearing_id)
        except ValueError:
            raise NotFound("重複の解除", shown(clearing_id)) from None
        value = self._x(
            "SELECT program_id FROM review.clearings WHERE clearing_id = :i", i=clearing_id
        ).scalar()
        if value is None:
            raise NotFound("重複の解除", shown(clearing_id))
        return str(value)

    def pending_clearings(self, program_id: str) -> list[Clearing]:
        rows = list(
            self._x(
                "SELECT clearing_id, program_id, numbers, evidence, state, requested_by, "
                "requested_at, reason_ct FROM review.clearings WHERE program_id = :p "
                "AND state = 'PENDING' ORDER BY id",
                p=program_id,
            )
        )
        return self._clearings(rows)

    def decide_clearing(self, clearing_id: str, state: str, by: str, note: str | None) -> None:
        sealed = self.seal_text(note)
        self._x(
            "UPDATE review.clearings SET state = :s, decided_by = :by, decided_at = now(), "
            "note_ct = :ct WHERE clearing_id = :i AND state = 'PENDING'",
            s=state,
            by=by,
            ct=sealed,
            i=clearing_id,
        )

    def next_revocation_number(self, prefix: str) -> str:
        value = int(self._x("SELECT nextval('review.revocation_number_seq')").scalar())
        return f"{prefix}-{value:06d}"

    def add_revocation(self, record: RevocationRecord, reason: str) -> None:
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [reason])
        self._x(
            "INSERT INTO review.revocations (program_id, application_number, revocation_number, "
            "case_id, members, decision_number, amount, revoked_on, revoked_by, reason_ct) "
            "VALUES (:p, :n, :r, :c, :m, :d, :a, :on, :by, :ct)",
            p=record.program_id,
            n=record.application_number,
            r=record.revocation_number,
            c=record.case_id,
            m=list(record.members),
            d=record.decision_number,
            a=record.amount,
            on=record.revoked_on,
            by=record.revoked_by,
            ct=sealed,
        )

    def revocations(self, program_id: str) -> list[RevocationRecord]:
        rows = self._x(
            "SELECT application_number, program_id, revocation_number, case_id, members, "
            "decision_number, amount, revoked_on, revoked_by FROM review.revocations "
            "WHERE program_id = :p ORDER BY id",
            p=program_id,
        )
        return [
            RevocationRecord(r[0], r[1], r[2], r[3], tuple(r[4]), r[5], int(r[6]), r[7], r[8])
            for r in rows
        ]
