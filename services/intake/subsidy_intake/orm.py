"""The intake schema: applications with encrypted fields, blind indexes, timeline, inquiries.

Columns ending in `_ct` hold Vault ciphertext only (contact or bank data class);
`blind_indexes` hold keyed HMACs of normalised values (never plaintext). Nothing in
this schema can be read back to a person without Vault. SQLAlchemy 2 declarative
style with a naming convention (DESIGN.md principle 5).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "intake"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)


class ApplicationRow(Base):
    """One application. Personal and bank fields are ciphertext (`*_ct`); no column holds a
    personal or linkable identifier in plaintext (the LoGo answer id is `logo_answer_id_ct`,
    found through its blind index; intake_0004 dropped the plaintext `external_ref`)."""

    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("program_id", "request_id"),
        UniqueConstraint("application_number"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    application_number: Mapped[str] = mapped_column(String(32))
    program_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    request_digest: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    received_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(32))
    resident_registered: Mapped[bool] = mapped_column(Boolean)
    purchases: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    pledges: Mapped[dict[str, Any]] = mapped_column(JSONB)
    bank_code: Mapped[str | None] = mapped_column(String(4))
    branch_code: Mapped[str | None] = mapped_column(String(3))
    account_type: Mapped[str | None] = mapped_column(String(16))
    # contact data class
    name_ct: Mapped[str] = mapped_column(Text)
    name_kana_ct: Mapped[str] = mapped_column(Text)
    birth_date_ct: Mapped[str] = mapped_column(Text)
    phone_ct: Mapped[str | None] = mapped_column(Text)
    email_ct: Mapped[str | None] = mapped_column(Text)
    postal_code_ct: Mapped[str] = mapped_column(Text)
    address_ct: Mapped[str] = mapped_column(Text)
    head_name_ct: Mapped[str | None] = mapped_column(Text)
    relationship_ct: Mapped[str | None] = mapped_column(Text)
    purchase_notes_ct: Mapped[str | None] = mapped_column(Text)
    logo_answer_id_ct: Mapped[str | None] = mapped_column(Text)
    # bank data class
    account_number_ct: Mapped[str | None] = mapped_column(Text)
    account_holder_ct: Mapped[str | None] = mapped_column(Text)
    # the masked account as staff see it (contact class, written with the account: intake
    # cannot decrypt the bank class) and the account's version (+1 per recorded change)
    bank_display_ct: Mapped[str | None] = mapped_column(Text)
    account_version: Mapped[int] = mapped_column(Integer, server_default="1")
    attachments: Mapped[list[str]] = mapped_column(JSONB, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BlindIndexRow(Base):
    """A keyed HMAC of one normalised searchable fact of an application."""

    __tablename__ = "blind_indexes"
    __table_args__ = (Index("ix_blind_indexes_lookup", "program_id", "digest", "kind"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    program_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(128))


class DuplicateFlagRow(Base):
    """A probable duplicate found at intake, waiting for a checker (never a silent refusal)."""

    __tablename__ = "duplicate_flags"
    __table_args__ = (UniqueConstraint("application_id", "other_application_id", "evidence"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    other_application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE")
    )
    evidence: Mapped[str] = mapped_column(String(32))
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StatusEventRow(Base):
    """One step of an application's timeline."""

    __tablename__ = "status_events"
    __table_args__ = (UniqueConstraint("request_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    service: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class InquiryRow(Base):
    """A call-center contact (問合せ対応履歴); the summary is ciphertext."""

    __tablename__ = "inquiries"
    __table_args__ = (UniqueConstraint("request_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[str | None] = mapped_column(String(128))
    program_id: Mapped[str | None] = mapped_column(String(64))
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    contacted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32))
    summary_ct: Mapped[str] = mapped_column(Text)
    follow_up_needed: Mapped[bool] = mapped_column(Boolean)


class PaperKeyingRow(Base):
    """One keying of a paper form (ベリファイ入力); the keyed record is ciphertext."""

    __tablename__ = "paper_keyings"
    __table_args__ = (UniqueConstraint("program_id", "form_id", "round"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(64))
    form_id: Mapped[str] = mapped_column(String(64))
    round: Mapped[int] = mapped_column(Integer)
    operator: Mapped[str] = mapped_column(String(128))
    contact_ct: Mapped[str] = mapped_column(Text)
    bank_ct: Mapped[str | None] = mapped_column(Text)
    # keyed HMACs of the bank fields, compared by the verification keying (never decrypted)
    bank_digest: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    outcome: Mapped[str] = mapped_column(String(32))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    keyed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CorrectionRow(Base):
    """One correction (補正) applied to an application, by its request id; the note is ciphertext."""

    __tablename__ = "corrections"
    __table_args__ = (UniqueConstraint("request_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    program_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    request_digest: Mapped[str] = mapped_column(String(64))
    note_ct: Mapped[str | None] = mapped_column(Text)
    keyed_by: Mapped[str | None] = mapped_column(String(64))
    second_keyed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BankChangeRow(Base):
    """One changed bank account (口座変更), keyed by two operators in two requests: the first
    keying (`request_id`, its account as keyed HMACs in `bank_digest`) waits as PENDING; the
    verification keying (`second_request_id`) by another operator APPLIES it or closes it as
    MISMATCH (its differing field paths kept for the replay). The note is ciphertext."""

    __tablename__ = "bank_changes"
    __table_args__ = (UniqueConstraint("request_id"), UniqueConstraint("second_request_id"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    program_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    request_digest: Mapped[str] = mapped_column(String(64))
    account_version: Mapped[int | None] = mapped_column(Integer)
    keyed_by: Mapped[str] = mapped_column(String(128))
    note_ct: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    state: Mapped[str] = mapped_column(String(16), server_default="APPLIED")
    bank_digest: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    second_request_id: Mapped[str | None] = mapped_column(String(64))
    second_request_digest: Mapped[str | None] = mapped_column(String(64))
    second_keyed_by: Mapped[str | None] = mapped_column(String(128))
    differing_fields: Mapped[list[str] | None] = mapped_column(JSONB)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportRow(Base):
    """A LoGo CSV file imported once (by its SHA-256), with its counts."""

    __tablename__ = "imports"
    __table_args__ = (UniqueConstraint("program_id", "file_sha256"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    program_id: Mapped[str] = mapped_column(String(64))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(255))
    operator: Mapped[str] = mapped_column(String(128))
    rows: Mapped[int] = mapped_column(Integer)
    imported: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
