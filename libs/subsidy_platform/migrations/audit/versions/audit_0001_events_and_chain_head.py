"""Audit events and their hash-chain head; append-only for everyone, INSERT/SELECT for services.

Revision ID: audit_0001
Revises:
Create Date: 2025-11-28

`seq` is assigned under the lock on `chain_head` (see subsidy_platform.audit), not by a
sequence, so it has no gaps. Triggers refuse UPDATE, DELETE and TRUNCATE of events even for
the owner, and let `chain_head` move only forward to an existing row. Grants go to those
service roles that exist, so provision_database (which creates them) runs before this.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "audit_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERVICE_ROLES = ("svc_intake", "svc_review", "svc_payments", "svc_notices")

TABLES = """
CREATE TABLE audit.events (
    seq bigint NOT NULL,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    role text NOT NULL,
    service text NOT NULL,
    rpc text NOT NULL,
    action text NOT NULL,
    application_id text,
    fields text[] NOT NULL DEFAULT '{}',
    purpose text,
    trace_id text,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    CONSTRAINT pk_events PRIMARY KEY (seq),
    CONSTRAINT ck_events_seq_positive CHECK (seq > 0),
    CONSTRAINT ck_events_hashes_hex CHECK (
        prev_hash ~ '^[0-9a-f]{64}$' AND hash ~ '^[0-9a-f]{64}$'
    ),
    CONSTRAINT ck_events_purpose_given CHECK (
        action NOT IN ('unmask', 'export') OR coalesce(btrim(purpose), '') <> ''
    )
);
CREATE INDEX ix_events_application_id ON audit.events (application_id, seq);
CREATE INDEX ix_events_actor ON audit.events (actor, seq);
CREATE INDEX ix_events_at ON audit.events (at);

CREATE TABLE audit.chain_head (
    id boolean NOT NULL DEFAULT true,
    last_seq bigint NOT NULL,
    last_hash text NOT NULL,
    CONSTRAINT pk_chain_head PRIMARY KEY (id),
    CONSTRAINT ck_chain_head_single_row CHECK (id)
);
INSERT INTO audit.chain_head (id, last_seq, last_hash) VALUES (true, 0, repeat('0', 64));
"""

TRIGGERS = """
CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '監査ログ %.% は追記のみです: % は拒否されました',
        TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

CREATE FUNCTION audit.advance_chain_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.last_seq <= OLD.last_seq OR NOT EXISTS (
        SELECT 1 FROM audit.events e WHERE e.seq = NEW.last_seq AND e.hash = NEW.last_hash
    ) THEN
        RAISE EXCEPTION '監査ログの chain_head は記録済みの新しい行へしか進められません'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER chain_head_forward_only BEFORE UPDATE ON audit.chain_head
    FOR EACH ROW EXECUTE FUNCTION audit.advance_chain_head();
CREATE TRIGGER chain_head_kept BEFORE DELETE ON audit.chain_head
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER chain_head_no_truncate BEFORE TRUNCATE ON audit.chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
"""

GRANTS = f"""
REVOKE ALL ON SCHEMA audit FROM PUBLIC;
REVOKE ALL ON audit.events, audit.chain_head FROM PUBLIC;
DO $$
DECLARE
    service_role text;
BEGIN
    FOREACH service_role IN ARRAY ARRAY{list(SERVICE_ROLES)!r}::text[] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = service_role) THEN
            EXECUTE format('GRANT USAGE ON SCHEMA audit TO %I', service_role);
            EXECUTE format('GRANT SELECT, INSERT ON audit.events TO %I', service_role);
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit.events FROM %I',
                service_role);
            EXECUTE format('GRANT SELECT, UPDATE ON audit.chain_head TO %I', service_role);
            IF to_regclass('audit.alembic_version') IS NOT NULL THEN
                EXECUTE format('REVOKE ALL ON audit.alembic_version FROM %I', service_role);
            END IF;
        END IF;
    END LOOP;
END
$$;
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(TRIGGERS)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP TABLE audit.chain_head, audit.events")
    op.execute("DROP FUNCTION audit.advance_chain_head(), audit.refuse_change()")
