"""Alembic environment of the intake service: schema `intake`, version table `intake.alembic_version`.

The migration runner passes either an open connection (`config.attributes["connection"]`,
whose transaction it owns) or a URL (`sqlalchemy.url`). A transaction-scoped advisory
lock lets several processes migrate at once safely. The schema itself is created by
`subsidy_platform.db.provision_database` (owned by the service role, which runs these
migrations and may not create schemas).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text

SCHEMA = "intake"


def _run(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('subsidy-migrations-intake'))"))
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table_schema=SCHEMA,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the given connection, or a new one to `sqlalchemy.url`."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("intake migrations need a connection or sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("intake migrations run online only")
run_migrations_online()
