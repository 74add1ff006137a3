"""Alembic environment of the `review` schema (version table `review.alembic_version`); see
subsidy_platform.migrations.environment. The schema itself is made by provision_database."""

from subsidy_platform.migrations.environment import run_environment

run_environment("review", create_schema=False)
