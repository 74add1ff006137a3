"""Document numbers (第…号) unique per ward and fiscal year across every kind of notice.

Revision ID: notices_0002
Revises: notices_0001
Create Date: 2026-12-05

Issue 15: numbers were counted per program and kind, so a grant and a refusal of the same
ward could both be 新危危第1号. A ward numbers its outgoing documents in one series per
fiscal year (年度, April to March), whatever the document: numbering.py allocates from the
counter `notices.document_numbers` (one row per ward and fiscal year, incremented under its
row lock) and every notice records the `ward` (the program's municipality) and the
`document_year` it was numbered in; `uq_notices_ward_year_number` refuses a second notice with
the same number in the same ward and year, of any kind. The counter carries no program id, so
erasing a program (PurgeProgram) never rewinds a ward's series.

Notices stored before this revision have no ward or year (NULL, outside the constraint; a
NOT VALID check requires both of every new row); the counter of a ward starts above the
largest number its programs' earlier notices used, so no number is printed twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "notices_0002"
down_revision: str | None = "notices_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE notices.document_numbers (
            ward varchar(64) NOT NULL,
            document_year integer NOT NULL,
            last_number integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_document_numbers PRIMARY KEY (ward, document_year),
            CONSTRAINT ck_document_numbers_positive CHECK (last_number >= 0)
        )
        """
    )
    op.execute("ALTER TABLE notices.notices ADD COLUMN ward varchar(64)")
    op.execute("ALTER TABLE notices.notices ADD COLUMN document_year integer")
    op.execute("ALTER TABLE notices.notices DROP CONSTRAINT uq_notices_document")
    op.execute(
        "ALTER TABLE notices.notices ADD CONSTRAINT uq_notices_ward_year_number "
        "UNIQUE (ward, document_year, document_number)"
    )
    op.execute(
        "ALTER TABLE notices.notices ADD CONSTRAINT ck_notices_numbered_in_ward_year "
        "CHECK (ward IS NOT NULL AND document_year IS NOT NULL AND document_number > 0) NOT VALID"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE notices.notices DROP CONSTRAINT ck_notices_numbered_in_ward_year")
    op.execute("ALTER TABLE notices.notices DROP CONSTRAINT uq_notices_ward_year_number")
    op.execute(
        "ALTER TABLE notices.notices ADD CONSTRAINT uq_notices_document "
        "UNIQUE (program_id, kind, document_number)"
    )
    op.execute("ALTER TABLE notices.notices DROP COLUMN document_year")
    op.execute("ALTER TABLE notices.notices DROP COLUMN ward")
    op.execute("DROP TABLE notices.document_numbers")
