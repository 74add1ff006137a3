"""Alembic environment of the `notices` schema (version table `notices.alembic_version`); see
subsidy_platform.migrations.environment. The schema itself is made by provision_database."""

from subsidy_platform.migrations.environment import run_environment

run_environment("notices", create_schema=False)
