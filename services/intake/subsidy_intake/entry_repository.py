"""Persistence of what operators key in besides applications: paper keyings (ベリファイ入力),
corrections (補正), changed bank accounts keyed by two operators (口座変更) and LoGo file
imports, with encryption at the edge.

Part of intake's repository (repository.py: `repo.entries`): SQL only here, rows leave as
frozen dataclasses. A keyed paper record is stored as ciphertext (its bank account in the
bank class, which intake cannot decrypt, and its bank fields also as keyed HMACs for the
verification keying; the rest in the contact class), a correction's or an account change's
note as contact-class ciphertext, an account change's keyed account as keyed HMACs only;
imports keep only the file's SHA-256 and counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from subsidy_intake.orm import (
    ApplicationRow,
    BankChangeRow,
    CorrectionRow,
    ImportRow,
    PaperKeyingRow,
)
from subsidy_intake.verification import normalise_keyed
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import NotFound

if TYPE_CHECKING:
    from subsidy_intake.repository import Cipher, StoredApplication


@dataclass(frozen=True, slots=True)
class PaperKeying:
    """One stored keying of a paper form; `application_number` once the form was accepted."""

    id: int
    round: int
    operator: str
    outcome: str
    application_id: int | None
    application_number: str | None


@dataclass(frozen=True, slots=True)
class AppliedCorrection:
    """A correction already applied under a request id: its content digest and application."""

    request_digest: str
    application_number: str


@dataclass(frozen=True, slots=True)
class BankKeying:
    """A changed bank account in the making: its first keying and, once a second operator
    keyed it, the outcome (APPLIED with the account version it made, or MISMATCH)."""

    id: int
    application_number: str
    state: str
    request_id: str
    request_digest: str
    keyed_by: str
    bank_digest: dict[str, Any]
    second_request_id: str | None
    second_request_digest: str | None
    second_keyed_by: str | None
    differing_fields: tuple[str, ...]
    account_version: int | None


def _bank_keying(row: BankChangeRow, number: str) -> BankKeying:
    return BankKeying(
        row.id,
        number,
        row.state,
        row.request_id,
        row.request_digest,
        row.keyed_by,
        dict(row.bank_digest or {}),
        row.second_request_id,
        row.second_request_digest,
        row.second_keyed_by,
        tuple(row.differing_fields or ()),
        row.account_version,
    )


class EntryRepository:
    """Keyings, corrections and imports through one session; `cipher` (one program's)."""

    def __init__(self, session: Session, cipher: Cipher | None = None) -> None:
        self.session = session
        self._cipher = cipher

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            raise RuntimeError("this repository was opened without a cipher")
        return self._cipher

    # paper keyings ----------------------------------------------------------------------

    def keyings(self, program_id: str, form_id: str) -> list[PaperKeying]:
        """The keyings of one paper form, by round."""
        rows = self.session.execute(
            select(PaperKeyingRow, ApplicationRow.application_number)
            .outerjoin(ApplicationRow, ApplicationRow.id == PaperKeyingRow.application_id)
            .where(PaperKeyingRow.program_id == program_id, PaperKeyingRow.form_id == form_id)
            .order_by(PaperKeyingRow.round)
        )
        return [
            PaperKeying(k.id, k.round, k.operator, k.outcome, k.application_id, number)
            for k, number in rows
        ]

    def add_keying(
        self,
        program_id: str,
        form_id: str,
        round_: int,
        operator: str,
        record: dict[str, Any],
        outcome: str,
    ) -> int:
        """Store one keying (its bank account in the bank class); its id."""
        bank = record.get("bank_account")
        contact = {k: v for k, v in record.items() if k != "bank_account"}
        [contact_ct] = self.cipher.encrypt(
            DataClass.CONTACT, [json.dumps(contact, ensure_ascii=False)]
        )
        [bank_ct] = self.cipher.encrypt(
            DataClass.BANK, [json.dumps(bank, ensure_ascii=False) if bank else None]
        )
        digested = self.comparable(record).get("bank_account")
        row = PaperKeyingRow(
            bank_digest=digested,
            program_id=program_id,
            form_id=form_id,
            round=round_,
            operator=operator,
            contact_ct=contact_ct or "",
            bank_ct=bank_ct,
            outcome=outcome,
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def keyed_record(self, keying_id: int) -> dict[str, Any]:
        """The record of a stored keying in its comparable form (`comparable`): the contact
        part decrypted, the bank account as its keyed HMACs (intake cannot decrypt it)."""
        row = self.session.get(PaperKeyingRow, keying_id)
        if row is None:
            raise NotFound("入力", str(keying_id))
        [contact] = self.cipher.decrypt(DataClass.CONTACT, [row.contact_ct])
        record: dict[str, Any] = json.loads(contact or "{}")
        if row.bank_ct:
            record["bank_account"] = row.bank_digest or {"unreadable": True}
        return record

    def comparable(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with its bank account number and holder as keyed HMACs (one Vault
        batch), so that two keyings compare without decrypting the bank class. The values are
        normalised first as the comparison does (verification.normalise_keyed: ３ and 3,
        runs of blanks), so that an HMAC forgives no more and no less than a plain field."""
        bank = record.get("bank_account")
        if not isinstance(bank, dict):
            return record
        secret = [k for k in ("number", "holder_kana") if isinstance(bank.get(k), str)]
        digests = self.cipher.blind_index(
            "keying-bank", [f"{k}\x1e{normalise_keyed(bank[k]) or ''}" for k in secret]
        )
        return {**record, "bank_account": {**bank, **dict(zip(secret, digests, strict=True))}}

    def accept_keying(self, keying_id: int, application_number: str) -> None:
        """Link the accepting keying to the application it was submitted as."""
        row = self.session.get(PaperKeyingRow, keying_id)
        if row is None:
            raise NotFound("入力", str(keying_id))
        row.application_id = self.session.scalar(
            select(ApplicationRow.id).where(ApplicationRow.application_number == application_number)
        )

    # corrections ------------------------------------------------------------------------

    def correction_by_request(self, request_id: str) -> AppliedCorrection | None:
        """The correction applied under a request id, with its application's number."""
        found = self.session.execute(
            select(CorrectionRow.request_digest, ApplicationRow.application_number)
            .join(ApplicationRow, ApplicationRow.id == CorrectionRow.application_id)
            .where(CorrectionRow.request_id == request_id)
        ).first()
        return AppliedCorrection(str(found[0]), str(found[1])) if found is not None else None

    def add_correction(
        self,
        application: StoredApplication,
        request_id: str,
        request_digest: str,
        note: str | None,
        keyed_by: str,
        second_keyed_by: str | None,
    ) -> None:
        """Record an applied correction by its request id; the note is encrypted (contact)."""
        [note_ct] = self.cipher.encrypt(DataClass.CONTACT, [note]) if note else [None]
        self.session.add(
            CorrectionRow(
                application_id=application.id,
                program_id=application.program_id,
                request_id=request_id,
                request_digest=request_digest,
                note_ct=note_ct,
                keyed_by=keyed_by,
                second_keyed_by=second_keyed_by,
            )
        )
        self.session.flush()

    # changed bank accounts, keyed by two operators -----------------------------------------

    def bank_keying_by_request(self, request_id: str) -> BankKeying | None:
        """The account change a request id keyed (as its first or its second keying)."""
        found = self.session.execute(
            select(BankChangeRow, ApplicationRow.application_number)
            .join(ApplicationRow, ApplicationRow.id == BankChangeRow.application_id)
            .where(
                or_(
                    BankChangeRow.request_id == request_id,
                    BankChangeRow.second_request_id == request_id,
                )
            )
        ).first()
        return _bank_keying(found[0], str(found[1])) if found is not None else None

    def pending_bank_keying(self, application: StoredApplication) -> BankKeying | None:
        """The application's account change waiting for its verification keying, locked."""
        row = self.session.scalars(
            select(BankChangeRow)
            .where(BankChangeRow.application_id == application.id, BankChangeRow.state == "PENDING")
            .with_for_update()
        ).first()
        return _bank_keying(row, application.application_number) if row is not None else None

    def add_bank_keying(
        self,
        application: StoredApplication,
        request_id: str,
        request_digest: str,
        keyed_by: str,
        bank_digest: dict[str, Any],
        note: str | None,
    ) -> None:
        """Store a first keying of a changed account (PENDING); the note is encrypted."""
        [note_ct] = self.cipher.encrypt(DataClass.CONTACT, [note]) if note else [None]
        self.session.add(
            BankChangeRow(
                application_id=application.id,
                program_id=application.program_id,
                request_id=request_id,
                request_digest=request_digest,
                keyed_by=keyed_by,
                bank_digest=bank_digest,
                note_ct=note_ct,
                state="PENDING",
            )
        )
        self.session.flush()

    def close_bank_keying(
        self,
        keying: BankKeying,
        request_id: str,
        request_digest: str,
        keyed_by: str,
        *,
        account_version: int | None = None,
        differing: tuple[str, ...] = (),
        note: str | None = None,
    ) -> None:
        """The verification keying: APPLIED with the version it made, or MISMATCH with the
        differing fields; its note is added to the first keying's."""
        row = self.session.get(BankChangeRow, keying.id)
        if row is None:
            raise NotFound("口座変更", str(keying.id))
        if note:
            [first] = (
                self.cipher.decrypt(DataClass.CONTACT, [row.note_ct]) if row.note_ct else [None]
            )
            joined = " / ".join(n for n in (first, note) if n)
            [row.note_ct] = self.cipher.encrypt(DataClass.CONTACT, [joined])
        row.state = "APPLIED" if account_version is not None else "MISMATCH"
        row.account_version = account_version
        row.differing_fields = list(differing) or None
        row.second_request_id = request_id
        row.second_request_digest = request_digest
        row.second_keyed_by = keyed_by
        row.closed_at = datetime.now(UTC)
        self.session.flush()

    # file imports -----------------------------------------------------------------------

    def imported_rows(self, program_id: str, file_sha256: str) -> int | None:
        """The line count of a file already imported (by its SHA-256), None when it is new."""
        return self.session.scalar(
            select(ImportRow.rows).where(
                ImportRow.program_id == program_id, ImportRow.file_sha256 == file_sha256
            )
        )

    def add_import(
        self,
        program_id: str,
        file_sha256: str,
        file_name: str,
        operator: str,
        rows: int,
        imported: int,
    ) -> None:
        self.session.add(
            ImportRow(
                program_id=program_id,
                file_sha256=file_sha256,
                file_name=file_name,
                operator=operator,
                rows=rows,
                imported=imported,
            )
        )
        self.session.flush()
