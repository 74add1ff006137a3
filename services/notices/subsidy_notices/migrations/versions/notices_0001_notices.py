"""The notices schema: notices (one per application and kind), print batches and their
items, reprints, returned mail, processed events, and the outbox.

Revision ID: notices_0001
Revises:
Create Date: 2026-12-01

Every table carries `program_id` (erasure purges a program by it) and those with
ciphertext also a numeric `id` (key rotation pages by it; a batch is named by `batch_id`). Columns ending in `_ct` hold Vault ciphertext only (contact class):
what a notice shows (`content_ct`; its addressee is removed after mailing plus the
retention period, `addressee_held` false), the merged print file (`pdf_ct`, likewise), a reprint's reason. One decision notice
per application (`uq_notices_decision`), one notice per event; one document number per program
and kind; a batch is RENDERED, PRINTED or MAILED, in that order.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from subsidy_platform.outbox import outbox_ddl

revision: str = "notices_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = (
    """
    CREATE TABLE notices.notices (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        application_number varchar(32) NOT NULL,
        kind varchar(16) NOT NULL,
        document_number integer NOT NULL,
        event_id varchar(200) NOT NULL,
        state varchar(16) NOT NULL DEFAULT 'WAITING',
        content_ct text NOT NULL,
        addressee_held boolean NOT NULL DEFAULT true,
        problem varchar(200),
        reprints integer NOT NULL DEFAULT 0,
        reprint_pending boolean NOT NULL DEFAULT false,
        batch_id uuid,
        mailed_on date,
        returned_on date,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_notices_event UNIQUE (event_id),
        CONSTRAINT uq_notices_document UNIQUE (program_id, kind, document_number),
        CONSTRAINT ck_notices_kind CHECK (kind IN ('GRANT', 'REFUSAL', 'CORRECTION')),
        CONSTRAINT ck_notices_state CHECK
            (state IN ('WAITING', 'BATCHED', 'PRINTED', 'MAILED', 'RETURNED'))
    )
    """,
    # one decision notice per application, ever (correction letters: one per request)
    "CREATE UNIQUE INDEX uq_notices_decision ON notices.notices (application_number) "
    "WHERE kind <> 'CORRECTION'",
    "CREATE INDEX ix_notices_waiting ON notices.notices (program_id, state, reprint_pending)",
    """
    CREATE TABLE notices.batches (
        id bigserial PRIMARY KEY,
        batch_id uuid NOT NULL,
        program_id varchar(64) NOT NULL,
        request_id varchar(64) NOT NULL,
        state varchar(16) NOT NULL DEFAULT 'RENDERED',
        count integer NOT NULL,
        reprints integer NOT NULL DEFAULT 0,
        sha256 char(64) NOT NULL,
        manifest jsonb NOT NULL,
        pdf_ct text,
        created_by varchar(64) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        printed_by varchar(64),
        printed_at timestamptz,
        mailed_by varchar(64),
        mailed_on date,
        delete_after date,
        purged_at timestamptz,
        CONSTRAINT uq_batches_batch UNIQUE (batch_id),
        CONSTRAINT uq_batches_request UNIQUE (request_id),
        CONSTRAINT ck_batches_state CHECK (state IN ('RENDERED', 'PRINTED', 'MAILED')),
        CONSTRAINT ck_batches_count CHECK (count > 0)
    )
    """,
    """
    CREATE TABLE notices.batch_items (
        batch_id uuid NOT NULL REFERENCES notices.batches (batch_id),
        notice_id bigint NOT NULL REFERENCES notices.notices (id),
        program_id varchar(64) NOT NULL,
        position integer NOT NULL,
        reprint boolean NOT NULL DEFAULT false,
        PRIMARY KEY (batch_id, notice_id)
    )
    """,
    """
    CREATE TABLE notices.reprints (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        notice_id bigint NOT NULL REFERENCES notices.notices (id),
        request_id varchar(64) NOT NULL,
        reason_ct text NOT NULL,
        requested_by varchar(64) NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_reprints_request UNIQUE (request_id)
    )
    """,
    """
    CREATE TABLE notices.returns (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        notice_id bigint NOT NULL REFERENCES notices.notices (id),
        request_id varchar(64) NOT NULL,
        returned_on date NOT NULL,
        recorded_by varchar(64) NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_returns_request UNIQUE (request_id)
    )
    """,
    """
    CREATE TABLE notices.manual_mailings (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        notice_id bigint NOT NULL REFERENCES notices.notices (id),
        request_id varchar(64) NOT NULL,
        mailed_on date NOT NULL,
        reason_ct text NOT NULL,
        recorded_by varchar(64) NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_manual_mailings_request UNIQUE (request_id)
    )
    """,
    """
    CREATE TABLE notices.processed_events (
        event_id varchar(200) PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE notices.confirmations (
        request_id varchar(64) PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        batch_id uuid NOT NULL REFERENCES notices.batches (batch_id),
        action varchar(16) NOT NULL
    )
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
    op.execute(outbox_ddl("notices"))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS notices.outbox")
    for table in (
        "confirmations",
        "manual_mailings",
        "processed_events",
        "returns",
        "reprints",
        "batch_items",
        "batches",
        "notices",
    ):
        op.execute(f"DROP TABLE notices.{table}")
