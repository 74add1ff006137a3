"""The intake schema: applications (ciphertext columns), blind indexes, duplicate flags,
status timeline, inquiries, paper keyings and imported files.

Revision ID: intake_0001
Revises:
Create Date: 2026-11-28

Columns ending in `_ct` hold Vault ciphertext only; `blind_indexes.digest` holds keyed
HMACs. Application numbers come from one sequence (numbers are unique across programs;
a rolled-back submission leaves a gap, as sequences do).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "intake_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = (
    "CREATE SEQUENCE intake.application_number_seq",
    """
    CREATE TABLE intake.applications (
        id bigserial NOT NULL,
        application_number varchar(32) NOT NULL,
        program_id varchar(64) NOT NULL,
        request_id varchar(128),
        request_digest varchar(128),
        external_ref varchar(64),
        channel varchar(16) NOT NULL,
        received_on date NOT NULL,
        status varchar(32) NOT NULL,
        resident_registered boolean NOT NULL,
        purchases jsonb NOT NULL,
        pledges jsonb NOT NULL,
        bank_code varchar(4),
        branch_code varchar(3),
        account_type varchar(16),
        name_ct text NOT NULL,
        name_kana_ct text NOT NULL,
        birth_date_ct text NOT NULL,
        phone_ct text,
        email_ct text,
        postal_code_ct text NOT NULL,
        address_ct text NOT NULL,
        head_name_ct text,
        relationship_ct text,
        purchase_notes_ct text,
        logo_answer_id_ct text,
        account_number_ct text,
        account_holder_ct text,
        attachments jsonb NOT NULL DEFAULT '[]'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_applications PRIMARY KEY (id),
        CONSTRAINT uq_applications_program_id UNIQUE (program_id, request_id),
        CONSTRAINT uq_applications_application_number UNIQUE (application_number),
        CONSTRAINT ck_applications_channel CHECK (channel IN ('online', 'paper'))
    )
    """,
    """
    CREATE TABLE intake.blind_indexes (
        id bigserial NOT NULL,
        application_id bigint NOT NULL,
        program_id varchar(64) NOT NULL,
        kind varchar(16) NOT NULL,
        digest varchar(128) NOT NULL,
        CONSTRAINT pk_blind_indexes PRIMARY KEY (id),
        CONSTRAINT fk_blind_indexes_application_id_applications FOREIGN KEY (application_id)
            REFERENCES intake.applications (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_blind_indexes_lookup ON intake.blind_indexes (program_id, digest, kind)",
    "CREATE INDEX ix_blind_indexes_application_id ON intake.blind_indexes (application_id)",
    """
    CREATE TABLE intake.duplicate_flags (
        id bigserial NOT NULL,
        application_id bigint NOT NULL,
        other_application_id bigint NOT NULL,
        evidence varchar(32) NOT NULL,
        resolved boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_duplicate_flags PRIMARY KEY (id),
        CONSTRAINT uq_duplicate_flags_application_id UNIQUE (application_id, other_application_id, evidence),
        CONSTRAINT fk_duplicate_flags_application_id_applications FOREIGN KEY (application_id)
            REFERENCES intake.applications (id) ON DELETE CASCADE,
        CONSTRAINT fk_duplicate_flags_other_application_id_applications FOREIGN KEY (other_application_id)
            REFERENCES intake.applications (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_duplicate_flags_other ON intake.duplicate_flags (other_application_id)",
    """
    CREATE TABLE intake.status_events (
        id bigserial NOT NULL,
        application_id bigint NOT NULL,
        status varchar(32) NOT NULL,
        actor varchar(128) NOT NULL,
        service varchar(32) NOT NULL,
        note text,
        request_id varchar(128),
        at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_status_events PRIMARY KEY (id),
        CONSTRAINT uq_status_events_request_id UNIQUE (request_id),
        CONSTRAINT fk_status_events_application_id_applications FOREIGN KEY (application_id)
            REFERENCES intake.applications (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_intake_status_events_application_id ON intake.status_events (application_id)",
    """
    CREATE TABLE intake.inquiries (
        id bigserial NOT NULL,
        request_id varchar(128),
        program_id varchar(64),
        application_id bigint,
        contacted_at timestamptz NOT NULL,
        channel varchar(16) NOT NULL,
        agent varchar(128) NOT NULL,
        category varchar(32) NOT NULL,
        summary_ct text NOT NULL,
        follow_up_needed boolean NOT NULL,
        CONSTRAINT pk_inquiries PRIMARY KEY (id),
        CONSTRAINT uq_inquiries_request_id UNIQUE (request_id),
        CONSTRAINT fk_inquiries_application_id_applications FOREIGN KEY (application_id)
            REFERENCES intake.applications (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_intake_inquiries_application_id ON intake.inquiries (application_id)",
    """
    CREATE TABLE intake.paper_keyings (
        id bigserial NOT NULL,
        program_id varchar(64) NOT NULL,
        form_id varchar(64) NOT NULL,
        round integer NOT NULL,
        operator varchar(128) NOT NULL,
        contact_ct text NOT NULL,
        bank_ct text,
        outcome varchar(32) NOT NULL,
        application_id bigint,
        keyed_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_paper_keyings PRIMARY KEY (id),
        CONSTRAINT uq_paper_keyings_program_id UNIQUE (program_id, form_id, round),
        CONSTRAINT fk_paper_keyings_application_id_applications FOREIGN KEY (application_id)
            REFERENCES intake.applications (id)
    )
    """,
    """
    CREATE TABLE intake.imports (
        id bigserial NOT NULL,
        program_id varchar(64) NOT NULL,
        file_sha256 varchar(64) NOT NULL,
        file_name varchar(255),
        operator varchar(128) NOT NULL,
        rows integer NOT NULL,
        imported integer NOT NULL,
        imported_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_imports PRIMARY KEY (id),
        CONSTRAINT uq_imports_program_id UNIQUE (program_id, file_sha256)
    )
    """,
)

TABLES = (
    "imports",
    "paper_keyings",
    "inquiries",
    "status_events",
    "duplicate_flags",
    "blind_indexes",
    "applications",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE intake.{table}")
    op.execute("DROP SEQUENCE intake.application_number_seq")
