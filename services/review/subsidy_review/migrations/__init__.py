"""Alembic migrations of the review schema."""
