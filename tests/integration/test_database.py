"""Database roles, schemas and the migration runner against a real PostgreSQL."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import ProgrammingError

from subsidy_platform.db import database_url_for, make_engine, migrate, provision_database
from subsidy_platform.errors import DependencyUnavailable


@pytest.fixture
def database_url(admin_database_url: str) -> Iterator[str]:
    """A fresh database of this test, provisioned (roles and schemas)."""
    name = f"db_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_database_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_database_url).set(database=name).render_as_string(hide_password=False)
    provision_database(url)
    provision_database(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def as_intake(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url_for(database_url, "svc_intake"))
    yield engine
    engine.dispose()


def run(engine: Engine, statement: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement))


def test_a_service_may_add_and_read_audit_rows_but_never_change_or_delete_them(
    database_url: str, as_intake: Engine
) -> None:
    admin = make_engine(database_url)
    run(admin, "CREATE TABLE audit.scratch (id bigserial PRIMARY KEY, note text NOT NULL)")
    run(admin, "INSERT INTO audit.scratch (note) VALUES ('by the administrator')")
    admin.dispose()
    run(as_intake, "INSERT INTO audit.scratch (note) VALUES ('by intake')")
    with as_intake.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit.scratch")).scalar_one() == 2
    for statement in (
        "UPDATE audit.scratch SET note = 'rewritten'",
        "DELETE FROM audit.scratch",
        "TRUNCATE audit.scratch",
        "DROP TABLE audit.scratch",
        "CREATE TABLE audit.mine (id int)",
    ):
        with pytest.raises(ProgrammingError, match=r"permission denied|must be owner"):
            run(as_intake, statement)


def test_a_service_owns_its_schema_and_cannot_touch_another_services_schema(
    database_url: str, as_intake: Engine
) -> None:
    as_review = make_engine(database_url, role="svc_review")
    run(as_review, "CREATE TABLE review.scratch_transfers (id int PRIMARY KEY)")
    as_review.dispose()
    run(as_intake, "CREATE TABLE intake.applications (id int PRIMARY KEY)")
    run(as_intake, "INSERT INTO intake.applications VALUES (1)")
    for statement in (
        "SELECT * FROM review.scratch_transfers",
        "INSERT INTO review.scratch_transfers VALUES (1)",
        "CREATE TABLE review.mine (id int)",
        "SELECT * FROM auth.alembic_version",
    ):
        with pytest.raises(ProgrammingError, match="permission denied"):
            run(as_intake, statement)
    with make_engine(database_url).connect() as connection:
        owner = connection.execute(
            text("SELECT tableowner FROM pg_tables WHERE schemaname = 'intake'")
        ).scalar_one()
    assert owner == "svc_intake"


def test_the_platform_migrations_run_twice_without_change(database_url: str) -> None:
    for _ in range(2):
        migrate(database_url, "auth")
        migrate(database_url, "audit")
    with make_engine(database_url).connect() as connection:
        versions = [
            connection.execute(text(f"SELECT count(*) FROM {schema}.alembic_version")).scalar_one()
            for schema in ("auth", "audit")
        ]
    assert versions == [1, 1]


def test_a_components_migrations_are_found_by_package_and_applied_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    component = f"scratch{uuid.uuid4().hex[:8]}"
    folder = tmp_path / f"subsidy_{component}" / "migrations"
    (folder / "versions").mkdir(parents=True)
    (folder.parent / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    (folder / "env.py").write_text(
        textwrap.dedent(
            f"""
            from alembic import context
            from sqlalchemy import text

            connection = context.config.attributes["connection"]
            connection.execute(text("CREATE SCHEMA IF NOT EXISTS {component}"))
            context.configure(connection=connection, version_table_schema="{component}")
            with context.begin_transaction():
                context.run_migrations()
            """
        )
    )
    (folder / "versions" / "first.py").write_text(
        textwrap.dedent(
            f"""
            from alembic import op

            revision = "first"
            down_revision = None
            branch_labels = None
            depends_on = None

            def upgrade():
                op.execute("CREATE TABLE {component}.things (id int PRIMARY KEY)")
                op.execute("INSERT INTO {component}.things VALUES (1)")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    migrate(database_url, component)
    migrate(database_url, component)
    with make_engine(database_url).connect() as connection:
        assert (
            connection.execute(text(f"SELECT count(*) FROM {component}.things")).scalar_one() == 1
        )
        assert (
            connection.execute(
                text(f"SELECT version_num FROM {component}.alembic_version")
            ).scalar_one()
            == "first"
        )
    for module in [m for m in sys.modules if m.startswith(f"subsidy_{component}")]:
        del sys.modules[module]


def test_an_unreachable_database_is_a_dependency_unavailable(tmp_path: Path) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@/postgres?host={tmp_path}&port=5432")
    with pytest.raises(DependencyUnavailable), engine.connect():
        pass
    engine.dispose()


def test_a_missing_migrations_package_is_reported(database_url: str) -> None:
    with pytest.raises(LookupError):
        migrate(database_url, "nonexistent")
