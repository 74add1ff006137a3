"""Corrections (補正) keyed in for stored applications, one row per applied correction.

Revision ID: intake_0003
Revises: intake_0002
Create Date: 2026-12-03

`request_id` is the caller's idempotency key (unique: a correction is applied at most once)
and `request_digest` the keyed HMAC (hex) of what it carried, so that a replay is told
from a reuse of the id for other content. `note_ct` (what was corrected) is ciphertext of
the contact data class; `program_id` and `id` let key rotation rewrap it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "intake_0003"
down_revision: str | None = "intake_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = (
    """
    CREATE TABLE intake.corrections (
        id bigserial NOT NULL,
        application_id bigint NOT NULL,
        program_id varchar(64) NOT NULL,
        request_id varchar(64) NOT NULL,
        request_digest char(64) NOT NULL,
        note_ct text,
        keyed_by varchar(64),
        second_keyed_by varchar(64),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_corrections PRIMARY KEY (id),
        CONSTRAINT uq_corrections_request_id UNIQUE (request_id),
        CONSTRAINT fk_corrections_application_id_applications FOREIGN KEY (application_id)
            REFERENCES intake.applications (id)
    )
    """,
    "CREATE INDEX ix_intake_corrections_application_id ON intake.corrections (application_id)",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE intake.corrections")
