"""The review schema: cases, duplicate flags, correction requests, decisions, the handover
ledger (管理簿) with the applications of each handover, processed events, and the outbox.

Revision ID: review_0001
Revises:
Create Date: 2026-12-01

Every table with ciphertext has `id` and `program_id` (key rotation walks them by program).
Columns ending in `_ct` hold Vault ciphertext only (contact class: free texts staff write
about an applicant). One decision per application, ever (`uq_decisions_application`); a
grant's amount is positive and a refusal's zero (`ck_decisions_amount`). The ledger is
append-only: a trigger refuses UPDATE and DELETE on `handovers`, whoever asks.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from subsidy_platform.outbox import outbox_ddl

revision: str = "review_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = (
    "RECEIVED",
    "DUPLICATE_SUSPECTED",
    "AWAITING_CORRECTION",
    "CHECKED",
    "HANDED_OVER",
    "PENDING_APPROVAL",
    "GRANTED",
    "NOT_GRANTED",
    "WITHDRAWN",
)

STATEMENTS = (
    f"""
    CREATE TABLE review.cases (
        id bigserial PRIMARY KEY,
        application_number varchar(32) NOT NULL,
        program_id varchar(64) NOT NULL,
        received_on date NOT NULL,
        channel varchar(16) NOT NULL,
        state varchar(32) NOT NULL,
        claimed_by varchar(64),
        claim_expires_at timestamptz,
        checked_on date,
        checked_by varchar(64),
        confirmed_items text[] NOT NULL DEFAULT '{{}}',
        attachments_complete boolean NOT NULL DEFAULT false,
        attachments_seen_at timestamptz,
        rules_amount bigint NOT NULL DEFAULT 0,
        proposal_granted boolean NOT NULL DEFAULT false,
        proposal_reasons text[] NOT NULL DEFAULT '{{}}',
        pending_amount bigint,
        pending_reduction_ct text,
        pending_by varchar(64),
        handover_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_cases_application UNIQUE (application_number),
        CONSTRAINT ck_cases_state CHECK (state IN ({", ".join(f"'{s}'" for s in STATES)})),
        CONSTRAINT ck_cases_rules_amount CHECK (rules_amount >= 0 AND rules_amount <= 100000000)
    )
    """,
    "CREATE INDEX ix_cases_worklist ON review.cases (program_id, state, received_on, id)",
    """
    CREATE TABLE review.duplicate_flags (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        first_number varchar(32) NOT NULL,
        second_number varchar(32) NOT NULL,
        evidence varchar(32) NOT NULL,
        open boolean NOT NULL DEFAULT true,
        resolution varchar(16),
        resolved_by varchar(64),
        resolution_reason_ct text,
        resolved_at timestamptz,
        CONSTRAINT uq_duplicate_flags_pair UNIQUE (first_number, second_number, evidence),
        CONSTRAINT ck_duplicate_flags_order CHECK (first_number < second_number)
    )
    """,
    "CREATE INDEX ix_duplicate_flags_second ON review.duplicate_flags (second_number)",
    """
    CREATE TABLE review.corrections (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        application_number varchar(32) NOT NULL REFERENCES review.cases (application_number),
        requested_on date NOT NULL,
        deadline date NOT NULL,
        items_ct text NOT NULL,
        requested_by varchar(64) NOT NULL,
        corrected_on date,
        expired boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX ix_corrections_application ON review.corrections (application_number)",
    """
    CREATE TABLE review.decisions (
        id bigserial PRIMARY KEY,
        application_number varchar(32) NOT NULL REFERENCES review.cases (application_number),
        program_id varchar(64) NOT NULL,
        granted boolean NOT NULL,
        amount bigint NOT NULL,
        reasons text[] NOT NULL DEFAULT '{}',
        decided_on date NOT NULL,
        decided_by varchar(64) NOT NULL,
        approved_by varchar(64),
        reduction_reason_ct text,
        note_ct text,
        handover_id uuid,
        decision_number varchar(40) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_decisions_application UNIQUE (application_number),
        CONSTRAINT uq_decisions_number UNIQUE (decision_number),
        CONSTRAINT ck_decisions_amount CHECK (
            (granted AND amount > 0 AND amount <= 100000000) OR (NOT granted AND amount = 0)
        ),
        CONSTRAINT ck_decisions_approval CHECK (approved_by IS NULL OR approved_by <> decided_by)
    )
    """,
    "CREATE SEQUENCE review.decision_number_seq",
    """
    CREATE TABLE review.handovers (
        id uuid PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        program_id varchar(64) NOT NULL,
        direction varchar(8) NOT NULL,
        handler varchar(64) NOT NULL,
        role varchar(32) NOT NULL,
        content text NOT NULL,
        records integer NOT NULL,
        file_name varchar(200) NOT NULL,
        sha256 char(64) NOT NULL,
        CONSTRAINT ck_handovers_direction CHECK (direction IN ('export', 'import')),
        CONSTRAINT ck_handovers_records CHECK (records >= 0)
    )
    """,
    """
    CREATE TABLE review.handover_items (
        handover_id uuid NOT NULL REFERENCES review.handovers (id),
        application_number varchar(32) NOT NULL,
        rules_amount bigint NOT NULL,
        PRIMARY KEY (handover_id, application_number)
    )
    """,
    """
    CREATE FUNCTION review.refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the handover ledger is append-only';
    END $$
    """,
    """
    CREATE TRIGGER handovers_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
        ON review.handovers FOR EACH STATEMENT EXECUTE FUNCTION review.refuse_ledger_change()
    """,
    """
    CREATE TABLE review.processed_events (
        key varchar(200) PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE review.commands (
        request_id varchar(64) PRIMARY KEY,
        rpc varchar(64) NOT NULL,
        application_number varchar(32),
        actor varchar(64) NOT NULL,
        result bytea,
        at timestamptz NOT NULL DEFAULT now()
    )
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
    op.execute(outbox_ddl("review"))


def downgrade() -> None:
    op.execute(
        "DROP TABLE review.outbox, review.commands, review.processed_events, "
        "review.handover_items, review.handovers, review.decisions, review.corrections, "
        "review.duplicate_flags, review.cases"
    )
    op.execute("DROP FUNCTION review.refuse_ledger_change()")
    op.execute("DROP SEQUENCE review.decision_number_seq")
