"""No plaintext copy of the LoGo answer id: `intake.applications.external_ref` is dropped.

Revision ID: intake_0004
Revises: intake_0003
Create Date: 2026-12-08

The column held the caller's application id as sent; for an online application imported
from LoGoフォーム that is `<prefix>-L<回答ID>`, a plaintext copy of the answer id, which is
contact-class data kept encrypted in `logo_answer_id_ct` and found through its blind index
(kind `logo`). Nothing reads the column. The upgrade first blanks every value (so that no
copy survives in the table's live tuples) and then drops the column; the downgrade adds it
back empty, never with the old values.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "intake_0004"
down_revision: str | None = "intake_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE intake.applications SET external_ref = NULL WHERE external_ref IS NOT NULL")
    op.execute("ALTER TABLE intake.applications DROP COLUMN external_ref")


def downgrade() -> None:
    op.execute("ALTER TABLE intake.applications ADD COLUMN external_ref varchar(64)")
