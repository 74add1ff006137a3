"""A narrow view of staff accounts that every service may read to check tokens.

Revision ID: auth_0004
Revises: auth_0003
Create Date: 2026-12-08

Issue "Hardening", finding 3: a token must stop working when its account is disabled,
locked or gone, so every service checks the account a staff token names
(subsidy_platform.accounts). Services must not read `auth.users` (password hashes,
failure counts, names): they get SELECT on `auth.active_logins`, which shows only the login,
the role, whether the account is disabled and until when it is locked. The view runs with
its owner's rights, so USAGE on the schema and SELECT on the view is all a service role
holds in `auth`. Granted here to the service roles that exist (`svc_*`), and again by
`provision_database` on every run for roles declared later.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "auth_0004"
down_revision: str | None = "auth_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
                EXECUTE format('GRANT USAGE ON SCHEMA auth TO %I', service_role);
                EXECUTE format('GRANT SELECT ON auth.active_logins TO %I', service_role);
            END LOOP;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW auth.active_logins")
    op.execute(
        r"""
        DO $$
        DECLARE
            service_role text;
        BEGIN
            FOR service_role IN SELECT rolname FROM pg_roles
                    WHERE rolname LIKE 'svc\_%' AND rolname <> 'svc_auth' LOOP
                EXECUTE format('REVOKE USAGE ON SCHEMA auth FROM %I', service_role);
            END LOOP;
        END
        $$
        """
    )
