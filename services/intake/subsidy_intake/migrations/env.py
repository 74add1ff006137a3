"""Alembic environment of the `intake` schema (version table `intake.alembic_version`); see
subsidy_platform.migrations.environment. The schema itself is made by provision_database."""

from subsidy_platform.migrations.environment import run_environment

run_environment("intake", create_schema=False)
