"""The sign-in service carries out the administrator's account changes: it may set `disabled`.

Revision ID: auth_0005
Revises: auth_0004
Create Date: 2026-12-01

Issue 10, section 3: an administrator disables, enables, unlocks an account and resets its
password through UserAdminService, an RPC of the sign-in service that only role `admin` may
call (subsidy_platform.user_admin). The service's role `svc_auth` could already update the
lock-out counters and the password hash (auth_0003); it now may also update `disabled`. It
still can neither add accounts, nor change a login or a role: those stay with the machine's
administrator (`subsidy-admin users add`, database URL).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "auth_0005"
down_revision: str | None = "auth_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOST = "svc_auth"


def upgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{HOST}') THEN
            GRANT UPDATE (disabled) ON auth.users TO {HOST};
          END IF;
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{HOST}') THEN
            REVOKE UPDATE (disabled) ON auth.users FROM {HOST};
          END IF;
        END $$
        """
    )
