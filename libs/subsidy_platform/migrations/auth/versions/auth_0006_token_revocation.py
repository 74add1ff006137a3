"""Tokens end with the password and the account: `auth.users.tokens_valid_from`.

Revision ID: auth_0006
Revises: auth_0005
Create Date: 2026-12-05

Issue 19 ("Tokens end with the password and the account"): a staff token is signed for
15 minutes and checked on every call against its account (subsidy_platform.accounts). A
password reset or a disable now also sets `tokens_valid_from`, the first whole second at
which a token may have been issued: every token issued before it is refused from then on,
for good (enabling the account again does not bring them back). The sign-in service's role
may set the column; every service reads it through the view `auth.active_logins`, which
gains the column at its end (its grants are kept).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "auth_0006"
down_revision: str | None = "auth_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOST = "svc_auth"


def upgrade() -> None:
    op.execute("ALTER TABLE auth.users ADD COLUMN tokens_valid_from timestamptz")
    op.execute(
        """
        CREATE OR REPLACE VIEW auth.active_logins AS
            SELECT login, role, disabled, locked_until, tokens_valid_from FROM auth.users
        """
    )
    op.execute(
        f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{HOST}') THEN
            GRANT UPDATE (tokens_valid_from) ON auth.users TO {HOST};
          END IF;
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW auth.active_logins")
    op.execute(
        """
        CREATE VIEW auth.active_logins AS
            SELECT login, role, disabled, locked_until FROM auth.users
        """
    )
    op.execute(
        r"""
        DO $$
        DECLARE
            service_role text;
        BEGIN
            REVOKE ALL ON auth.active_logins FROM PUBLIC;
            FOR service_role IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'svc\_%' LOOP
                EXECUTE format('GRANT SELECT ON auth.active_logins TO %I', service_role);
            END LOOP;
        END
        $$
        """
    )
    op.execute("ALTER TABLE auth.users DROP COLUMN tokens_valid_from")
