"""Each grant's latest account, shared accounts cleared by two people, dates of confirmation.

Revision ID: payments_0003
Revises: payments_0002
Create Date: 2026-12-05

What the database now refuses, whatever the code does:
- a grant keeps the latest account intake holds (`latest_accounts`, one row per grant,
  replaced only by a newer `account_version`); an instruction is put in a batch (PENDING -> BATCHED) or sent
  (BATCHED -> SENT) only with its grant's latest account (trigger
  `instruction_account_guard`): a correction recorded while an instruction sits in an
  unreleased batch makes that batch unreleasable until it is cancelled and rebuilt;
- an instruction whose account (compared by intake's keyed HMAC `account_index`, never
  plaintext) is also another grant's live or paid instruction in the program is put in a
  batch only when that pair was cleared by two people (same trigger; a clearance's
  approver is never its recorder: CHECK);
- a batch is confirmed paid on or after its transfer date (CHECK); a cancelled batch keeps
  its reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "payments_0003"
down_revision: str | None = "payments_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = (
    """
    CREATE TABLE payments.latest_accounts (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        application_number varchar(32) NOT NULL UNIQUE
            REFERENCES payments.grants (application_number),
        bank_code char(4) NOT NULL,
        branch_code char(3) NOT NULL,
        account_type varchar(16) NOT NULL,
        account_number_ct text NOT NULL,
        account_holder_ct text NOT NULL,
        account_version integer NOT NULL CHECK (account_version > 0),
        account_index varchar(128),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "ALTER TABLE payments.instructions ADD COLUMN account_index varchar(128)",
    # every grant so far was recorded with its instruction: its latest account is the
    # newest of its instructions'
    """
    INSERT INTO payments.latest_accounts (program_id, application_number, bank_code,
           branch_code, account_type, account_number_ct, account_holder_ct, account_version)
    SELECT DISTINCT ON (application_number) program_id, application_number, bank_code,
           branch_code, account_type, account_number_ct, account_holder_ct, account_version
      FROM payments.instructions ORDER BY application_number, account_version DESC, id DESC
    """,
    "CREATE INDEX ix_instructions_account ON payments.instructions (program_id, account_index) "
    "WHERE account_index IS NOT NULL",
    """
    CREATE TABLE payments.shared_account_clearances (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        application_number varchar(32) NOT NULL
            REFERENCES payments.grants (application_number),
        other_application_number varchar(32) NOT NULL
            REFERENCES payments.grants (application_number),
        account_index varchar(128) NOT NULL,
        reason varchar(200) NOT NULL CHECK (length(reason) > 0),
        request_id varchar(64) NOT NULL UNIQUE,
        recorded_by varchar(128) NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        approved_by varchar(128),
        approved_at timestamptz,
        approve_request_id varchar(64) UNIQUE,
        CHECK (application_number < other_application_number),
        CHECK (approved_by IS NULL OR approved_by <> recorded_by),
        CHECK ((approved_by IS NULL) = (approved_at IS NULL)),
        UNIQUE (application_number, other_application_number, account_index)
    )
    """,
    """
    CREATE FUNCTION payments.instruction_account_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.state IN ('BATCHED', 'SENT') AND NEW.state IS DISTINCT FROM OLD.state
           AND EXISTS (SELECT 1 FROM payments.latest_accounts a
                        WHERE a.application_number = NEW.application_number
                          AND a.account_version > NEW.account_version) THEN
            RAISE EXCEPTION 'instruction % does not pay its grant''s latest account', NEW.id
                USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.state = 'BATCHED' AND OLD.state = 'PENDING' AND NEW.account_index IS NOT NULL
           AND EXISTS (
               SELECT 1 FROM payments.instructions o
                WHERE o.program_id = NEW.program_id
                  AND o.account_index = NEW.account_index
                  AND o.application_number <> NEW.application_number
                  AND o.state IN ('PENDING', 'BATCHED', 'SENT', 'PAID')
                  AND NOT EXISTS (
                      SELECT 1 FROM payments.shared_account_clearances c
                       WHERE c.account_index = NEW.account_index
                         AND c.approved_by IS NOT NULL
                         AND c.application_number
                             = least(o.application_number, NEW.application_number)
                         AND c.other_application_number
                             = greatest(o.application_number, NEW.application_number))) THEN
            RAISE EXCEPTION 'instruction % shares its account with another grant not cleared',
                NEW.id USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER instruction_account_guard BEFORE UPDATE OF state ON payments.instructions "
    "FOR EACH ROW EXECUTE FUNCTION payments.instruction_account_guard()",
    "ALTER TABLE payments.batches ADD COLUMN cancel_reason varchar(200), "
    "ADD CONSTRAINT ck_batches_cancel_reason CHECK (cancel_reason IS NULL OR state = 'CANCELLED')",
    "ALTER TABLE payments.batches ADD CONSTRAINT ck_batches_confirmed_after_transfer "
    "CHECK (confirmed_on IS NULL OR confirmed_on >= transfer_date)",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE payments.batches DROP CONSTRAINT ck_batches_confirmed_after_transfer")
    op.execute("ALTER TABLE payments.batches DROP CONSTRAINT ck_batches_cancel_reason")
    op.execute("ALTER TABLE payments.batches DROP COLUMN cancel_reason")
    op.execute("DROP TRIGGER instruction_account_guard ON payments.instructions")
    op.execute("DROP FUNCTION payments.instruction_account_guard()")
    op.execute("DROP TABLE payments.shared_account_clearances")
    op.execute("DROP INDEX payments.ix_instructions_account")
    op.execute("ALTER TABLE payments.instructions DROP COLUMN account_index")
    op.execute("DROP TABLE payments.latest_accounts")
