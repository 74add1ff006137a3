"""Every notices row of a program goes with its erasure (issue 20): the outbox's `program_id`,
and the purge receipts.

Revision ID: notices_0004
Revises: notices_0003
Create Date: 2026-12-06

The outbox gains `program_id` (subsidy_platform.outbox.outbox_program_ddl), backfilled from
each stored event (its own `program_id`, or the program of the application it names in
`notices.notices`: subsidy_platform.outbox_backfill). `purge_receipts` records each erasure's
answer so that a repeated erasure id gets it back (subsidy_platform.maintenance).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from subsidy_platform.maintenance import purge_receipts_ddl
from subsidy_platform.outbox import outbox_program_ddl
from subsidy_platform.outbox_backfill import backfill_outbox_programs

revision: str = "notices_0004"
down_revision: str | None = "notices_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(outbox_program_ddl("notices"))
    backfill_outbox_programs(op.get_bind(), "notices", "notices.notices")
    op.execute(purge_receipts_ddl("notices"))


def downgrade() -> None:
    op.execute("DROP TABLE notices.purge_receipts")
    op.execute("DROP INDEX notices.ix_outbox_program")
    op.execute("ALTER TABLE notices.outbox DROP COLUMN program_id")
