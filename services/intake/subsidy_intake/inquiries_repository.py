"""Persistence of the inquiry log (問合せ対応履歴), its summaries encrypted at the edge.

Part of intake's repository (repository.py: `repo.inquiries`): SQL only here, rows leave as
`InquiryRecord`. The free-text summary is stored as contact-class ciphertext of the
inquiry's program and decrypted only when a use case asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from subsidy_intake.orm import ApplicationRow, InquiryRow
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import NotFound

if TYPE_CHECKING:
    from subsidy_intake.repository import Cipher


@dataclass(frozen=True, slots=True)
class InquiryRecord:
    """One logged contact, without its summary."""

    id: int
    program_id: str | None
    contacted_at: datetime
    channel: str
    agent: str
    category: str
    follow_up_needed: bool


@dataclass(frozen=True, slots=True)
class LoggedInquiry:
    """An inquiry as listed: the record and the application it is about (if any)."""

    inquiry: InquiryRecord
    application_number: str | None


def _record(row: InquiryRow) -> InquiryRecord:
    return InquiryRecord(
        id=row.id,
        program_id=row.program_id,
        contacted_at=row.contacted_at,
        channel=row.channel,
        agent=row.agent,
        category=row.category,
        follow_up_needed=row.follow_up_needed,
    )


class InquiryRepository:
    """The inquiry log through one session; `cipher` (one program's) for the summaries."""

    def __init__(self, session: Session, cipher: Cipher | None = None) -> None:
        self.session = session
        self._cipher = cipher

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            raise RuntimeError("this repository was opened without a cipher")
        return self._cipher

    def by_request(self, request_id: str) -> InquiryRecord | None:
        """The inquiry logged under a request id, if any."""
        row = self.session.scalar(select(InquiryRow).where(InquiryRow.request_id == request_id))
        return _record(row) if row is not None else None

    def add(
        self,
        *,
        request_id: str | None,
        program_id: str,
        application_id: int | None,
        contacted_at: datetime,
        channel: str,
        agent: str,
        category: str,
        summary: str,
        follow_up_needed: bool,
    ) -> InquiryRecord:
        """Log one contact, its summary encrypted (contact class)."""
        [ciphertext] = self.cipher.encrypt(DataClass.CONTACT, [summary])
        row = InquiryRow(
            request_id=request_id,
            program_id=program_id,
            application_id=application_id,
            contacted_at=contacted_at,
            channel=channel,
            agent=agent,
            category=category,
            summary_ct=ciphertext or "",
            follow_up_needed=follow_up_needed,
        )
        self.session.add(row)
        self.session.flush()
        return _record(row)

    def listing(
        self, *, number: str | None, follow_up_only: bool, limit: int = 200
    ) -> list[LoggedInquiry]:
        """Inquiries newest first, about one application or all, optionally only open ones."""
        query = select(InquiryRow, ApplicationRow.application_number).outerjoin(
            ApplicationRow, ApplicationRow.id == InquiryRow.application_id
        )
        if number:
            query = query.where(ApplicationRow.application_number == number)
        if follow_up_only:
            query = query.where(InquiryRow.follow_up_needed.is_(True))
        rows = self.session.execute(
            query.order_by(InquiryRow.contacted_at.desc(), InquiryRow.id.desc()).limit(limit)
        )
        return [LoggedInquiry(_record(row), app_number) for row, app_number in rows]

    def summary(self, inquiry_id: int) -> str:
        """The plaintext summary of an inquiry read in this transaction."""
        row = self.session.get(InquiryRow, inquiry_id)
        if row is None:
            raise NotFound("問合せ", str(inquiry_id))
        [plain] = self.cipher.decrypt(DataClass.CONTACT, [row.summary_ct])
        return plain or ""
