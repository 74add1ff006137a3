"""One household, one live grant: refused duplicates remember whom the group kept, strong
evidence is cleared by two people, and a household's second grant is revoked by the ward.

Revision ID: review_0002
Revises: review_0001
Create Date: 2026-12-05

- `cases.duplicate_of`: the member the group kept, on every member it refused; such a case is
  never granted (service.move refuses it) until a later resolution keeps it;
- `cases.state` may be REVOKED (交付決定取消);
- `clearings`: a request to clear strong evidence (shared dwelling, bank account or LoGo
  answer) as "not one household", waiting for a second person; at most one pending per
  group, and never confirmed by its requester (`ck_clearings_two_people`);
- `revocations`: one per application, ever, with its number, the ward officer and the
  reason (`reason_ct`, contact-class ciphertext).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "review_0002"
down_revision: str | None = "review_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = (
    "RECEIVED",
    "DUPLICATE_SUSPECTED",
    "AWAITING_CORRECTION",
    "CHECKED",
    "HANDED_OVER",
    "PENDING_APPROVAL",
    "GRANTED",
    "NOT_GRANTED",
    "WITHDRAWN",
    "REVOKED",
)


def _state_check(states: Sequence[str]) -> str:
    listed = ", ".join(f"'{state}'" for state in states)
    return f"ALTER TABLE review.cases ADD CONSTRAINT ck_cases_state CHECK (state IN ({listed}))"


STATEMENTS = (
    "ALTER TABLE review.cases ADD COLUMN duplicate_of varchar(32)",
    "ALTER TABLE review.cases DROP CONSTRAINT ck_cases_state",
    _state_check(STATES),
    """
    CREATE TABLE review.clearings (
        id bigserial PRIMARY KEY,
        clearing_id uuid NOT NULL,
        program_id varchar(64) NOT NULL,
        group_key text NOT NULL,
        numbers text[] NOT NULL,
        evidence text[] NOT NULL,
        state varchar(16) NOT NULL DEFAULT 'PENDING',
        requested_by varchar(64) NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        reason_ct text NOT NULL,
        decided_by varchar(64),
        decided_at timestamptz,
        note_ct text,
        CONSTRAINT uq_clearings_id UNIQUE (clearing_id),
        CONSTRAINT ck_clearings_state CHECK (state IN ('PENDING', 'CONFIRMED', 'REJECTED')),
        CONSTRAINT ck_clearings_two_people CHECK (decided_by IS NULL OR decided_by <> requested_by),
        CONSTRAINT ck_clearings_decided CHECK ((state = 'PENDING') = (decided_by IS NULL))
    )
    """,
    "CREATE UNIQUE INDEX uq_clearings_pending ON review.clearings (group_key) "
    "WHERE state = 'PENDING'",
    "CREATE SEQUENCE review.revocation_number_seq",
    """
    CREATE TABLE review.revocations (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        application_number varchar(32) NOT NULL REFERENCES review.cases (application_number),
        revocation_number varchar(40) NOT NULL,
        case_id varchar(40) NOT NULL,
        members text[] NOT NULL,
        decision_number varchar(40) NOT NULL,
        amount bigint NOT NULL CHECK (amount > 0),
        revoked_on date NOT NULL,
        revoked_by varchar(64) NOT NULL,
        reason_ct text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_revocations_application UNIQUE (application_number),
        CONSTRAINT uq_revocations_number UNIQUE (revocation_number)
    )
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE review.revocations, review.clearings")
    op.execute("DROP SEQUENCE review.revocation_number_seq")
    op.execute("ALTER TABLE review.cases DROP CONSTRAINT ck_cases_state")
    op.execute(_state_check(STATES[:-1]))
    op.execute("ALTER TABLE review.cases DROP COLUMN duplicate_of")
