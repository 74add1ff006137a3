"""Alembic script folders of the platform's own schemas, one subpackage per component.

`auth` (staff accounts) and `audit` (the audit log); run them with
`subsidy_platform.db.migrate(admin_url, component)`. Services keep theirs in
`subsidy_<service>.migrations`.
"""
