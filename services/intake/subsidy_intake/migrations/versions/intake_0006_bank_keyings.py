"""A changed bank account needs two operators' keyings, in two requests (issue 15).

Revision ID: intake_0006
Revises: intake_0005
Create Date: 2026-12-05

`bank_changes` held one row per applied change, whose request carried both keyings, so one
operator could send both. A row is now a change in the making: the first keying (its
request id, the account as keyed HMACs in `bank_digest`, who keyed it) waits as PENDING, at
most one per application (`uq_bank_changes_pending`); the verification keying of another
operator, in its own request (`second_request_id`, unique), either APPLIES it (the account
version it made) or closes it as MISMATCH (the differing field paths, kept so that a retry
answers the same). `ck_bank_changes_two_operators` makes a change applied or closed by the
operator who keyed it impossible. Rows applied before this revision keep state APPLIED
without a second operator (the check is NOT VALID, so it holds for every later row).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "intake_0006"
down_revision: str | None = "intake_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = (
    "ALTER TABLE intake.bank_changes ADD COLUMN state varchar(16) NOT NULL DEFAULT 'APPLIED', "
    "ADD COLUMN bank_digest jsonb, ADD COLUMN second_request_id varchar(64), "
    "ADD COLUMN second_request_digest varchar(64), ADD COLUMN second_keyed_by varchar(128), "
    "ADD COLUMN differing_fields jsonb, ADD COLUMN closed_at timestamptz, "
    "ALTER COLUMN account_version DROP NOT NULL",
    "ALTER TABLE intake.bank_changes ADD CONSTRAINT uq_bank_changes_second_request_id "
    "UNIQUE (second_request_id)",
    "ALTER TABLE intake.bank_changes ADD CONSTRAINT ck_bank_changes_state "
    "CHECK (state IN ('PENDING', 'APPLIED', 'MISMATCH'))",
    "ALTER TABLE intake.bank_changes ADD CONSTRAINT ck_bank_changes_applied_version "
    "CHECK (state <> 'APPLIED' OR account_version IS NOT NULL)",
    "ALTER TABLE intake.bank_changes ADD CONSTRAINT ck_bank_changes_two_operators "
    "CHECK (state = 'PENDING' OR (second_keyed_by IS NOT NULL AND second_keyed_by <> keyed_by "
    "AND second_request_id IS NOT NULL AND second_request_id <> request_id)) NOT VALID",
    "CREATE UNIQUE INDEX uq_bank_changes_pending ON intake.bank_changes (application_id) "
    "WHERE state = 'PENDING'",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DELETE FROM intake.bank_changes WHERE state <> 'APPLIED'")
    op.execute("DROP INDEX intake.uq_bank_changes_pending")
    for constraint in (
        "ck_bank_changes_two_operators",
        "ck_bank_changes_applied_version",
        "ck_bank_changes_state",
        "uq_bank_changes_second_request_id",
    ):
        op.execute(f"ALTER TABLE intake.bank_changes DROP CONSTRAINT {constraint}")
    op.execute(
        "ALTER TABLE intake.bank_changes ALTER COLUMN account_version SET NOT NULL, "
        "DROP COLUMN closed_at, DROP COLUMN differing_fields, DROP COLUMN second_keyed_by, "
        "DROP COLUMN second_request_digest, DROP COLUMN second_request_id, "
        "DROP COLUMN bank_digest, DROP COLUMN state"
    )
