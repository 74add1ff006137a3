"""Revocation notices (交付決定取消通知書): a fourth kind of notice, one per application.

Revision ID: notices_0003
Revises: notices_0002
Create Date: 2026-12-05

A revoked grant has its grant notice and its revocation notice: the one-decision-notice
index now covers GRANT and REFUSAL only, and a second index allows one REVOCATION per
application.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "notices_0003"
down_revision: str | None = "notices_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE notices.notices DROP CONSTRAINT ck_notices_kind")
    op.execute(
        "ALTER TABLE notices.notices ADD CONSTRAINT ck_notices_kind "
        "CHECK (kind IN ('GRANT', 'REFUSAL', 'CORRECTION', 'REVOCATION'))"
    )
    op.execute("DROP INDEX notices.uq_notices_decision")
    op.execute(
        "CREATE UNIQUE INDEX uq_notices_decision ON notices.notices (application_number) "
        "WHERE kind IN ('GRANT', 'REFUSAL')"
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_notices_revocation ON notices.notices (application_number) "
        "WHERE kind = 'REVOCATION'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX notices.uq_notices_revocation")
    op.execute("DROP INDEX notices.uq_notices_decision")
    op.execute(
        "CREATE UNIQUE INDEX uq_notices_decision ON notices.notices (application_number) "
        "WHERE kind <> 'CORRECTION'"
    )
    op.execute("ALTER TABLE notices.notices DROP CONSTRAINT ck_notices_kind")
    op.execute(
        "ALTER TABLE notices.notices ADD CONSTRAINT ck_notices_kind "
        "CHECK (kind IN ('GRANT', 'REFUSAL', 'CORRECTION'))"
    )
