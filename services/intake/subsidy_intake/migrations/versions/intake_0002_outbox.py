"""Intake's transactional outbox (events to review: applications received and corrected).

Revision ID: intake_0002
Revises: intake_0001
Create Date: 2026-12-01

The table's shape is the platform's (subsidy_platform.outbox.outbox_ddl); changing that
shape later takes a new migration in every service.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from subsidy_platform.outbox import outbox_ddl

revision: str = "intake_0002"
down_revision: str | None = "intake_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(outbox_ddl("intake"))


def downgrade() -> None:
    op.execute("DROP TABLE intake.outbox")
