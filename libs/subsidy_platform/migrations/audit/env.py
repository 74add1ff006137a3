"""Alembic environment of the `audit` schema (version table `audit.alembic_version`); see
subsidy_platform.migrations.environment."""

from subsidy_platform.migrations.environment import run_environment

run_environment("audit", create_schema=True)
