"""Every review row of a program goes with its erasure (issue 20): the outbox's `program_id`,
and the purge receipts.

Revision ID: review_0003
Revises: review_0002
Create Date: 2026-12-06

The outbox gains `program_id` (subsidy_platform.outbox.outbox_program_ddl), backfilled from
each stored event (its own `program_id`, or the program of the application it names in
`review.cases`: subsidy_platform.outbox_backfill). `purge_receipts` records each erasure's
answer so that a repeated erasure id gets it back (subsidy_platform.maintenance).

Review's processed intake events and applied commands gain `program_id` too (set by the
code from now on); a command naming an application takes its case's program. Processed
events recorded before keep NULL: an event key names no person (`intake-<uuid>`).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from subsidy_platform.maintenance import purge_receipts_ddl
from subsidy_platform.outbox import outbox_program_ddl
from subsidy_platform.outbox_backfill import backfill_outbox_programs

revision: str = "review_0003"
down_revision: str | None = "review_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(outbox_program_ddl("review"))
    backfill_outbox_programs(op.get_bind(), "review", "review.cases")
    op.execute("ALTER TABLE review.processed_events ADD COLUMN program_id varchar(64)")
    op.execute("ALTER TABLE review.commands ADD COLUMN program_id varchar(64)")
    op.execute(
        "UPDATE review.commands c SET program_id = k.program_id FROM review.cases k "
        "WHERE c.program_id IS NULL AND k.application_number = c.application_number"
    )
    op.execute("CREATE INDEX ix_processed_events_program ON review.processed_events (program_id)")
    op.execute("CREATE INDEX ix_commands_program ON review.commands (program_id)")
    op.execute(purge_receipts_ddl("review"))


def downgrade() -> None:
    op.execute("DROP TABLE review.purge_receipts")
    op.execute("ALTER TABLE review.commands DROP COLUMN program_id")
    op.execute("ALTER TABLE review.processed_events DROP COLUMN program_id")
    op.execute("DROP INDEX review.ix_outbox_program")
    op.execute("ALTER TABLE review.outbox DROP COLUMN program_id")
