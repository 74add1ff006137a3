"""Notices' persistence: every SQL statement of the service, and nothing else.

Rows leave as frozen dataclasses (`StoredNotice`, `Batch`), never as database rows. What a
notice shows (`NoticeContent` as JSON), the merged print file and a reprint's reason are
encrypted at this edge with the program's contact key; the repository is given the cipher
of the program it works on. Deleting print data sets the ciphertext to NULL.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

from subsidy_notices.content import NoticeContent
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import NotFound
from subsidy_platform.limits import shown

MAX_NUMBER = 32
NOTICE_COLUMNS = (
    "id, program_id, application_number, kind, document_number, state, problem, reprints, "
    "reprint_pending, batch_id, mailed_on, returned_on, addressee_held AS held"
)
BATCH_COLUMNS = (
    "batch_id AS id, program_id, state, count, reprints, sha256, manifest, created_at, printed_at, "
    "mailed_on, delete_after, pdf_ct IS NOT NULL AS held"
)


class Cipher(Protocol):
    def encrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]: ...
    def decrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]: ...


@dataclass(frozen=True, slots=True)
class StoredNotice:
    id: int
    program_id: str
    application_number: str
    kind: str
    document_number: int
    state: str
    problem: str | None
    reprints: int
    reprint_pending: bool
    batch_id: str | None
    mailed_on: date | None
    returned_on: date | None
    held: bool


@dataclass(frozen=True, slots=True)
class Batch:
    id: str
    program_id: str
    state: str
    count: int
    reprints: int
    sha256: str
    manifest: dict[str, Any]
    created_at: datetime
    printed_at: datetime | None
    mailed_on: date | None
    delete_after: date | None
    held: bool


def _notice(row: Any) -> StoredNotice:
    values = dict(row._mapping)
    values["batch_id"] = str(values["batch_id"]) if values["batch_id"] else None
    return StoredNotice(**values)


def _batch(row: Any) -> Batch:
    values = dict(row._mapping)
    values["id"] = str(values["id"])
    return Batch(**values)


class NoticesRepository:
    def __init__(self, session: Session, cipher: Cipher | None = None) -> None:
        self.session = session
        self._cipher = cipher

    def with_cipher(self, cipher: Cipher) -> NoticesRepository:
        return NoticesRepository(self.session, cipher)

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            raise RuntimeError("this repository was opened without a cipher")
        return self._cipher

    def _x(self, sql: str, **params: Any) -> Any:
        return self.session.execute(text(sql), params)

    # events and notices ----------------------------------------------------------------

    def first_time(self, event_id: str, program_id: str) -> bool:
        """Record an event id; False when it was applied before (at most once)."""
        result = self._x(
            "INSERT INTO notices.processed_events (event_id, program_id) VALUES (:e, :p) "
            "ON CONFLICT DO NOTHING",
            e=event_id,
            p=program_id,
        )
        return bool(result.rowcount)

    def has_decision_notice(self, number: str) -> bool:
        return bool(
            self._x(
                "SELECT 1 FROM notices.notices WHERE application_number = :n "
                "AND kind IN ('GRANT', 'REFUSAL')",
                n=number,
            ).first()
        )

    def allocate_document_number(self, ward: str, year: int, program_ids: Sequence[str]) -> int:
        """The next 第…号 of the ward's series for the fiscal year (numbering.py), under the
        counter's row lock. A new counter starts above the numbers the ward's programs used
        before numbering by ward (rows without a ward), so none is printed twice."""
        self._x(
            "INSERT INTO notices.document_numbers (ward, document_year, last_number) "
            "SELECT :w, :y, coalesce(max(document_number), 0) FROM notices.notices "
            "WHERE ward IS NULL AND program_id = ANY(:p) ON CONFLICT DO NOTHING",
            w=ward,
            y=year,
            p=list(program_ids),
        )
        return int(
            self._x(
                "UPDATE notices.document_numbers SET last_number = last_number + 1, "
                "updated_at = now() WHERE ward = :w AND document_year = :y RETURNING last_number",
                w=ward,
                y=year,
            ).scalar_one()
        )

    def add_notice(self, content: NoticeContent, event_id: str, ward: str, year: int) -> int:
        """Store a numbered notice with the series (ward, fiscal year) of its number."""
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [content.to_json()])
        return int(
            self._x(
                "INSERT INTO notices.notices (program_id, application_number, kind, "
                "document_number, ward, document_year, event_id, content_ct) "
                "VALUES (:p, :n, :k, :d, :w, :y, :e, :c) RETURNING id",
                p=content.program_id,
                n=content.application_number,
                k=content.kind,
                d=content.document_number,
                w=ward,
                y=year,
                e=event_id,
                c=sealed,
            ).scalar_one()
        )

    def notices_of(self, number: str) -> list[StoredNotice]:
        rows = self._x(
            f"SELECT {NOTICE_COLUMNS} FROM notices.notices WHERE application_number = :n "
            "ORDER BY id",
            n=number,
        )
        return [_notice(r) for r in rows]

    def notice(self, number: str, kind: str, *, for_update: bool = False) -> StoredNotice:
        row = self._x(
            f"SELECT {NOTICE_COLUMNS} FROM notices.notices WHERE application_number = :n "
            f"AND kind = :k ORDER BY id DESC LIMIT 1{' FOR UPDATE' if for_update else ''}",
            n=number,
            k=kind,
        ).first()
        if row is None:
            raise NotFound("通知", shown(number))
        return _notice(row)

    def waiting(self, program_id: str, limit: int) -> list[tuple[StoredNotice, NoticeContent]]:
        """Notices to print (never printed, or a reprint asked for), oldest first, locked."""
        rows = self._x(
            f"SELECT {NOTICE_COLUMNS}, content_ct FROM notices.notices WHERE program_id = :p "
            "AND (state = 'WAITING' OR reprint_pending) AND addressee_held "
            "ORDER BY id LIMIT :l FOR UPDATE SKIP LOCKED",
            p=program_id,
            l=limit,
        ).all()
        plain = self.cipher.decrypt(DataClass.CONTACT, [r.content_ct for r in rows])
        out = []
        for row, content in zip(rows, plain, strict=True):
            values = dict(row._mapping)
            values.pop("content_ct")
            assert content is not None
            out.append((_notice(_Row(values)), NoticeContent.from_json(content)))
        return out

    def content(self, notice_id: int) -> NoticeContent:
        sealed = self._x(
            "SELECT content_ct FROM notices.notices WHERE id = :i", i=notice_id
        ).scalar_one()
        [plain] = self.cipher.decrypt(DataClass.CONTACT, [sealed])
        assert plain is not None
        return NoticeContent.from_json(plain)

    def set_problem(self, notice_id: int, problem: str) -> None:
        self._x(
            "UPDATE notices.notices SET problem = :m, updated_at = now() WHERE id = :i",
            m=problem[:200],
            i=notice_id,
        )

    def replace_content(self, notice_id: int, content: NoticeContent) -> None:
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [content.to_json()])
        self._x(
            "UPDATE notices.notices SET content_ct = :c, addressee_held = true, problem = NULL, "
            "updated_at = now() "
            "WHERE id = :i",
            c=sealed,
            i=notice_id,
        )

    def ask_reprint(
        self, notice: StoredNotice, content: NoticeContent, request_id: str, reason: str, actor: str
    ) -> None:
        self.replace_content(notice.id, content)
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [reason])
        self._x(
            "INSERT INTO notices.reprints (program_id, notice_id, request_id, reason_ct, "
            "requested_by) VALUES (:p, :i, :r, :c, :a)",
            p=notice.program_id,
            i=notice.id,
            r=request_id,
            c=sealed,
            a=actor,
        )
        self._x(
            "UPDATE notices.notices SET reprint_pending = true, reprints = reprints + 1 "
            "WHERE id = :i",
            i=notice.id,
        )

    def reprint_seen(self, request_id: str) -> bool:
        return bool(
            self._x("SELECT 1 FROM notices.reprints WHERE request_id = :r", r=request_id).first()
        )

    def record_return(
        self, notice: StoredNotice, request_id: str, returned_on: date, actor: str
    ) -> bool:
        """The notice returned undeliverable; False when that request was recorded before."""
        result = self._x(
            "INSERT INTO notices.returns (program_id, notice_id, request_id, returned_on, "
            "recorded_by) VALUES (:p, :i, :r, :d, :a) ON CONFLICT DO NOTHING",
            p=notice.program_id,
            i=notice.id,
            r=request_id,
            d=returned_on,
            a=actor,
        )
        if not result.rowcount:
            return False
        self._x(
            "UPDATE notices.notices SET state = 'RETURNED', returned_on = :d, updated_at = now() "
            "WHERE id = :i",
            d=returned_on,
            i=notice.id,
        )
        return True

    def record_manual_mailing(
        self, notice: StoredNotice, request_id: str, mailed_on: date, reason: str, actor: str
    ) -> bool:
        """The notice printed and mailed by hand; False when that request was recorded before."""
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [reason])
        result = self._x(
            "INSERT INTO notices.manual_mailings (program_id, notice_id, request_id, mailed_on, "
            "reason_ct, recorded_by) VALUES (:p, :i, :r, :d, :c, :a) ON CONFLICT DO NOTHING",
            p=notice.program_id,
            i=notice.id,
            r=request_id,
            d=mailed_on,
            c=sealed,
            a=actor,
        )
        if not result.rowcount:
            return False
        self._x(
            "UPDATE notices.notices SET state = 'MAILED', mailed_on = :d, reprint_pending = false, "
            "updated_at = now() WHERE id = :i",
            d=mailed_on,
            i=notice.id,
        )
        return True

    def manual_mailing_seen(self, request_id: str) -> bool:
        return bool(
            self._x(
                "SELECT 1 FROM notices.manual_mailings WHERE request_id = :r", r=request_id
            ).first()
        )

    # batches ----------------------------------------------------------------------------

    def batch_for_request(self, request_id: str) -> Batch | None:
        row = self._x(
            f"SELECT {BATCH_COLUMNS} FROM notices.batches WHERE request_id = :r", r=request_id
        ).first()
        return _batch(row) if row is not None else None

    def add_batch(
        self,
        program_id: str,
        request_id: str,
        manifest: dict[str, Any],
        pdf: bytes,
        printed: Sequence[tuple[StoredNotice, bool]],
        actor: str,
    ) -> str:
        batch_id = manifest["batch_id"]
        [sealed] = self.cipher.encrypt(DataClass.CONTACT, [base64.b64encode(pdf).decode()])
        self._x(
            "INSERT INTO notices.batches (batch_id, program_id, request_id, count, reprints, sha256, "
            "manifest, pdf_ct, created_by) VALUES (:i, :p, :r, :c, :rp, :h, "
            "CAST(:m AS jsonb), :pdf, :a)",
            i=batch_id,
            p=program_id,
            r=request_id,
            c=len(printed),
            rp=sum(1 for _, reprint in printed if reprint),
            h=manifest["sha256"],
            m=json.dumps(manifest, ensure_ascii=False),
            pdf=sealed,
            a=actor,
        )
        self.session.execute(
            text(
                "INSERT INTO notices.batch_items (batch_id, notice_id, program_id, position, "
                "reprint) VALUES (:b, :n, :p, :o, :r)"
            ),
            [
                {"b": batch_id, "n": n.id, "p": program_id, "o": i, "r": reprint}
                for i, (n, reprint) in enumerate(printed)
            ],
        )
        self._x(
            "UPDATE notices.notices SET state = 'BATCHED', batch_id = :b, reprint_pending = false, "
            "problem = NULL, updated_at = now() WHERE id = ANY(:ids)",
            b=batch_id,
            ids=[n.id for n, _ in printed],
        )
        return str(batch_id)

    def batch(self, batch_id: str, *, for_update: bool = False) -> Batch:
        try:
            uuid.UUID(batch_id)
        except ValueError:
            raise NotFound("印刷バッチ", shown(batch_id)) from None
        row = self._x(
            f"SELECT {BATCH_COLUMNS} FROM notices.batches WHERE batch_id = :i"
            f"{' FOR UPDATE' if for_update else ''}",
            i=batch_id,
        ).first()
        if row is None:
            raise NotFound("印刷バッチ", shown(batch_id))
        return _batch(row)

    def batches(self, program_id: str) -> list[Batch]:
        rows = self._x(
            f"SELECT {BATCH_COLUMNS} FROM notices.batches WHERE program_id = :p "
            "ORDER BY created_at, batch_id",
            p=program_id,
        )
        return [_batch(r) for r in rows]

    def print_file(self, batch_id: str) -> bytes | None:
        sealed = self._x(
            "SELECT pdf_ct FROM notices.batches WHERE batch_id = :i", i=batch_id
        ).scalar_one_or_none()
        if sealed is None:
            return None
        [plain] = self.cipher.decrypt(DataClass.CONTACT, [sealed])
        assert plain is not None
        return base64.b64decode(plain)

    def items(self, batch_id: str) -> list[tuple[str, str, bool]]:
        """(application number, kind, reprint) of a batch's notices, in print order."""
        rows = self._x(
            "SELECT n.application_number, n.kind, i.reprint FROM notices.batch_items i "
            "JOIN notices.notices n ON n.id = i.notice_id WHERE i.batch_id = :b "
            "ORDER BY i.position",
            b=batch_id,
        )
        return [(str(r.application_number), str(r.kind), bool(r.reprint)) for r in rows]

    def confirmation_seen(
        self, request_id: str, program_id: str, batch_id: str, action: str
    ) -> bool:
        """Record a confirmation's request id; True when it was applied before."""
        result = self._x(
            "INSERT INTO notices.confirmations (request_id, program_id, batch_id, action) "
            "VALUES (:r, :p, :b, :a) ON CONFLICT DO NOTHING",
            r=request_id,
            p=program_id,
            b=batch_id,
            a=action,
        )
        return not result.rowcount

    def mark_printed(self, batch_id: str, actor: str) -> None:
        self._x(
            "UPDATE notices.batches SET state = 'PRINTED', printed_by = :a, printed_at = now() "
            "WHERE batch_id = :i",
            a=actor,
            i=batch_id,
        )
        self._x(
            "UPDATE notices.notices SET state = 'PRINTED', updated_at = now() "
            "WHERE batch_id = :i AND state = 'BATCHED'",
            i=batch_id,
        )

    def mark_mailed(self, batch_id: str, actor: str, mailed_on: date, delete_after: date) -> None:
        self._x(
            "UPDATE notices.batches SET state = 'MAILED', mailed_by = :a, mailed_on = :d, "
            "delete_after = :x WHERE batch_id = :i",
            a=actor,
            d=mailed_on,
            x=delete_after,
            i=batch_id,
        )
        self._x(
            "UPDATE notices.notices SET state = 'MAILED', mailed_on = :d, updated_at = now() "
            "WHERE batch_id = :i AND state = 'PRINTED'",
            d=mailed_on,
            i=batch_id,
        )

    # print data held, and its deletion -------------------------------------------------

    def held_batches(self, program_id: str) -> list[Batch]:
        rows = self._x(
            f"SELECT {BATCH_COLUMNS} FROM notices.batches WHERE program_id = :p "
            "AND pdf_ct IS NOT NULL ORDER BY created_at, batch_id",
            p=program_id,
        )
        return [_batch(r) for r in rows]

    def addressees_held(self, program_id: str) -> int:
        return int(
            self._x(
                "SELECT count(*) FROM notices.notices WHERE program_id = :p AND addressee_held",
                p=program_id,
            ).scalar_one()
        )

    def purge(self, program_id: str, as_of: date, retention_days: int) -> tuple[int, int]:
        """Delete the print files of batches mailed and past their retention, and then the
        addressee (name, postal code, address, account) of notices mailed (in a batch or by
        hand) or returned, past the retention, whose print files are all deleted and that no
        reprint waits for; what was decided stays
        (a reprint reads the addressee from intake again). Returns (files, addressees)."""
        files = self._x(
            "UPDATE notices.batches SET pdf_ct = NULL, purged_at = now() WHERE program_id = :p "
            "AND state = 'MAILED' AND delete_after <= :d AND pdf_ct IS NOT NULL",
            p=program_id,
            d=as_of,
        ).rowcount
        rows = self._x(
            "SELECT n.id, n.content_ct FROM notices.notices n WHERE n.program_id = :p "
            "AND n.addressee_held AND NOT n.reprint_pending AND n.state IN ('MAILED', 'RETURNED') "
            "AND NOT EXISTS (SELECT 1 FROM notices.batch_items i JOIN notices.batches b "
            "ON b.batch_id = i.batch_id WHERE i.notice_id = n.id AND b.pdf_ct IS NOT NULL) "
            "AND n.mailed_on <= CAST(:d AS date) - :days FOR UPDATE OF n",
            p=program_id,
            d=as_of,
            days=retention_days,
        ).all()
        if rows:
            plain = self.cipher.decrypt(DataClass.CONTACT, [r.content_ct for r in rows])
            kept = self.cipher.encrypt(
                DataClass.CONTACT,
                [NoticeContent.from_json(c or "").without_addressee().to_json() for c in plain],
            )
            self.session.execute(
                text(
                    "UPDATE notices.notices SET content_ct = :c, addressee_held = false, "
                    "updated_at = now() WHERE id = :i"
                ),
                [{"c": c, "i": r.id} for r, c in zip(rows, kept, strict=True)],
            )
        addressees = len(rows)
        return int(files), int(addressees)


class _Row:
    """A row's mapping without one column (for `_notice`)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values
