"""Every intake row of a program goes with its erasure (issue 20): the outbox's `program_id`,
and the purge receipts.

Revision ID: intake_0007
Revises: intake_0006
Create Date: 2026-12-06

The outbox gains `program_id` (subsidy_platform.outbox.outbox_program_ddl), backfilled from
each stored event (its own `program_id`, or the program of the application it names in
`intake.applications`: subsidy_platform.outbox_backfill). `purge_receipts` records each erasure's
answer so that a repeated erasure id gets it back (subsidy_platform.maintenance).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from subsidy_platform.maintenance import purge_receipts_ddl
from subsidy_platform.outbox import outbox_program_ddl
from subsidy_platform.outbox_backfill import backfill_outbox_programs

revision: str = "intake_0007"
down_revision: str | None = "intake_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(outbox_program_ddl("intake"))
    backfill_outbox_programs(op.get_bind(), "intake", "intake.applications")
    op.execute(purge_receipts_ddl("intake"))


def downgrade() -> None:
    op.execute("DROP TABLE intake.purge_receipts")
    op.execute("DROP INDEX intake.ix_outbox_program")
    op.execute("ALTER TABLE intake.outbox DROP COLUMN program_id")
