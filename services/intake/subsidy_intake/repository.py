"""Persistence of applications with encryption at the edge (DESIGN.md principle 6 and
"Service shape": SQL only here, no ORM row leaves it).

Every SQL statement of intake is in this module and its siblings: the status timeline
(timeline_repository.py), the inquiry log (inquiries_repository.py) and what operators key
in besides applications: paper keyings, corrections, file imports (entry_repository.py);
`IntakeRepository` reaches them as `repo.timeline`, `repo.inquiries` and `repo.entries`.
Rows leave as frozen dataclasses (`StoredApplication`, `Match`, `SearchHit`; the siblings'
`TimelineEntry`, `InquiryRecord`, `PaperKeying`, ...). Everything personal is encrypted in
Vault batches before it is added to the session, and decrypted only when a use case asks
for it; searchable facts are stored as blind indexes. The repository never commits: the
unit of work owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from subsidy_intake.entry_repository import EntryRepository
from subsidy_intake.inquiries_repository import InquiryRepository
from subsidy_intake.orm import (
    ApplicationRow,
    BlindIndexRow,
    DuplicateFlagRow,
    StatusEventRow,
)
from subsidy_intake.records import (
    BANK_FIELDS,
    CONTACT_FIELDS,
    assemble,
    bank_display,
    bank_values,
    contact_values,
    public_purchases,
)
from subsidy_intake.timeline_repository import TimelineRepository
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import NotFound


class Cipher(Protocol):
    def encrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]: ...
    def decrypt(self, data_class: DataClass, values: Sequence[str | None]) -> list[str | None]: ...
    def blind_index(self, kind: str, values: Sequence[str]) -> list[str]: ...


def blind_indexes(cipher: Cipher, facts: Sequence[tuple[str, str]]) -> list[str]:
    """Digests for (kind, normalised value) pairs, in one Vault batch, in input order.

    The kind is part of the HMAC input (`kind` + U+001E + value), so equal values of two
    kinds (a phone number and an account number, say) never share a digest.
    """
    if not facts:
        return []
    return cipher.blind_index(FACT, [f"{kind}\x1e{value}" for kind, value in facts])


@dataclass(frozen=True, slots=True)
class NewApplication:
    """An application ready to store: its record, number and blind indexes."""

    application_number: str
    program_id: str
    request_id: str | None
    request_digest: str | None
    record: dict[str, Any]
    indexes: dict[str, str]  # kind -> digest


@dataclass(frozen=True, slots=True)
class StoredApplication:
    """A stored application's own facts, without any personal field."""

    id: int
    application_number: str
    program_id: str
    request_id: str | None
    request_digest: str | None
    channel: str
    received_on: date
    status: str
    attachments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PaymentAccountRow:
    """A stored bank account without plaintext: codes, bank-class ciphertext, version."""

    bank_code: str | None
    branch_code: str | None
    account_type: str | None
    number_ct: str | None
    holder_ct: str | None
    version: int


@dataclass(frozen=True, slots=True)
class Match:
    """A stored application sharing a blind index (of `kind`, `digest`) with a new record."""

    kind: str
    digest: str
    application_id: int
    application_number: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    """An application found by a call-center search, with its applicant's name (plaintext)."""

    application: StoredApplication
    name: str | None


FACT = "intake-fact"  # the blind-index domain of intake's searchable facts
MATCH_CHUNK = 5000  # digests per query (PostgreSQL allows 65,535 parameters)


def _stored(row: ApplicationRow) -> StoredApplication:
    return StoredApplication(
        id=row.id,
        application_number=row.application_number,
        program_id=row.program_id,
        request_id=row.request_id,
        request_digest=row.request_digest,
        channel=row.channel,
        received_on=row.received_on,
        status=row.status,
        attachments=tuple(row.attachments or ()),
    )


class IntakeRepository:
    """The intake tables through one session; `cipher` (one program's) for the methods
    that encrypt or decrypt, none for look-ups that read no personal field."""

    def __init__(self, session: Session, cipher: Cipher | None = None) -> None:
        self.session = session
        self._cipher = cipher
        self.inquiries = InquiryRepository(session, cipher)
        self.entries = EntryRepository(session, cipher)
        self.timeline = TimelineRepository(session)

    def with_cipher(self, cipher: Cipher) -> IntakeRepository:
        """The same transaction with one program's cipher."""
        return IntakeRepository(self.session, cipher)

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            raise RuntimeError("this repository was opened without a cipher")
        return self._cipher

    def _row(self, application_id: int) -> ApplicationRow:
        """The ORM row of an application read in this transaction (from the session's map)."""
        row = self.session.get(ApplicationRow, application_id)
        if row is None:
            raise NotFound("申請", str(application_id))
        return row

    # numbers and locks ------------------------------------------------------------------

    def allocate_numbers(self, prefix: str, count: int) -> list[str]:
        rows = self.session.execute(
            text("SELECT nextval('intake.application_number_seq') FROM generate_series(1, :n)"),
            {"n": count},
        )
        return [f"{prefix}-{value:06d}" for (value,) in rows]

    def lock_facts(self, program_id: str, digests: Iterable[str]) -> None:
        """Serialise concurrent submissions that share a blind index.

        One statement takes every lock, in sorted order, so two submissions never wait
        for each other crosswise (no deadlock).
        """
        keys = sorted({f"fact:{program_id}:{digest}" for digest in digests})
        self.session.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 1))) "
                "FROM (SELECT unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS facts"
            ),
            {"keys": keys},
        )

    # writes -----------------------------------------------------------------------------

    def add_all(
        self, items: Sequence[NewApplication], status: str, actor: str
    ) -> list[StoredApplication]:
        """Encrypt (two Vault batches for the whole list) and add applications with indexes."""
        contact = self.cipher.encrypt(
            DataClass.CONTACT,
            [v for i in items for v in contact_values(i.record)]
            + [bank_display(i.record) for i in items],
        )
        displays = contact[len(items) * len(CONTACT_FIELDS) :]
        bank = self.cipher.encrypt(
            DataClass.BANK, [v for i in items for v in bank_values(i.record)]
        )
        rows: list[ApplicationRow] = []
        nc, nb = len(CONTACT_FIELDS), len(BANK_FIELDS)
        for n, item in enumerate(items):
            record = item.record
            account = record.get("bank_account") or {}
            row = ApplicationRow(
                application_number=item.application_number,
                program_id=item.program_id,
                request_id=item.request_id,
                request_digest=item.request_digest,
                channel=record["channel"],
                received_on=date.fromisoformat(record["received_on"]),
                status=status,
                resident_registered=record["resident_registered"],
                purchases=public_purchases(record),
                pledges=record["pledges"],
                bank_code=account.get("bank_code"),
                branch_code=account.get("branch_code"),
                account_type=account.get("type"),
                attachments=[],
                bank_display_ct=displays[n],
                **{
                    f"{f}_ct": c
                    for f, c in zip(CONTACT_FIELDS, contact[n * nc : (n + 1) * nc], strict=True)
                },
                **{
                    f"{f}_ct": c
                    for f, c in zip(BANK_FIELDS, bank[n * nb : (n + 1) * nb], strict=True)
                },
            )
            rows.append(row)
        self.session.add_all(rows)
        self.session.flush()
        for row, item in zip(rows, items, strict=True):
            self.session.add_all(
                BlindIndexRow(application_id=row.id, program_id=item.program_id, kind=k, digest=d)
                for k, d in item.indexes.items()
            )
            self.session.add(
                StatusEventRow(application_id=row.id, status=status, actor=actor, service="intake")
            )
        self.session.flush()
        return [_stored(row) for row in rows]

    def replace_record(
        self,
        application_id: int,
        record: dict[str, Any],
        indexes: dict[str, str],
        *,
        keep_account: bool = False,
    ) -> None:
        """Re-encrypt a corrected record in place (two Vault batches) and replace its indexes.

        The application number, program, channel, received date, status and request id are
        the stored application's and stay; the ciphertext columns, the public columns of the
        record (residence, purchases, pledges, bank and branch codes) and every blind index
        are the corrected record's; with `keep_account`, the stored bank account (its
        ciphertext, codes, masked display and blind index) stays.
        """
        row = self._row(application_id)
        *contact, display = self.cipher.encrypt(
            DataClass.CONTACT, [*contact_values(record), bank_display(record)]
        )
        row.resident_registered = record["resident_registered"]
        row.purchases = public_purchases(record)
        row.pledges = record["pledges"]
        for name, value in zip(CONTACT_FIELDS, contact, strict=True):
            setattr(row, f"{name}_ct", value)
        replaced = delete(BlindIndexRow).where(BlindIndexRow.application_id == row.id)
        if keep_account:  # the stored account, its display and its blind index stay
            replaced = replaced.where(BlindIndexRow.kind != "bank")
        else:
            bank = self.cipher.encrypt(DataClass.BANK, bank_values(record))
            account = record.get("bank_account") or {}
            row.bank_display_ct = display
            row.bank_code = account.get("bank_code")
            row.branch_code = account.get("branch_code")
            row.account_type = account.get("type")
            for name, value in zip(BANK_FIELDS, bank, strict=True):
                setattr(row, f"{name}_ct", value)
        self.session.execute(replaced)
        self.session.add_all(
            BlindIndexRow(application_id=row.id, program_id=row.program_id, kind=k, digest=d)
            for k, d in indexes.items()
        )
        self.session.flush()

    def replace_bank_account(self, application_id: int, account: dict[str, Any]) -> int:
        """Encrypt a changed bank account (bank class) with its masked display (contact
        class) in place of the stored one; the account's new version."""
        row = self._row(application_id)
        record = {"bank_account": account}
        bank = self.cipher.encrypt(DataClass.BANK, bank_values(record))
        [display] = self.cipher.encrypt(DataClass.CONTACT, [bank_display(record)])
        row.bank_code = account["bank_code"]
        row.branch_code = account["branch_code"]
        row.account_type = account["type"]
        for name, value in zip(BANK_FIELDS, bank, strict=True):
            setattr(row, f"{name}_ct", value)
        row.bank_display_ct = display
        row.account_version = (row.account_version or 1) + 1
        self.session.flush()
        return row.account_version

    def replace_index(self, application_id: int, program_id: str, kind: str, digest: str) -> None:
        """One blind index of an application replaced (a changed bank account's)."""
        self.session.execute(
            delete(BlindIndexRow).where(
                BlindIndexRow.application_id == application_id, BlindIndexRow.kind == kind
            )
        )
        self.session.add(
            BlindIndexRow(
                application_id=application_id, program_id=program_id, kind=kind, digest=digest
            )
        )
        self.session.flush()

    def payment_account(self, application_id: int) -> PaymentAccountRow:
        """The stored account as payments needs it: codes and the bank-class ciphertext."""
        row = self._row(application_id)
        return PaymentAccountRow(
            row.bank_code,
            row.branch_code,
            row.account_type,
            row.account_number_ct,
            row.account_holder_ct,
            row.account_version or 1,
        )

    def set_attachments(self, application_id: int, kinds: Iterable[str]) -> None:
        """The attachment kinds now on file for an application (sorted, each once)."""
        self._row(application_id).attachments = sorted(set(kinds))

    def add_flags(self, flags: Iterable[tuple[int, int, str]]) -> int:
        """Flag (application id, other application id, evidence) triples for a checker."""
        rows = [
            DuplicateFlagRow(application_id=a, other_application_id=o, evidence=e)
            for a, o, e in flags
        ]
        self.session.add_all(rows)
        self.session.flush()
        return len(rows)

    # reads ------------------------------------------------------------------------------

    def by_request(self, program_id: str, request_id: str) -> StoredApplication | None:
        row = self.session.scalar(
            select(ApplicationRow).where(
                ApplicationRow.program_id == program_id, ApplicationRow.request_id == request_id
            )
        )
        return _stored(row) if row is not None else None

    def by_number(self, application_number: str, *, for_update: bool = False) -> StoredApplication:
        """One application by number; `for_update` holds its row until the transaction ends."""
        query = select(ApplicationRow).where(
            ApplicationRow.application_number == application_number
        )
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        row = self.session.scalar(query)
        if row is None:
            raise NotFound("申請", application_number)
        return _stored(row)

    def search(
        self,
        program_id: str,
        *,
        number: str | None = None,
        index: tuple[str, str] | None = None,
        limit: int = 50,
    ) -> list[SearchHit]:
        """Applications of a program by number or by one blind index (kind, digest), oldest
        first, with the applicants' names decrypted in one Vault batch."""
        query = select(ApplicationRow).where(ApplicationRow.program_id == program_id)
        if number is not None:
            query = query.where(ApplicationRow.application_number == number)
        elif index is not None:
            kind, digest = index
            query = query.join(
                BlindIndexRow, BlindIndexRow.application_id == ApplicationRow.id
            ).where(BlindIndexRow.kind == kind, BlindIndexRow.digest == digest)
        rows = list(
            self.session.scalars(
                query.order_by(ApplicationRow.received_on, ApplicationRow.id).limit(limit)
            )
        )
        names = self.cipher.decrypt(DataClass.CONTACT, [r.name_ct for r in rows]) if rows else []
        return [SearchHit(_stored(r), n) for r, n in zip(rows, names, strict=True)]

    def matches(self, program_id: str, kind_digests: Sequence[tuple[str, str]]) -> list[Match]:
        """The stored applications sharing one of the (kind, digest) blind indexes."""
        wanted = set(kind_digests)
        digests = sorted({d for _, d in wanted})
        found: list[Match] = []
        for start in range(0, len(digests), MATCH_CHUNK):
            rows = self.session.execute(
                select(
                    BlindIndexRow.kind,
                    BlindIndexRow.digest,
                    ApplicationRow.id,
                    ApplicationRow.application_number,
                )
                .join(ApplicationRow, ApplicationRow.id == BlindIndexRow.application_id)
                .where(
                    BlindIndexRow.program_id == program_id,
                    BlindIndexRow.digest.in_(digests[start : start + MATCH_CHUNK]),
                )
            )
            found.extend(Match(k, d, i, n) for k, d, i, n in rows if (k, d) in wanted)
        return found

    def numbers_of(self, ids: Iterable[int]) -> dict[int, str]:
        """Application numbers of rows by id."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self.session.execute(
            select(ApplicationRow.id, ApplicationRow.application_number).where(
                ApplicationRow.id.in_(wanted)
            )
        )
        return {int(i): str(n) for i, n in rows}

    def flag_pairs(self, application_id: int) -> set[tuple[int, str]]:
        """(other application id, evidence) of every flag on one application, resolved or not."""
        rows = self.session.execute(
            select(DuplicateFlagRow.other_application_id, DuplicateFlagRow.evidence).where(
                DuplicateFlagRow.application_id == application_id
            )
        )
        return {(int(i), str(e)) for i, e in rows}

    def flags_of(self, application_id: int) -> list[tuple[str, str]]:
        """(other application number, evidence) of the open flags on one application."""
        other = ApplicationRow.__table__.alias("other")
        rows = self.session.execute(
            select(other.c.application_number, DuplicateFlagRow.evidence)
            .join(other, other.c.id == DuplicateFlagRow.other_application_id)
            .where(
                DuplicateFlagRow.application_id == application_id,
                DuplicateFlagRow.resolved.is_(False),
            )
            .order_by(DuplicateFlagRow.id)
        )
        return [(n, e) for n, e in rows]

    def logo_answer_id(self, application_id: int) -> str | None:
        """The stored application's LoGo answer id (one contact-class decryption)."""
        row = self._row(application_id)
        if not row.logo_answer_id_ct:
            return None
        [plain] = self.cipher.decrypt(DataClass.CONTACT, [row.logo_answer_id_ct])
        return plain

    def decrypt_record(self, application_id: int) -> dict[str, Any]:
        """The v1 record of a stored application, its bank account in the masked form
        written with it (intake cannot decrypt the bank class: records.bank_display)."""
        row = self._row(application_id)
        *contact, display = self.cipher.decrypt(
            DataClass.CONTACT,
            [*(getattr(row, f"{f}_ct") for f in CONTACT_FIELDS), row.bank_display_ct],
        )
        shown = json.loads(display) if display else {"number": "*******", "holder_kana": "＊＊＊"}
        bank_plain = [shown.get("number"), shown.get("holder_kana")]
        return assemble(
            application_number=row.application_number,
            channel=row.channel,
            received_on=row.received_on.isoformat(),
            resident_registered=row.resident_registered,
            purchases=row.purchases,
            pledges=row.pledges,
            bank_codes=(row.bank_code, row.branch_code, row.account_type),
            contact=dict(zip(CONTACT_FIELDS, contact, strict=True)),
            bank=dict(zip(BANK_FIELDS, bank_plain, strict=True)),
        )
