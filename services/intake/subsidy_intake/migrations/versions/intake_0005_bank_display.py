"""Intake no longer decrypts bank details (payments alone may): the masked account is kept.

Revision ID: intake_0005
Revises: intake_0004
Create Date: 2026-12-01

- `applications.bank_display_ct`: the masked account staff see (bank and branch codes stay
  plain columns; the last three digits and the holder's first kana), contact-class
  ciphertext written with the account, so that no read of intake needs the bank key;
  `applications.account_version`: 1 as submitted, +1 per recorded change.
- `paper_keyings.bank_digest`: keyed HMACs of a keying's bank fields, which the
  verification keying compares instead of decrypting the first keying's bank account.
- `bank_changes`: changed bank accounts (口座変更) by request id, keyed twice.

Rows stored before this revision have no masked display: their account is shown fully
masked (and a paper form keyed once before it is compared field by field as a mismatch on
its bank fields, which the third keying resolves).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "intake_0005"
down_revision: str | None = "intake_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE intake.applications ADD COLUMN bank_display_ct text")
    op.execute(
        "ALTER TABLE intake.applications ADD COLUMN account_version integer NOT NULL DEFAULT 1"
    )
    op.execute("ALTER TABLE intake.paper_keyings ADD COLUMN bank_digest jsonb")
    op.execute(
        """
        CREATE TABLE intake.bank_changes (
            id bigserial CONSTRAINT pk_bank_changes PRIMARY KEY,
            application_id bigint NOT NULL
                CONSTRAINT fk_bank_changes_application_id_applications
                REFERENCES intake.applications (id),
            program_id varchar(64) NOT NULL,
            request_id varchar(64) NOT NULL CONSTRAINT uq_bank_changes_request_id UNIQUE,
            request_digest varchar(64) NOT NULL,
            account_version integer NOT NULL,
            keyed_by varchar(128) NOT NULL,
            note_ct text,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_bank_changes_application_id ON intake.bank_changes (application_id)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE intake.bank_changes")
    op.execute("ALTER TABLE intake.paper_keyings DROP COLUMN bank_digest")
    op.execute("ALTER TABLE intake.applications DROP COLUMN account_version")
    op.execute("ALTER TABLE intake.applications DROP COLUMN bank_display_ct")
