"""Alembic environment of the `auth` schema (version table `auth.alembic_version`); see
subsidy_platform.migrations.environment."""

from subsidy_platform.migrations.environment import run_environment

run_environment("auth", create_schema=True)
