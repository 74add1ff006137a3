"""Revoked grants (交付決定の取消): payments stopped, or money claimed back (返還請求).

Revision ID: payments_0002
Revises: payments_0001
Create Date: 2026-12-05

- an instruction may be CANCELLED (its grant revoked before the money left: in no batch;
  a built batch that held it is cancelled whole); a cancelled instruction is not live, so
  `uq_instructions_one_live` now leaves out FAILED and CANCELLED;
- `revocations`: one per grant (its primary key is the grant's), with what became of the
  payment (`outcome`: STOPPED before release, CLAIMED after) and the batch cancelled;
- the database refuses a new instruction, or a pool instruction put in a batch, for a
  revoked grant (trigger `instructions_not_revoked`), whatever the code does;
- `repayment_claims` (返還請求): one per revoked grant whose transfer was released or paid,
  OPEN until a repayment of the whole amount is recorded (SETTLED, by whom, when, request
  id), or RETURNED when the bank returned the transfer itself (the money never arrived);
  the trigger `claims_follow_returns` does the latter when the instruction becomes FAILED.
  Reconciliation reads the open claims from this table (state = 'OPEN').
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "payments_0002"
down_revision: str | None = "payments_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROP_CHECKS = """
DO $$
DECLARE found record;
BEGIN
    FOR found IN
        SELECT conname FROM pg_constraint
         WHERE conrelid = 'payments.instructions'::regclass AND contype = 'c'
           AND (pg_get_constraintdef(oid) LIKE '%batch_id IS NULL%'
                OR pg_get_constraintdef(oid) LIKE '%''PENDING''::character varying%''FAILED''%')
           AND pg_get_constraintdef(oid) NOT LIKE '%failure_reason%'
    LOOP
        EXECUTE format('ALTER TABLE payments.instructions DROP CONSTRAINT %I', found.conname);
    END LOOP;
END $$
"""

STATEMENTS = (
    DROP_CHECKS,
    "ALTER TABLE payments.instructions ADD CONSTRAINT ck_instructions_state CHECK "
    "(state IN ('PENDING', 'BATCHED', 'SENT', 'PAID', 'FAILED', 'CANCELLED'))",
    "ALTER TABLE payments.instructions ADD CONSTRAINT ck_instructions_batched CHECK "
    "((state IN ('PENDING', 'CANCELLED')) = (batch_id IS NULL))",
    "DROP INDEX payments.uq_instructions_one_live",
    "CREATE UNIQUE INDEX uq_instructions_one_live ON payments.instructions "
    "(application_number) WHERE state NOT IN ('FAILED', 'CANCELLED')",
    """
    CREATE TABLE payments.revocations (
        application_number varchar(32) PRIMARY KEY
            REFERENCES payments.grants (application_number),
        program_id varchar(64) NOT NULL,
        revocation_number varchar(64) NOT NULL UNIQUE,
        revoked_on date NOT NULL,
        outcome varchar(16) NOT NULL CHECK (outcome IN ('STOPPED', 'CLAIMED')),
        batch_cancelled bigint REFERENCES payments.batches (id),
        event_id varchar(200) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE payments.repayment_claims (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        application_number varchar(32) NOT NULL UNIQUE
            REFERENCES payments.revocations (application_number),
        instruction_id bigint NOT NULL REFERENCES payments.instructions (id),
        amount bigint NOT NULL CHECK (amount > 0),
        state varchar(16) NOT NULL DEFAULT 'OPEN'
            CHECK (state IN ('OPEN', 'SETTLED', 'RETURNED')),
        opened_on date NOT NULL,
        opened_at timestamptz NOT NULL DEFAULT now(),
        repaid_on date,
        repaid_amount bigint,
        settled_by varchar(128),
        settle_request_id varchar(64) UNIQUE,
        closed_at timestamptz,
        CHECK ((state = 'SETTLED') = (repaid_on IS NOT NULL AND settled_by IS NOT NULL)),
        CHECK (state <> 'SETTLED' OR repaid_amount = amount),
        CHECK ((state = 'OPEN') = (closed_at IS NULL))
    )
    """,
    "CREATE INDEX ix_repayment_claims_open ON payments.repayment_claims (program_id) "
    "WHERE state = 'OPEN'",
    """
    CREATE FUNCTION payments.refuse_revoked_instruction() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM payments.revocations r
                    WHERE r.application_number = NEW.application_number) THEN
            RAISE EXCEPTION 'the grant of % is revoked', NEW.application_number
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER instructions_not_revoked BEFORE INSERT OR UPDATE OF state
        ON payments.instructions FOR EACH ROW
        WHEN (NEW.state IN ('PENDING', 'BATCHED'))
        EXECUTE FUNCTION payments.refuse_revoked_instruction()
    """,
    """
    CREATE FUNCTION payments.close_claim_on_return() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE payments.repayment_claims SET state = 'RETURNED', closed_at = now()
         WHERE instruction_id = NEW.id AND state = 'OPEN';
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER claims_follow_returns AFTER UPDATE OF state ON payments.instructions
        FOR EACH ROW WHEN (NEW.state = 'FAILED' AND OLD.state <> 'FAILED')
        EXECUTE FUNCTION payments.close_claim_on_return()
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER claims_follow_returns ON payments.instructions")
    op.execute("DROP TRIGGER instructions_not_revoked ON payments.instructions")
    op.execute("DROP FUNCTION payments.close_claim_on_return()")
    op.execute("DROP FUNCTION payments.refuse_revoked_instruction()")
    op.execute("DROP TABLE payments.repayment_claims, payments.revocations")
    op.execute("DROP INDEX payments.uq_instructions_one_live")
    op.execute(
        "CREATE UNIQUE INDEX uq_instructions_one_live ON payments.instructions "
        "(application_number) WHERE state <> 'FAILED'"
    )
    op.execute("ALTER TABLE payments.instructions DROP CONSTRAINT ck_instructions_batched")
    op.execute("ALTER TABLE payments.instructions DROP CONSTRAINT ck_instructions_state")
    op.execute(
        "ALTER TABLE payments.instructions ADD CONSTRAINT ck_instructions_state CHECK "
        "(state IN ('PENDING', 'BATCHED', 'SENT', 'PAID', 'FAILED'))"
    )
    op.execute(
        "ALTER TABLE payments.instructions ADD CONSTRAINT ck_instructions_batched CHECK "
        "((state = 'PENDING') = (batch_id IS NULL))"
    )
