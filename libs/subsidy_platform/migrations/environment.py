"""The one Alembic environment every component's `env.py` runs (schema per component).

The migration runner (`subsidy_platform.db.migrate`) passes an open connection in
`config.attributes["connection"]`, whose transaction it owns; without one, a URL in
`sqlalchemy.url` is used. A transaction-scoped advisory lock per component lets several
processes migrate at once; the version table is kept in the component's own schema.
Platform schemas (auth, audit) are created here; a service's schema is created by
`provision_database` and owned by the service role, which runs its migrations and may
not create schemas.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text


def run_environment(schema: str, *, create_schema: bool) -> None:
    """Run the pending migrations of the component whose version table is in `schema`."""
    if context.is_offline_mode():
        raise RuntimeError(f"{schema} migrations run online only")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection, schema, create_schema)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(f"{schema} migrations need a connection or sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as own:
            _run(own, schema, create_schema)
    finally:
        engine.dispose()


def _run(connection: Connection, schema: str, create_schema: bool) -> None:
    connection.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"subsidy-migrations-{schema}"}
    )
    if create_schema:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table_schema=schema,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()
