"""Alembic script folder of the audit log (schema `audit`, version table `audit.alembic_version`)."""
