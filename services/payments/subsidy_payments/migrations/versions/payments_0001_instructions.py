"""The payments schema: grants, payment instructions, transfer batches, released files,
returns, applied events, and the outbox.

Revision ID: payments_0001
Revises:
Create Date: 2026-12-01

The database itself makes the incidents impossible, whatever the code does:
- one grant per application (`grants` primary key), its amount fixed;
- an instruction's amount is its grant's (composite FK to `grants`), positive, at most
  the program's cap and a multiple of its rounding unit (CHECK over `cap`/`unit` columns
  tied by a composite FK to `program_limits`);
- at most one live (not FAILED) instruction per grant and at most one PAID ever
  (partial unique indexes);
- an instruction is in a batch exactly when it is BATCHED, SENT or PAID (or FAILED after
  a return: its batch stays);
- a batch is released by someone other than its builder; a file's SHA-256 is released
  at most once, whatever batch carries it (`released_files` primary key).
Columns ending in `_ct` hold Vault ciphertext of the program's bank class.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from subsidy_platform.outbox import outbox_ddl

revision: str = "payments_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = (
    """
    CREATE TABLE payments.program_limits (
        program_id varchar(64) NOT NULL,
        cap bigint NOT NULL CHECK (cap > 0),
        unit bigint NOT NULL CHECK (unit > 0),
        PRIMARY KEY (program_id, cap, unit)
    )
    """,
    """
    CREATE TABLE payments.grants (
        application_number varchar(32) PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        amount bigint NOT NULL CHECK (amount > 0),
        decision_number varchar(64) NOT NULL,
        decided_on date NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (application_number, amount)
    )
    """,
    """
    CREATE TABLE payments.batches (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        request_id varchar(64) NOT NULL UNIQUE,
        transfer_date date NOT NULL,
        state varchar(16) NOT NULL DEFAULT 'BUILT'
            CHECK (state IN ('BUILT', 'RELEASED', 'CONFIRMED', 'CANCELLED')),
        count integer NOT NULL CHECK (count > 0),
        total bigint NOT NULL CHECK (total > 0),
        largest bigint NOT NULL,
        over_cap integer NOT NULL CHECK (over_cap = 0),
        file_sha256 char(64) NOT NULL,
        file_ct text,
        built_by varchar(128) NOT NULL,
        built_at timestamptz NOT NULL DEFAULT now(),
        released_by varchar(128) CHECK (released_by IS NULL OR released_by <> built_by),
        released_at timestamptz,
        release_request_id varchar(64),
        confirmed_on date,
        cancelled_by varchar(128),
        file_deleted_at timestamptz,
        CHECK ((state IN ('RELEASED', 'CONFIRMED')) = (released_by IS NOT NULL)),
        CHECK (state <> 'CONFIRMED' OR confirmed_on IS NOT NULL),
        CHECK (file_ct IS NOT NULL OR file_deleted_at IS NOT NULL)
    )
    """,
    """
    CREATE TABLE payments.released_files (
        file_sha256 char(64) PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        batch_id bigint NOT NULL UNIQUE REFERENCES payments.batches (id),
        released_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE payments.instructions (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        application_number varchar(32) NOT NULL,
        amount bigint NOT NULL,
        cap bigint NOT NULL,
        unit bigint NOT NULL,
        state varchar(16) NOT NULL DEFAULT 'PENDING'
            CHECK (state IN ('PENDING', 'BATCHED', 'SENT', 'PAID', 'FAILED')),
        batch_id bigint REFERENCES payments.batches (id),
        bank_code char(4) NOT NULL,
        branch_code char(3) NOT NULL,
        account_type varchar(16) NOT NULL,
        account_number_ct text NOT NULL,
        account_holder_ct text NOT NULL,
        account_version integer NOT NULL,
        failure_reason varchar(32),
        created_at timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (application_number, amount)
            REFERENCES payments.grants (application_number, amount),
        FOREIGN KEY (program_id, cap, unit)
            REFERENCES payments.program_limits (program_id, cap, unit),
        CHECK (amount > 0 AND amount <= cap AND amount % unit = 0),
        CHECK ((state = 'FAILED') = (failure_reason IS NOT NULL)),
        CHECK ((state = 'PENDING') = (batch_id IS NULL))
    )
    """,
    "CREATE UNIQUE INDEX uq_instructions_one_live ON payments.instructions "
    "(application_number) WHERE state <> 'FAILED'",
    "CREATE UNIQUE INDEX uq_instructions_one_paid ON payments.instructions "
    "(application_number) WHERE state = 'PAID'",
    "CREATE INDEX ix_instructions_pool ON payments.instructions (program_id, id) "
    "WHERE state = 'PENDING'",
    "CREATE INDEX ix_instructions_batch ON payments.instructions (batch_id)",
    """
    CREATE TABLE payments.return_imports (
        id bigserial PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        request_id varchar(64) NOT NULL UNIQUE,
        file_sha256 char(64) NOT NULL,
        rows integer NOT NULL,
        imported_by varchar(128) NOT NULL,
        imported_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (program_id, file_sha256)
    )
    """,
    """
    CREATE TABLE payments.applied_events (
        event_id varchar(200) PRIMARY KEY,
        program_id varchar(64) NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    )
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
    op.execute(outbox_ddl("payments"))


def downgrade() -> None:
    for table in (
        "outbox",
        "applied_events",
        "return_imports",
        "instructions",
        "released_files",
        "batches",
        "grants",
        "program_limits",
    ):
        op.execute(f"DROP TABLE payments.{table}")
