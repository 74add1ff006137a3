"""Let the service that hosts staff sign-in (intake) read accounts and record attempts.

Revision ID: auth_0002
Revises: auth_0001
Create Date: 2026-11-28

Sign-in (subsidy_platform.auth_service) runs inside the intake process, connected as
`svc_intake`: it may read `auth.users` and update only the lock-out counters and the
password hash (rehash on sign-in); it can neither add accounts nor change roles.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "auth_0002"
down_revision: str | None = "auth_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOST = "svc_intake"


def upgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{HOST}') THEN
            GRANT USAGE ON SCHEMA auth TO {HOST};
            GRANT SELECT ON auth.users TO {HOST};
            GRANT UPDATE (failed_attempts, locked_until, password_hash) ON auth.users TO {HOST};
          END IF;
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{HOST}') THEN
            REVOKE ALL ON auth.users FROM {HOST};
            REVOKE USAGE ON SCHEMA auth FROM {HOST};
          END IF;
        END $$
        """
    )
