"""The sign-in service appends audit events (failed sign-ins and lock-outs) as services do.

Revision ID: audit_0002
Revises: audit_0001
Create Date: 2026-12-08

Issue "Hardening", finding 2: refused sign-ins are audited by the sign-in service, which
connects as `svc_auth`. It gets what audit_0001 gave the other service roles: INSERT and
SELECT on `audit.events`, SELECT and UPDATE on `audit.chain_head` (whose triggers let it only
move forward), nothing on the version table. `provision_database` grants the same to every
service role on later runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "audit_0002"
down_revision: str | None = "audit_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "svc_auth"


def upgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
            GRANT USAGE ON SCHEMA audit TO {ROLE};
            GRANT SELECT, INSERT ON audit.events TO {ROLE};
            REVOKE UPDATE, DELETE, TRUNCATE ON audit.events FROM {ROLE};
            GRANT SELECT, UPDATE ON audit.chain_head TO {ROLE};
            REVOKE ALL ON audit.alembic_version FROM {ROLE};
          END IF;
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
            REVOKE ALL ON audit.events, audit.chain_head FROM {ROLE};
          END IF;
        END $$
        """
    )
