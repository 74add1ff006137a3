"""PostgreSQL access: engines, service roles and schemas, and the migration runner (DESIGN.md 5).

One cluster, one schema per owner: `auth` and `audit` belong to the administrator (the
platform); every declared service (subsidy_platform.declaration) owns the schema of its name
through its login role (`svc_intake`, `svc_review`, ...). The platform's sign-in service
logs in as `svc_auth` and owns no schema. A service connects as its role (`database_url_for`); it owns and may
change only its schema, and may only INSERT and SELECT in `audit` (default privileges cover
tables created there later) and move `audit.chain_head` forward; the sign-in service's role
has the same audit rights, for the failed sign-ins it records. Nobody else gets USAGE on a
service's schema.

`migrate(admin_url, component)` runs the Alembic script folder of one component: the
package `subsidy_platform.migrations.<component>` for `auth` and `audit`, the package its
declaration names for a service (`subsidy_<component>.migrations` for an undeclared one). A service's migrations run under
`SET ROLE svc_<service>`, so that its tables belong to the service role. Each component's
`env.py` keeps its version table in its own schema (`version_table_schema`) and accepts the
open connection in `config.attributes["connection"]`; running `migrate` again is a no-op.

A connection that cannot be made or is lost (PostgreSQL down, unreachable, shutting down)
surfaces as `DependencyUnavailable`, whatever the caller was doing; SQL errors stay
SQLAlchemy errors.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from subsidy_platform.declaration import PLATFORM_SERVICES, declarations
from subsidy_platform.errors import DependencyUnavailable

PLATFORM_COMPONENTS = ("auth", "audit")
CONNECT_TIMEOUT_SECONDS = 5

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def service_roles() -> dict[str, str]:
    """Login role of every service (declared ones and the platform's sign-in service)."""
    names = (*PLATFORM_SERVICES, *declarations())
    return {name: f"svc_{name}" for name in names}


def role_of(service: str) -> str:
    """The login role of one service (`svc_<name>`)."""
    return service_roles()[service]


def migrated_components() -> tuple[str, ...]:
    """Every component with migrations, platform first: auth, audit, then the services."""
    with_migrations = [d.name for d in declarations().values() if d.migrations]
    return (*PLATFORM_COMPONENTS, *with_migrations)


def make_engine(url: str, *, role: str | None = None, **options: Any) -> Engine:
    """An engine for `url` (psycopg 3, pre-ping); with `role`, every connection `SET ROLE`s to it.

    `role` is for administrators acting as a service (its migrations); a service itself
    connects with its own login (`database_url_for`). Extra options go to `create_engine`.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    connect_args = dict(options.pop("connect_args", {}))
    if "connect_timeout" not in parsed.query:
        connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **options)
    event.listen(engine, "handle_error", _unavailable_when_disconnected)
    if role is not None:
        statement = f'SET ROLE "{_identifier(role)}"'

        def set_role(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(statement)
            dbapi_connection.commit()

        event.listen(engine, "connect", set_role)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for the service layer (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


def database_url_for(admin_url: str, role: str, password: str | None = None) -> str:
    """The URL a service uses: the admin URL's server and database, logged in as `role`."""
    url = make_url(admin_url).set(username=_identifier(role), password=password)
    return url.render_as_string(hide_password=False)


def provision_database(admin_url: str, *, passwords: Mapping[str, str] | None = None) -> None:
    """Create the service roles and the schemas with their privileges; idempotent.

    `passwords` (role -> password) is for servers that authenticate logins by password; the
    embedded server trusts its Unix socket. Roles are cluster-wide and made to survive
    concurrent provisioning of several databases in the same cluster.
    """
    engine = make_engine(admin_url)
    all_roles = service_roles()
    owners = {name: all_roles[name] for name in declarations()}
    auditing = ", ".join(f'"{role}"' for role in all_roles.values())
    try:
        with engine.begin() as connection:
            for role in all_roles.values():
                _ensure_role(connection, role, (passwords or {}).get(role))
            admin = connection.execute(text("SELECT current_user")).scalar_one()
            for schema in PLATFORM_COMPONENTS:
                connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            for service, role in owners.items():
                _grant_membership(connection, role)
                connection.execute(
                    text(f'CREATE SCHEMA IF NOT EXISTS "{service}" AUTHORIZATION "{role}"')
                )
                connection.execute(text(f'ALTER SCHEMA "{service}" OWNER TO "{role}"'))
                connection.execute(text(f'REVOKE ALL ON SCHEMA "{service}" FROM PUBLIC'))
            roles = auditing
            connection.execute(text("REVOKE ALL ON SCHEMA auth, audit FROM PUBLIC"))
            connection.execute(text(f"GRANT USAGE ON SCHEMA audit TO {roles}"))
            connection.execute(
                text(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA audit TO {roles}")
            )
            connection.execute(
                text(
                    f'ALTER DEFAULT PRIVILEGES FOR ROLE "{admin}" IN SCHEMA audit '
                    f"GRANT SELECT, INSERT ON TABLES TO {roles}"
                )
            )
            connection.execute(
                text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA audit TO {roles}")
            )
            connection.execute(
                text(
                    f'ALTER DEFAULT PRIVILEGES FOR ROLE "{admin}" IN SCHEMA audit '
                    f"GRANT USAGE, SELECT ON SEQUENCES TO {roles}"
                )
            )
            _grant_where_present(connection, "audit.chain_head", "SELECT, UPDATE", roles)
            _grant_where_present(connection, "auth.active_logins", "SELECT", roles, usage="auth")
            if _exists(connection, "audit.alembic_version"):
                connection.execute(text(f"REVOKE ALL ON audit.alembic_version FROM {roles}"))
    finally:
        engine.dispose()


def migration_package(component: str) -> str:
    """The package holding a component's Alembic script folder."""
    if component in PLATFORM_COMPONENTS:
        return f"subsidy_platform.migrations.{component}"
    declared = declarations().get(component)
    if declared is None:
        return f"subsidy_{_identifier(component)}.migrations"
    if declared.migrations is None:
        raise LookupError(f"{component} declares no migrations")
    return declared.migrations


def migrate(admin_url: str, component: str) -> None:
    """Upgrade one component's schema to its latest revision (a no-op when already there)."""
    package = migration_package(component)
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"migrations package not found: {package}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    declared = declarations().get(component)
    engine = make_engine(admin_url, role=declared.database_role if declared else None)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(folder))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """`subsidy-admin db migrate [COMPONENT ...]`: provision roles and schemas, then migrate."""
    from subsidy_platform.config import Settings
    from subsidy_platform.embedded import ensure_infrastructure

    parser = argparse.ArgumentParser(
        prog="subsidy-admin db migrate",
        description="データベースのロールとスキーマを整え、移行を実行します",
    )
    parser.add_argument(
        "components", nargs="*", default=None, help="auth, audit, intake, ... (default: all)"
    )
    parser.add_argument(
        "--database-url", help="管理者の接続先 (既定: DATABASE_URL、未設定なら組み込み PostgreSQL)"
    )
    args = parser.parse_args(argv)
    url = args.database_url or ensure_infrastructure(Settings.from_env()).database_url
    try:
        provision_database(url)
        for component in args.components or migrated_components():
            migrate(url, component)
            print(f"{component}: 最新の版に移行しました")
    except DependencyUnavailable as error:
        print(str(error), file=sys.stderr)
        return 2
    return 0


def _ensure_role(connection: Connection, role: str, password: str | None) -> None:
    connection.execute(
        text(
            "DO $$ BEGIN "
            f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT; '
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    )
    if password is not None:
        quoted = connection.exec_driver_sql("SELECT quote_literal(%s)", (password,)).scalar_one()
        connection.exec_driver_sql(f'ALTER ROLE "{role}" PASSWORD {quoted}')


def _exists(connection: Connection, relation: str) -> bool:
    found = connection.execute(text("SELECT to_regclass(:name)"), {"name": relation})
    return found.scalar_one() is not None


def _grant_where_present(
    connection: Connection, relation: str, privileges: str, roles: str, *, usage: str = ""
) -> None:
    """Grant on a table or view that migrations create (absent before the first migration,
    whose revision grants to the roles that exist then)."""
    if not _exists(connection, relation):
        return
    if usage:
        connection.execute(text(f'GRANT USAGE ON SCHEMA "{usage}" TO {roles}'))
    connection.execute(text(f"GRANT {privileges} ON {relation} TO {roles}"))


def _grant_membership(connection: Connection, role: str) -> None:
    """Let a non-superuser administrator SET ROLE to a service role (for its migrations)."""
    superuser = connection.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    ).scalar_one()
    if not superuser:
        connection.execute(text(f'GRANT "{role}" TO current_user'))


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _unavailable_when_disconnected(context: ExceptionContext) -> None:
    """Turn "cannot reach PostgreSQL" into DependencyUnavailable (SQL errors pass through)."""
    if context.is_pre_ping:
        return  # the pool invalidates the stale connection and connects anew
    connecting = context.connection is None
    if context.is_disconnect or (
        connecting and isinstance(context.sqlalchemy_exception, OperationalError | InterfaceError)
    ):
        raise DependencyUnavailable("データベースに接続できません") from context.original_exception
