"""Payments' persistence: every SQL statement of the service, and nothing else.

Rows leave as frozen dataclasses. Ciphertext (bank class) is stored as intake hands it or
as the cipher sealed it; the repository never decrypts. The constraints that make a second
payment impossible are the database's (migrations/versions/payments_0001_instructions.py);
the statements here take the row locks that keep concurrent builders and releases apart:
a builder claims pool rows with `FOR UPDATE SKIP LOCKED`, a release or cancel locks its
batch row `FOR UPDATE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from subsidy_platform.errors import NotFound

INSTRUCTION_COLUMNS = (
    "id, program_id, application_number, amount, state, batch_id, bank_code, branch_code, "
    "account_type, account_number_ct, account_holder_ct, account_version, failure_reason"
)
BATCH_COLUMNS = (
    "id, program_id, request_id, transfer_date, state, count, total, largest, over_cap, "
    "file_sha256, built_by, released_by, release_request_id, confirmed_on, built_at, "
    "file_deleted_at, file_ct IS NOT NULL AS held"
)


@dataclass(frozen=True, slots=True)
class Instruction:
    id: int
    program_id: str
    application_number: str
    amount: int
    state: str
    batch_id: int | None
    bank_code: str
    branch_code: str
    account_type: str
    number_ct: str
    holder_ct: str
    account_version: int
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    program_id: str
    request_id: str
    transfer_date: date
    state: str
    count: int
    total: int
    largest: int
    over_cap: int
    file_sha256: str
    built_by: str
    released_by: str | None
    release_request_id: str | None
    confirmed_on: date | None
    built_at: datetime
    file_deleted_at: datetime | None
    held: bool


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums of one scope (a program or a batch), in yen, and the grants counted."""

    granted: int
    paid: int
    failed_awaiting: int
    not_yet_paid: int
    grants: int
    awaiting_account: int = 0  # grants without an instruction yet (intake's account unread)


@dataclass(frozen=True, slots=True)
class RepaymentClaim:
    """A revoked grant's money to be paid back (返還請求): OPEN until settled."""

    application_number: str
    program_id: str
    instruction_id: int
    amount: int
    state: str
    opened_on: date
    repaid_on: date | None
    settled_by: str | None
    settle_request_id: str | None
    revocation_number: str


CLAIM_COLUMNS = (
    "c.application_number, c.program_id, c.instruction_id, c.amount, c.state, c.opened_on, "
    "c.repaid_on, c.settled_by, c.settle_request_id, r.revocation_number"
)


def _instruction(row: Any) -> Instruction:
    return Instruction(*row)


def _batch(row: Any) -> Batch:
    return Batch(*row)


class PaymentsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _all(self, sql: str, **params: Any) -> list[Any]:
        return list(self.session.execute(text(sql), params))

    def _one(self, sql: str, **params: Any) -> Any:
        return self.session.execute(text(sql), params).first()

    # events -------------------------------------------------------------------------------

    def event_seen(self, event_id: str) -> bool:
        row = self._one("SELECT 1 FROM payments.applied_events WHERE event_id = :e", e=event_id)
        return row is not None

    def event_applied(self, event_id: str, program_id: str) -> bool:
        """Record an event as applied; False when it already was (apply at most once)."""
        row = self._one(
            "INSERT INTO payments.applied_events (event_id, program_id) VALUES (:e, :p) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            e=event_id,
            p=program_id,
        )
        return row is not None

    # grants and instructions --------------------------------------------------------------

    def ensure_limits(self, program_id: str, cap: int, unit: int) -> None:
        self.session.execute(
            text(
                "INSERT INTO payments.program_limits (program_id, cap, unit) "
                "VALUES (:p, :c, :u) ON CONFLICT DO NOTHING"
            ),
            {"p": program_id, "c": cap, "u": unit},
        )

    def add_grant(
        self, number: str, program_id: str, amount: int, decision_number: str, decided_on: date
    ) -> bool:
        """The grant (once per application); False when the application has one already."""
        row = self._one(
            "INSERT INTO payments.grants (application_number, program_id, amount, "
            "decision_number, decided_on) VALUES (:n, :p, :a, :d, :o) "
            "ON CONFLICT DO NOTHING RETURNING application_number",
            n=number,
            p=program_id,
            a=amount,
            d=decision_number,
            o=decided_on,
        )
        return row is not None

    def grant_amount(self, number: str) -> tuple[str, int, date] | None:
        """(program, amount, decision date) of the application's grant, its row locked."""
        row = self._one(
            "SELECT program_id, amount, decided_on FROM payments.grants "
            "WHERE application_number = :n FOR UPDATE",
            n=number,
        )
        return (str(row[0]), int(row[1]), row[2]) if row is not None else None

    def add_instruction(
        self,
        *,
        program_id: str,
        number: str,
        amount: int,
        cap: int,
        unit: int,
        bank_code: str,
        branch_code: str,
        account_type: str,
        number_ct: str,
        holder_ct: str,
        account_version: int,
    ) -> int:
        row = self._one(
            "INSERT INTO payments.instructions (program_id, application_number, amount, cap, "
            "unit, bank_code, branch_code, account_type, account_number_ct, account_holder_ct, "
            "account_version) VALUES (:p, :n, :a, :c, :u, :b, :r, :t, :nc, :hc, :v) RETURNING id",
            p=program_id,
            n=number,
            a=amount,
            c=cap,
            u=unit,
            b=bank_code,
            r=branch_code,
            t=account_type,
            nc=number_ct,
            hc=holder_ct,
            v=account_version,
        )
        return int(row[0])

    def instructions_of(self, number: str) -> list[Instruction]:
        """Every instruction of one application, oldest first, their rows locked."""
        rows = self._all(
            f"SELECT {INSTRUCTION_COLUMNS} FROM payments.instructions "
            "WHERE application_number = :n ORDER BY id FOR UPDATE",
            n=number,
        )
        return [_instruction(r) for r in rows]

    def refresh_account(
        self,
        instruction_id: int,
        bank_code: str,
        branch_code: str,
        account_type: str,
        number_ct: str,
        holder_ct: str,
        version: int,
    ) -> None:
        """A pending instruction's account replaced by a newer one from intake."""
        self.session.execute(
            text(
                "UPDATE payments.instructions SET bank_code = :b, branch_code = :r, "
                "account_type = :t, account_number_ct = :nc, account_holder_ct = :hc, "
                "account_version = :v WHERE id = :i AND state = 'PENDING'"
            ),
            {
                "i": instruction_id,
                "b": bank_code,
                "r": branch_code,
                "t": account_type,
                "nc": number_ct,
                "hc": holder_ct,
                "v": version,
            },
        )

    def list_instructions(
        self, program_id: str, state: str | None, limit: int, after_id: int = 0
    ) -> list[Instruction]:
        """A page of the program's instructions by id (keyset paging after `after_id`)."""
        rows = self._all(
            f"SELECT {INSTRUCTION_COLUMNS} FROM payments.instructions WHERE program_id = :p "
            "AND (CAST(:s AS text) IS NULL OR state = :s) AND id > :a ORDER BY id LIMIT :l",
            p=program_id,
            s=state,
            a=after_id,
            l=limit,
        )
        return [_instruction(r) for r in rows]

    def instructions_by_id(self, program_id: str, ids: Sequence[int]) -> dict[int, Instruction]:
        rows = self._all(
            f"SELECT {INSTRUCTION_COLUMNS} FROM payments.instructions "
            "WHERE program_id = :p AND id = ANY(:ids) ORDER BY id FOR UPDATE",
            p=program_id,
            ids=list(ids),
        )
        return {int(r[0]): _instruction(r) for r in rows}

    # batches ------------------------------------------------------------------------------

    def claim_pool(
        self, program_id: str, batch_id: int, limit: int | None
    ) -> list[tuple[Instruction, int]]:
        """Pending instructions no other transaction holds, put in the batch in the same
        statement (locked with `FOR UPDATE SKIP LOCKED`: two builders never share one);
        each with its cap, oldest first."""
        rows = self._all(
            "UPDATE payments.instructions SET state = 'BATCHED', batch_id = :b WHERE id IN ("
            "SELECT id FROM payments.instructions WHERE program_id = :p AND state = 'PENDING' "
            f"ORDER BY id LIMIT :l FOR UPDATE SKIP LOCKED) RETURNING {INSTRUCTION_COLUMNS}, cap",
            p=program_id,
            b=batch_id,
            l=limit,
        )
        found = [(_instruction(r[:-1]), int(r[-1])) for r in rows]
        return sorted(found, key=lambda pair: pair[0].id)

    def open_batch(self, program_id: str, request_id: str, transfer_date: date, who: str) -> int:
        """A batch row to claim instructions into; `complete_batch` gives its real figures
        in the same transaction (the placeholders satisfy the table's checks meanwhile)."""
        row = self._one(
            "INSERT INTO payments.batches (program_id, request_id, transfer_date, count, total, "
            "largest, over_cap, file_sha256, file_ct, built_by) VALUES (:p, :r, :d, 1, 1, 0, 0, "
            "repeat('0', 64), '', :b) RETURNING id",
            p=program_id,
            r=request_id,
            d=transfer_date,
            b=who,
        )
        return int(row[0])

    def complete_batch(
        self,
        batch_id: int,
        *,
        count: int,
        total: int,
        largest: int,
        over_cap: int,
        file_sha256: str,
        file_ct: str,
    ) -> None:
        self.session.execute(
            text(
                "UPDATE payments.batches SET count = :c, total = :t, largest = :l, over_cap = :o, "
                "file_sha256 = :s, file_ct = :f WHERE id = :b AND state = 'BUILT'"
            ),
            {
                "b": batch_id,
                "c": count,
                "t": total,
                "l": largest,
                "o": over_cap,
                "s": file_sha256,
                "f": file_ct,
            },
        )

    def batch_by_request(self, request_id: str) -> Batch | None:
        row = self._one(
            f"SELECT {BATCH_COLUMNS} FROM payments.batches WHERE request_id = :r", r=request_id
        )
        return _batch(row) if row is not None else None

    def batch(self, batch_id: int, *, for_update: bool = False) -> Batch:
        row = self._one(
            f"SELECT {BATCH_COLUMNS} FROM payments.batches WHERE id = :i"
            + (" FOR UPDATE" if for_update else ""),
            i=batch_id,
        )
        if row is None:
            raise NotFound("振込バッチ", str(batch_id))
        return _batch(row)

    def batch_file(self, batch_id: int) -> str | None:
        row = self._one("SELECT file_ct FROM payments.batches WHERE id = :i", i=batch_id)
        return None if row is None else row[0]

    def batch_members(self, batch_id: int) -> list[Instruction]:
        rows = self._all(
            f"SELECT {INSTRUCTION_COLUMNS} FROM payments.instructions WHERE batch_id = :b "
            "ORDER BY id",
            b=batch_id,
        )
        return [_instruction(r) for r in rows]

    def file_released(self, sha256: str) -> int | None:
        row = self._one(
            "SELECT batch_id FROM payments.released_files WHERE file_sha256 = :s", s=sha256
        )
        return int(row[0]) if row is not None else None

    def release(self, batch: Batch, approver: str, request_id: str) -> None:
        self.session.execute(
            text(
                "INSERT INTO payments.released_files (file_sha256, program_id, batch_id) "
                "VALUES (:s, :p, :b)"
            ),
            {"s": batch.file_sha256, "p": batch.program_id, "b": batch.id},
        )
        self.session.execute(
            text(
                "UPDATE payments.batches SET state = 'RELEASED', released_by = :a, "
                "released_at = now(), release_request_id = :r WHERE id = :b AND state = 'BUILT'"
            ),
            {"a": approver, "r": request_id, "b": batch.id},
        )
        self.session.execute(
            text(
                "UPDATE payments.instructions SET state = 'SENT' "
                "WHERE batch_id = :b AND state = 'BATCHED'"
            ),
            {"b": batch.id},
        )

    def cancel(self, batch_id: int, who: str) -> None:
        self.session.execute(
            text(
                "UPDATE payments.instructions SET state = 'PENDING', batch_id = NULL "
                "WHERE batch_id = :b AND state = 'BATCHED'"
            ),
            {"b": batch_id},
        )
        self.session.execute(
            text(
                "UPDATE payments.batches SET state = 'CANCELLED', cancelled_by = :w, "
                "file_ct = NULL, file_deleted_at = now() WHERE id = :b AND state = 'BUILT'"
            ),
            {"b": batch_id, "w": who},
        )

    def confirm(self, batch_id: int, on: date) -> list[str]:
        """Sent instructions of the batch become PAID; the applications paid."""
        rows = self._all(
            "UPDATE payments.instructions SET state = 'PAID' WHERE batch_id = :b "
            "AND state = 'SENT' RETURNING application_number",
            b=batch_id,
        )
        self.session.execute(
            text(
                "UPDATE payments.batches SET state = 'CONFIRMED', confirmed_on = :o "
                "WHERE id = :b AND state = 'RELEASED'"
            ),
            {"b": batch_id, "o": on},
        )
        return sorted(str(r[0]) for r in rows)

    def fail(self, instruction_id: int, reason: str) -> None:
        self.session.execute(
            text(
                "UPDATE payments.instructions SET state = 'FAILED', failure_reason = :r "
                "WHERE id = :i AND state IN ('SENT', 'PAID')"
            ),
            {"i": instruction_id, "r": reason},
        )

    # returns ------------------------------------------------------------------------------

    def return_import(self, request_id: str) -> tuple[str, int] | None:
        row = self._one(
            "SELECT file_sha256, rows FROM payments.return_imports WHERE request_id = :r",
            r=request_id,
        )
        return (str(row[0]), int(row[1])) if row is not None else None

    def file_imported(self, program_id: str, sha256: str) -> bool:
        row = self._one(
            "SELECT 1 FROM payments.return_imports WHERE program_id = :p AND file_sha256 = :s",
            p=program_id,
            s=sha256,
        )
        return row is not None

    def add_return_import(
        self, program_id: str, request_id: str, sha256: str, rows: int, who: str
    ) -> None:
        self.session.execute(
            text(
                "INSERT INTO payments.return_imports (program_id, request_id, file_sha256, rows, "
                "imported_by) VALUES (:p, :r, :s, :n, :w)"
            ),
            {"p": program_id, "r": request_id, "s": sha256, "n": rows, "w": who},
        )

    # reconciliation -----------------------------------------------------------------------

    def program_totals(self, program_id: str) -> Totals:
        """Per grant, its live instruction's state (or FAILED when only failed ones exist);
        a grant revoked before its money left (outcome STOPPED) is no longer granted."""
        row = self._one(
            """
            WITH per_grant AS (
                SELECT g.application_number, g.amount,
                       (SELECT i.state FROM payments.instructions i
                         WHERE i.application_number = g.application_number
                         ORDER BY (i.state = 'FAILED'), i.id DESC LIMIT 1) AS state
                  FROM payments.grants g WHERE g.program_id = :p
                   AND NOT EXISTS (SELECT 1 FROM payments.revocations r
                                    WHERE r.application_number = g.application_number
                                      AND r.outcome = 'STOPPED')
            )
            SELECT coalesce(sum(amount), 0),
                   coalesce(sum(amount) FILTER (WHERE state = 'PAID'), 0),
                   coalesce(sum(amount) FILTER (WHERE state = 'FAILED'), 0),
                   coalesce(sum(amount) FILTER (WHERE state IS NULL OR state IN
                       ('PENDING', 'BATCHED', 'SENT')), 0),
                   count(*),
                   count(*) FILTER (WHERE state IS NULL)
              FROM per_grant
            """,
            p=program_id,
        )
        return Totals(*(int(v) for v in row))

    def batch_totals(self, program_id: str) -> list[tuple[int, str, Totals]]:
        """(batch id, state, totals) of every batch not cancelled: its file's total against
        what its instructions became (paid, failed, or still on the way)."""
        rows = self._all(
            """
            SELECT b.id, b.state, b.total,
                   coalesce(sum(i.amount) FILTER (WHERE i.state = 'PAID'), 0),
                   coalesce(sum(i.amount) FILTER (WHERE i.state = 'FAILED'), 0),
                   coalesce(sum(i.amount) FILTER (WHERE i.state IN ('BATCHED', 'SENT')), 0),
                   count(i.id)
              FROM payments.batches b
              LEFT JOIN payments.instructions i ON i.batch_id = b.id
             WHERE b.program_id = :p AND b.state <> 'CANCELLED'
             GROUP BY b.id ORDER BY b.id
            """,
            p=program_id,
        )
        return [(int(r[0]), str(r[1]), Totals(*(int(v) for v in r[2:]))) for r in rows]

    # reconciliation across services -------------------------------------------------------

    def snapshot(self) -> None:
        """Every later read of this transaction sees one snapshot (the first statement)."""
        self.session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))

    def grant_amounts(self, program_id: str) -> list[tuple[str, int]]:
        """(application number, amount) of every grant of the program."""
        rows = self._all(
            "SELECT application_number, amount FROM payments.grants WHERE program_id = :p",
            p=program_id,
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    def instruction_states(self, program_id: str) -> list[tuple[int, str, int, str, int | None]]:
        """(id, application number, amount, state, batch id) of every instruction of the
        program."""
        rows = self._all(
            "SELECT id, application_number, amount, state, batch_id FROM payments.instructions "
            "WHERE program_id = :p",
            p=program_id,
        )
        return [
            (int(r[0]), str(r[1]), int(r[2]), str(r[3]), None if r[4] is None else int(r[4]))
            for r in rows
        ]

    def revocation_states(self, program_id: str) -> list[tuple[str, str | None, int]]:
        """(application number, its repayment claim's state or None, the claim's amount) of
        every revocation payments received for the program."""
        rows = self._all(
            "SELECT r.application_number, c.state, coalesce(c.amount, 0) "
            "FROM payments.revocations r LEFT JOIN payments.repayment_claims c "
            "ON c.application_number = r.application_number WHERE r.program_id = :p",
            p=program_id,
        )
        return [(str(r[0]), None if r[1] is None else str(r[1]), int(r[2])) for r in rows]

    def released_batches(
        self, program_id: str
    ) -> list[tuple[int, int, int, str, str | None, str | None]]:
        """(batch id, count, total, SHA-256 at build, the release record's SHA-256, the
        stored file's ciphertext or None once deleted) of every released batch."""
        rows = self._all(
            "SELECT b.id, b.count, b.total, b.file_sha256, r.file_sha256, b.file_ct "
            "FROM payments.batches b LEFT JOIN payments.released_files r ON r.batch_id = b.id "
            "WHERE b.program_id = :p AND b.state IN ('RELEASED', 'CONFIRMED') ORDER BY b.id",
            p=program_id,
        )
        return [
            (int(r[0]), int(r[1]), int(r[2]), str(r[3]), None if r[4] is None else str(r[4]), r[5])
            for r in rows
        ]

    # files --------------------------------------------------------------------------------

    def held_files(self, program_id: str) -> list[Batch]:
        rows = self._all(
            f"SELECT {BATCH_COLUMNS} FROM payments.batches WHERE program_id = :p "
            "AND file_ct IS NOT NULL ORDER BY id",
            p=program_id,
        )
        return [_batch(r) for r in rows]

    def purge_files(self, program_id: str, confirmed_before: date) -> int:
        result = self.session.execute(
            text(
                "UPDATE payments.batches SET file_ct = NULL, file_deleted_at = now() "
                "WHERE program_id = :p AND state = 'CONFIRMED' AND file_ct IS NOT NULL "
                "AND confirmed_on < :d"
            ),
            {"p": program_id, "d": confirmed_before},
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    # revocations and repayment claims -----------------------------------------------------

    def revoked(self, number: str) -> bool:
        row = self._one(
            "SELECT 1 FROM payments.revocations WHERE application_number = :n", n=number
        )
        return row is not None

    def live_instruction(self, number: str) -> Instruction | None:
        """The grant's instruction neither FAILED nor CANCELLED (at most one), unlocked."""
        row = self._one(
            f"SELECT {INSTRUCTION_COLUMNS} FROM payments.instructions WHERE application_number = :n "
            "AND state NOT IN ('FAILED', 'CANCELLED')",
            n=number,
        )
        return _instruction(row) if row is not None else None

    def cancel_instruction(self, instruction_id: int) -> None:
        """A pool instruction of a revoked grant: never paid."""
        self.session.execute(
            text(
                "UPDATE payments.instructions SET state = 'CANCELLED' "
                "WHERE id = :i AND state = 'PENDING'"
            ),
            {"i": instruction_id},
        )

    def add_revocation(
        self,
        *,
        number: str,
        program_id: str,
        revocation_number: str,
        revoked_on: date,
        outcome: str,
        batch_cancelled: int | None,
        event_id: str,
    ) -> None:
        self.session.execute(
            text(
                "INSERT INTO payments.revocations (application_number, program_id, "
                "revocation_number, revoked_on, outcome, batch_cancelled, event_id) "
                "VALUES (:n, :p, :r, :o, :out, :b, :e)"
            ),
            {
                "n": number,
                "p": program_id,
                "r": revocation_number,
                "o": revoked_on,
                "out": outcome,
                "b": batch_cancelled,
                "e": event_id,
            },
        )

    def add_claim(
        self, *, number: str, program_id: str, instruction_id: int, amount: int, opened_on: date
    ) -> None:
        self.session.execute(
            text(
                "INSERT INTO payments.repayment_claims (program_id, application_number, "
                "instruction_id, amount, opened_on) VALUES (:p, :n, :i, :a, :o)"
            ),
            {"p": program_id, "n": number, "i": instruction_id, "a": amount, "o": opened_on},
        )

    def claim(self, number: str, *, for_update: bool = False) -> RepaymentClaim:
        row = self._one(
            f"SELECT {CLAIM_COLUMNS} FROM payments.repayment_claims c JOIN payments.revocations r "
            "ON r.application_number = c.application_number WHERE c.application_number = :n"
            + (" FOR UPDATE OF c" if for_update else ""),
            n=number,
        )
        if row is None:
            raise NotFound("返還請求", number)
        return RepaymentClaim(*row)

    def claims(self, program_id: str, open_only: bool) -> list[RepaymentClaim]:
        rows = self._all(
            f"SELECT {CLAIM_COLUMNS} FROM payments.repayment_claims c JOIN payments.revocations r "
            "ON r.application_number = c.application_number WHERE c.program_id = :p "
            "AND (NOT :o OR c.state = 'OPEN') ORDER BY c.id",
            p=program_id,
            o=open_only,
        )
        return [RepaymentClaim(*r) for r in rows]

    def settle_claim(
        self, number: str, repaid_on: date, amount: int, who: str, request_id: str
    ) -> None:
        self.session.execute(
            text(
                "UPDATE payments.repayment_claims SET state = 'SETTLED', repaid_on = :o, "
                "repaid_amount = :a, settled_by = :w, settle_request_id = :r, closed_at = now() "
                "WHERE application_number = :n AND state = 'OPEN'"
            ),
            {"n": number, "o": repaid_on, "a": amount, "w": who, "r": request_id},
        )
