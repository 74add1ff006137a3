"""Audit events name the staff account an administrator changed (`target`, its login).

Revision ID: audit_0003
Revises: audit_0002
Create Date: 2026-12-01

Issue 10, section 3: disabling, enabling, unlocking an account and resetting its password are
audit events whose subject is another staff account, not an application. The nullable column
`target` holds that account's login. It enters a row's hash only when set
(subsidy_platform.audit.OPTIONAL_HASHED_COLUMNS), so every row written before keeps its hash
and the chain verifies across the change. Adding a column is not an UPDATE: the append-only
triggers are untouched. An index serves the auditor's search by target.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "audit_0003"
down_revision: str | None = "audit_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE audit.events ADD COLUMN target text")
    op.execute(
        "ALTER TABLE audit.events ADD CONSTRAINT ck_events_target_bounded "
        "CHECK (target IS NULL OR length(target) <= 64)"
    )
    op.execute("CREATE INDEX ix_events_target ON audit.events (target, seq)")


def downgrade() -> None:
    op.execute("DROP INDEX audit.ix_events_target")
    op.execute("ALTER TABLE audit.events DROP COLUMN target")
