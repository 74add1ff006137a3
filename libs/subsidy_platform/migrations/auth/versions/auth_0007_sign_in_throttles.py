"""Sign-in throttled per client: `auth.sign_in_throttles`.

Revision ID: auth_0007
Revises: auth_0006
Create Date: 2026-12-06

Issue 19 ("sign-in lock-out that a stranger cannot trigger at will"): failed sign-ins are
counted per client (a digest of the client certificate's thumbprint and the peer's host,
never the address itself) and per account from that client (subsidy_platform.sign_in_throttle).
A row with `login_id` NULL counts a client's failures on any login. The sign-in service's
role reads and writes the table; nobody else may.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "auth_0007"
down_revision: str | None = "auth_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOST = "svc_auth"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE auth.sign_in_throttles (
            id bigserial PRIMARY KEY,
            client text NOT NULL CHECK (client ~ '^[0-9a-f]{32}$'),
            login_id uuid REFERENCES auth.users (id) ON DELETE CASCADE,
            failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
            window_start timestamptz NOT NULL,
            blocked_until timestamptz
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_sign_in_throttles_client_login "
        "ON auth.sign_in_throttles (client, login_id) NULLS NOT DISTINCT"
    )
    op.execute(
        f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{HOST}') THEN
            GRANT SELECT, INSERT, UPDATE, DELETE ON auth.sign_in_throttles TO {HOST};
            GRANT USAGE ON SEQUENCE auth.sign_in_throttles_id_seq TO {HOST};
          END IF;
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE auth.sign_in_throttles")
