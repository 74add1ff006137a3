"""Alembic script folder of staff accounts (schema `auth`, version table `auth.alembic_version`)."""
