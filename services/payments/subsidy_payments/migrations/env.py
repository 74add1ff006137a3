"""Alembic environment of the `payments` schema (version table `payments.alembic_version`);
see subsidy_platform.migrations.environment. The schema itself is made by provision_database."""

from subsidy_platform.migrations.environment import run_environment

run_environment("payments", create_schema=False)
