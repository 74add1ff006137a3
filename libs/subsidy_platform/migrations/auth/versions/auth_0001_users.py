"""Staff accounts: login, role, scrypt password hash and lock-out state.

Revision ID: auth_0001
Revises:
Create Date: 2025-11-28

Roles are the eight of DESIGN.md; a new role needs a migration that widens the check.
Logins are stored normalised (NFKC, lower case) by subsidy_platform.users, so the plain
unique constraint is enough.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "auth_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = (
    "operator",
    "checker",
    "call_center",
    "ward_officer",
    "payments_officer",
    "approver",
    "auditor",
    "admin",
)


def upgrade() -> None:
    roles = ", ".join(f"'{role}'" for role in ROLES)
    op.execute(
        f"""
        CREATE TABLE auth.users (
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            login text NOT NULL,
            display_name text NOT NULL,
            role text NOT NULL,
            password_hash text NOT NULL,
            failed_attempts integer NOT NULL DEFAULT 0,
            locked_until timestamptz,
            disabled boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_users PRIMARY KEY (id),
            CONSTRAINT uq_users_login UNIQUE (login),
            CONSTRAINT ck_users_role CHECK (role IN ({roles})),
            CONSTRAINT ck_users_failed_attempts CHECK (failed_attempts >= 0),
            CONSTRAINT ck_users_login_normalised CHECK (login = lower(login) AND login <> '')
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE auth.users")
