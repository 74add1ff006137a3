"""Each writer only its own: an appended audit event is bound to the login that wrote it.

Revision ID: audit_0004
Revises: audit_0003
Create Date: 2026-12-06

Issue 19, part 2. Before, any service login could append events in any service's name (the
payments login could write an event claiming to be review's, under a ward officer's name,
and `verify` passed). The rule, enforced by the database:

- every appended row records its writer, `written_by`, which must be the login of the
  session (`session_user`, the authenticated login: a service cannot change it; `SET ROLE`
  does not either). A row that leaves it out gets it; a row that names another is refused;
- only a service login (`svc_<service>`, subsidy_platform.db.service_roles) may append, and
  only events whose `service` is its own: `svc_payments` writes `service = 'payments'` and
  nothing else. The human actor of an event (the officer the call served) is the service's to
  name; the service is not;
- a row of any other login (the administrator included) is refused.

`written_by` enters a row's hash when set (subsidy_platform.audit.OPTIONAL_HASHED_COLUMNS),
so the rows written before keep their hashes; `verify` reports a row whose writer is not its
service's login, and a row without a writer after one with a writer. Someone with
superuser rights can still switch the trigger off or take another login's session
(docs/SECURITY.md says what remains).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "audit_0004"
down_revision: str | None = "audit_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
ALTER TABLE audit.events ADD COLUMN written_by text;
ALTER TABLE audit.events ADD CONSTRAINT ck_events_written_by_bounded
    CHECK (written_by IS NULL OR length(written_by) <= 63);

CREATE FUNCTION audit.bind_writer() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    login text := session_user;
BEGIN
    IF NEW.written_by IS NULL THEN
        NEW.written_by := login;
    END IF;
    IF NEW.written_by IS DISTINCT FROM login THEN
        RAISE EXCEPTION '監査ログには自分のログイン名でしか書けません (written_by must be the login)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF left(login, 4) <> 'svc_' THEN
        RAISE EXCEPTION '監査ログに追記できるのはサービスのログインだけです (only a service login may append)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.service IS DISTINCT FROM substr(login, 5) THEN
        RAISE EXCEPTION '監査ログには自分のサービスの記録しか書けません (a login may append only its own service''s events)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_bound_to_login BEFORE INSERT ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.bind_writer();
CREATE INDEX ix_events_written_by ON audit.events (written_by, seq);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TRIGGER events_bound_to_login ON audit.events")
    op.execute("DROP FUNCTION audit.bind_writer()")
    op.execute("DROP INDEX audit.ix_events_written_by")
    op.execute("ALTER TABLE audit.events DROP COLUMN written_by")
