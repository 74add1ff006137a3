"""Sign-in moves to its own service: `svc_auth` reads accounts, `svc_intake` no longer does.

Revision ID: auth_0003
Revises: auth_0002
Create Date: 2026-12-01

The platform's sign-in service (subsidy_platform.auth_main) connects as `svc_auth`: it may
read `auth.users` and update only the lock-out counters and the password hash (rehash on
sign-in); it can neither add accounts nor change roles. Intake only verifies tokens now, so
the grants auth_0002 gave `svc_intake` are revoked.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "auth_0003"
down_revision: str | None = "auth_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOST = "svc_auth"
PREVIOUS_HOST = "svc_intake"


def upgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{HOST}') THEN
            GRANT USAGE ON SCHEMA auth TO {HOST};
            GRANT SELECT ON auth.users TO {HOST};
            GRANT UPDATE (failed_attempts, locked_until, password_hash) ON auth.users TO {HOST};
          END IF;
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{PREVIOUS_HOST}') THEN
            REVOKE ALL ON auth.users FROM {PREVIOUS_HOST};
            REVOKE USAGE ON SCHEMA auth FROM {PREVIOUS_HOST};
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
