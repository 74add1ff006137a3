"""Append-only, hash-chained audit log of access to personal data (DESIGN.md principle 7).

Every read or change of personal data is written as one row of `audit.events`: when, who,
with which role, through which service and RPC, what was done (`action`), to which
application, which fields, why (`purpose`, required to unmask or export) and the trace id; an
administrator's change to a staff account also names that account (`target`, its login).
DOMAIN.md ("Controls") asks that access logs be kept and analysed regularly: `search` serves
the auditor, `summarise` counts activity per actor, action and RPC, and `verify` proves the log
is complete and unaltered.

The chain. Row `seq` stores `prev_hash` (the hash of row `seq - 1`, or 64 zeros for the first
row) and `hash = sha256(canonical JSON of every column but hash)`; `target`, added later, is
part of the document only when set, so rows written before it existed keep their hashes. `seq` is assigned from the
one-row table `audit.chain_head`, locked `FOR UPDATE` by `record` and advanced in the caller's
transaction, so appends are serialised (the chain never forks) and the sequence has no gaps (a
rolled-back transaction returns its number, unlike a PostgreSQL sequence); a gap therefore
means a removed row. `verify` streams the table in `seq` order and reports the first altered
row (hash mismatch), removed row (gap or broken `prev_hash` link), re-ordered or substituted row
(broken link) and truncated tail (rows missing behind `chain_head`).

Each writer only its own (migration audit_0004). Every row records the database login that
appended it (`written_by`, hashed): the database refuses a row whose writer is not the
session's login, a login that is not a service's (`svc_<service>`) and an event whose
`service` is not the login's own, so no login can write another service's events (the human
actor is the serving service's to name). `verify` reports a row whose writer is not its
service's login and a row without a writer after rows with one.

Append-only. The service roles may only INSERT and SELECT events; a trigger refuses UPDATE,
DELETE and TRUNCATE even for the table owner, and `chain_head` may only move forward to a row
that exists. Someone with database-administrator rights can still disable the triggers and
rewrite the chain consistently, delete its newest rows and move the head back, or empty it:
the database alone cannot prove otherwise. What it checks against comes from outside: anchors
(`seq -> hash` kept elsewhere, e.g. `VerifyResult.anchor` printed by `subsidy-admin audit
verify` into the operations ledger) and the signed checkpoints of
subsidy_platform.checkpoints, which `verify` takes as anchors. `verify(start=(seq, hash))`
checks only what follows a checkpoint (for the checkpoint writer).

`record` joins the caller's transaction: a rolled-back business write leaves no audit row, and
a failed audit write rolls back the business write. It holds the chain lock until commit, so
call it as the last statement of the transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from opentelemetry import trace
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

SCHEMA = "audit"
GENESIS_HASH = "0" * 64
MAX_SEARCH_LIMIT = 1000

metadata = MetaData(schema=SCHEMA)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("rpc", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("application_id", Text),
    Column("fields", ARRAY(Text), nullable=False),
    Column("purpose", Text),
    Column("trace_id", Text),
    Column("target", Text),
    Column("written_by", Text),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
)

chain_head = Table(
    "chain_head",
    metadata,
    Column("id", Boolean, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", Text, nullable=False),
)

HASHED_COLUMNS = (
    "seq",
    "at",
    "actor",
    "role",
    "service",
    "rpc",
    "action",
    "application_id",
    "fields",
    "purpose",
    "trace_id",
    "prev_hash",
)
OPTIONAL_HASHED_COLUMNS = ("target", "written_by")
"""Columns added later (migrations audit_0003, audit_0004): hashed only when set, so that every
row written before they existed keeps its hash."""

LOGIN_PREFIX = "svc_"
"""A service's database login is `svc_<service>` (subsidy_platform.db.service_roles)."""

_ACTION_PATTERN = re.compile(r"^[a-z][a-z_]*$")


class Action(StrEnum):
    """What was done with personal data; other lower-case words are accepted too."""

    READ = "read"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    UNMASK = "unmask"
    EXPORT = "export"
    IMPORT = "import"
    PRINT = "print"
    DECRYPT = "decrypt"


PURPOSE_REQUIRED = frozenset({Action.UNMASK.value, Action.EXPORT.value})


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One access to personal data, as the service saw it.

    `fields` names the fields touched (never their values). `at` is the database clock at
    append time unless given (e.g. for events imported from elsewhere; must carry a time zone).
    `trace_id` defaults to the current span's trace id.
    """

    actor: str
    role: str
    service: str
    rpc: str
    action: str
    application_id: str | None = None
    fields: tuple[str, ...] = ()
    purpose: str | None = None
    trace_id: str | None = None
    at: datetime | None = None
    target: str | None = None
    """The staff account an administrator's change was made to (its login), else None."""

    def __post_init__(self) -> None:
        for name in ("actor", "role", "service", "rpc"):
            if not getattr(self, name):
                raise ValueError(f"audit event needs a non-empty {name}")
        if not _ACTION_PATTERN.match(self.action):
            raise ValueError(f"audit action must be a lower-case word: {self.action!r}")
        object.__setattr__(self, "fields", tuple(self.fields))
        if not all(isinstance(name, str) and name for name in self.fields):
            raise ValueError("audit fields must be non-empty field names")
        if self.action in PURPOSE_REQUIRED and not (self.purpose and self.purpose.strip()):
            raise ValueError(f"audit action {self.action!r} requires a purpose")
        if self.at is not None and self.at.utcoffset() is None:
            raise ValueError("audit event time must carry a time zone")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An event as stored in the chain."""

    seq: int
    at: datetime
    actor: str
    role: str
    service: str
    rpc: str
    action: str
    application_id: str | None
    fields: tuple[str, ...]
    purpose: str | None
    trace_id: str | None
    prev_hash: str
    hash: str
    target: str | None = None
    written_by: str | None = None
    """The database login that appended the row (None: appended before audit_0004)."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of `verify`.

    `rows` counts the rows found intact before the first break (all rows when `ok`);
    `head_hash` is the hash of the last intact row, worth keeping outside the database as
    an anchor for later runs.
    """

    ok: bool
    rows: int
    first_broken_seq: int | None
    problem: str | None
    head_hash: str | None = None

    @property
    def anchor(self) -> str:
        """The last intact row as `SEQ:HASH`, the form `subsidy-admin audit verify --anchor`
        takes (`0:<64 zeros>` for an empty chain)."""
        return f"{self.rows}:{self.head_hash or GENESIS_HASH}"


@dataclass(frozen=True, slots=True)
class ActivityCount:
    """How many events one actor produced with one role, action and RPC."""

    actor: str
    role: str
    action: str
    rpc: str
    count: int


@dataclass(frozen=True, slots=True)
class AuditSummary:
    """Activity in the half-open period [since, until) for the regular review."""

    since: datetime
    until: datetime
    total: int
    activity: tuple[ActivityCount, ...] = field(default_factory=tuple)


def record(session: Session | Connection, event: AuditEvent) -> int:
    """Append one event in the caller's transaction; returns its seq."""
    return record_many(session, [event])[0]


def record_many(session: Session | Connection, batch: Sequence[AuditEvent]) -> list[int]:
    """Append events in order in the caller's transaction; returns their seqs."""
    if not batch:
        return []
    head = session.execute(
        select(chain_head.c.last_seq, chain_head.c.last_hash)
        .where(chain_head.c.id.is_(True))
        .with_for_update()
    ).one()
    now, writer = session.execute(select(func.clock_timestamp(), func.session_user())).one()
    seq, prev_hash = int(head.last_seq), str(head.last_hash)
    current_trace = _current_trace_id()
    rows: list[dict[str, Any]] = []
    for event in batch:
        seq += 1
        row: dict[str, Any] = {
            "seq": seq,
            "at": event.at if event.at is not None else now,
            "actor": event.actor,
            "role": event.role,
            "service": event.service,
            "rpc": event.rpc,
            "action": event.action,
            "application_id": event.application_id,
            "fields": list(event.fields),
            "purpose": event.purpose,
            "trace_id": event.trace_id if event.trace_id is not None else current_trace,
            "target": event.target,
            "written_by": writer,
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = row_hash(row)
        rows.append(row)
    session.execute(insert(events), rows)
    session.execute(
        update(chain_head)
        .where(chain_head.c.id.is_(True))
        .values(last_seq=seq, last_hash=prev_hash)
    )
    return [row["seq"] for row in rows]


def row_hash(row: Mapping[Any, Any]) -> str:
    """sha256 (hex) of the canonical JSON of a row's hashed columns."""
    document = {name: _canonical_value(name, row[name]) for name in HASHED_COLUMNS}
    for name in OPTIONAL_HASHED_COLUMNS:
        if row.get(name) is not None:
            document[name] = row[name]
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def verify(
    bind: Engine | Connection,
    *,
    anchors: Mapping[int, str] | None = None,
    batch_size: int = 1000,
    start: tuple[int, str] | None = None,
) -> VerifyResult:
    """Check the whole chain in seq order with constant memory.

    With an Engine the check runs in one read-only REPEATABLE READ transaction, so appends
    made meanwhile are neither half-seen nor reported. `anchors` maps seqs to hashes recorded
    earlier outside the database: a row whose hash differs means the chain was rewritten, an
    anchor beyond the last row that rows were deleted. With `start` (the seq and hash of a
    row verified earlier, a checkpoint) only the rows after it are checked, and `rows` counts
    the rows up to it as intact.
    """
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                connection.execute(text("SET TRANSACTION READ ONLY"))
                return _verify(connection, anchors or {}, batch_size, start)
    return _verify(bind, anchors or {}, batch_size, start)


def _verify(
    connection: Connection,
    anchors: Mapping[int, str],
    batch_size: int,
    start: tuple[int, str] | None,
) -> VerifyResult:
    head = connection.execute(select(chain_head.c.last_seq, chain_head.c.last_hash)).first()
    if head is None:
        return VerifyResult(False, 0, 1, "chain_head の行がありません")
    head_seq, head_hash = int(head.last_seq), str(head.last_hash)
    expected_seq, prev_hash, rows = 1, GENESIS_HASH, 0
    query = select(events).order_by(events.c.seq)
    if start is not None and start[0] > 0:
        start_seq, start_hash = start
        found = connection.execute(
            select(events.c.hash).where(events.c.seq == start_seq)
        ).scalar_one_or_none()
        if found is None:
            problem = f"確認済みの seq {start_seq} の行がありません（行が削除されています）"
            return VerifyResult(False, 0, start_seq, problem, None)
        if found != start_hash:
            problem = f"seq {start_seq} のハッシュが確認済みの値と一致しません（履歴の書き換え）"
            return VerifyResult(False, 0, start_seq, problem, None)
        expected_seq, prev_hash, rows = start_seq + 1, start_hash, start_seq
        query = query.where(events.c.seq > start_seq)
    result = connection.execute(
        query, execution_options={"stream_results": True, "yield_per": batch_size}
    )
    bound = False
    try:
        for row in result.mappings():
            broken = _check_row(row, expected_seq, prev_hash, anchors) or _check_writer(row, bound)
            if broken is not None:
                return VerifyResult(False, rows, broken[0], broken[1], prev_hash)
            bound = bound or row["written_by"] is not None
            rows += 1
            expected_seq, prev_hash = int(row["seq"]) + 1, str(row["hash"])
    finally:
        result.close()
    last_seq = expected_seq - 1
    if head_seq > last_seq:
        problem = (
            f"末尾の行がありません: chain_head は seq {head_seq} を指していますが、"
            f"最後の行は seq {last_seq} です"
        )
        return VerifyResult(False, rows, last_seq + 1, problem, prev_hash)
    if head_seq < last_seq:
        problem = f"seq {head_seq + 1} 以降の行は記録手順を経ずに追加されています"
        return VerifyResult(False, rows, head_seq + 1, problem, prev_hash)
    if head_hash != prev_hash:
        problem = f"chain_head のハッシュが seq {last_seq} の行と一致しません"
        return VerifyResult(False, rows, last_seq, problem, prev_hash)
    missing_anchor = next((seq for seq in sorted(anchors) if seq > last_seq), None)
    if missing_anchor is not None:
        problem = (
            f"記録済みのアンカー（署名済みチェックポイント）は seq {missing_anchor} までの行を"
            f"示していますが、行は seq {last_seq} までしかありません（行が削除されています）"
        )
        return VerifyResult(False, rows, last_seq + 1, problem, prev_hash)
    return VerifyResult(True, rows, None, None, prev_hash)


def _check_row(
    row: Mapping[Any, Any], expected_seq: int, prev_hash: str, anchors: Mapping[int, str]
) -> tuple[int, str] | None:
    seq = int(row["seq"])
    if seq != expected_seq:
        return (
            expected_seq,
            f"seq {expected_seq} から {seq - 1} の行がありません（削除されています）",
        )
    if row["prev_hash"] != prev_hash:
        return seq, (
            f"seq {seq} の prev_hash が直前の行のハッシュと一致しません"
            "（行の削除・並べ替え・差し替え）"
        )
    if row_hash(row) != row["hash"]:
        return seq, f"seq {seq} の内容がハッシュと一致しません（行が改ざんされています）"
    if seq in anchors and anchors[seq] != row["hash"]:
        return seq, (
            f"seq {seq} のハッシュが記録済みのアンカー（署名済みチェックポイント）と一致しません"
            "（履歴の書き換え）"
        )
    return None


def login_of(service: str) -> str:
    """The database login that may append `service`'s events (`svc_<service>`)."""
    return f"{LOGIN_PREFIX}{service}"


def _check_writer(row: Mapping[Any, Any], bound: bool) -> tuple[int, str] | None:
    """A row whose writer is not its service's login, or that names no writer after rows that
    do (the database binds every row since migration audit_0004)."""
    seq, writer, service = int(row["seq"]), row["written_by"], row["service"]
    if writer is None:
        if bound:
            return seq, (
                f"seq {seq} に書き込んだログインの記録がありません（記録手順を経ずに追加された行）"
                " / the row names no writer"
            )
        return None
    if writer != login_of(str(service)):
        return seq, (
            f"seq {seq} はサービス {service} の記録ですが、ログイン {writer} が書き込んでいます"
            f"（別のサービスの名義） / written by {writer}, not by the login of {service}"
        )
    return None


def search(
    session: Session | Connection,
    *,
    application_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[AuditRecord]:
    """Events matching every given criterion, newest first; page with `before_seq`."""
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_SEARCH_LIMIT}")
    query = select(events).order_by(events.c.seq.desc()).limit(limit)
    if application_id is not None:
        query = query.where(events.c.application_id == application_id)
    if actor is not None:
        query = query.where(events.c.actor == actor)
    if since is not None:
        query = query.where(events.c.at >= since)
    if until is not None:
        query = query.where(events.c.at < until)
    if before_seq is not None:
        query = query.where(events.c.seq < before_seq)
    return [_to_record(row) for row in session.execute(query).mappings()]


def summarise(session: Session | Connection, since: datetime, until: datetime) -> AuditSummary:
    """Counts per actor, role, action and RPC in [since, until), largest first."""
    count = func.count().label("count")
    query = (
        select(events.c.actor, events.c.role, events.c.action, events.c.rpc, count)
        .where(events.c.at >= since, events.c.at < until)
        .group_by(events.c.actor, events.c.role, events.c.action, events.c.rpc)
        .order_by(count.desc(), events.c.actor, events.c.action, events.c.rpc)
    )
    activity = tuple(
        ActivityCount(row["actor"], row["role"], row["action"], row["rpc"], int(row["count"]))
        for row in session.execute(query).mappings()
    )
    return AuditSummary(since, until, sum(item.count for item in activity), activity)


def _canonical_value(name: str, value: Any) -> Any:
    if name == "at":
        if not isinstance(value, datetime):
            raise TypeError("audit time must be a datetime")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if name == "fields":
        return list(value)
    return value


def _to_record(row: Mapping[Any, Any]) -> AuditRecord:
    values = dict(row)
    values["fields"] = tuple(values["fields"])
    return AuditRecord(**values)


def _current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None
