"""Platform maintenance served by every declared service: purging a program (issue 9), and
the administrator's view and requeue of the service's parked outbox events (issue 15).

At the end of a contract the operator erases a program (the seed: "return and erase, with a
written report"). After destroying the program's Vault keys it asks every service, over
mutual TLS under its own certificate (`operator`), to `PurgeProgram`; only the grant
`service:operator` may call it (`MAINTENANCE_TABLE`, added to every declared service's
table by the process skeleton, never to the declaration itself).

The purge, in the service's own schema and in one transaction:

1. takes the erasure's advisory lock `erasure:<id>`, then reads the erasure's receipt
   (`purge_receipts`, below): a repeated erasure id ends here;
2. takes the program's advisory lock `program:<id>` exclusively (a submission or import
   holding it finishes first; none starts meanwhile), and refuses (FAILED_PRECONDITION,
   naming what and how many) while the service's own data shows the program still in
   progress (its declaration's `erasure_blockers`: payments' transfers not yet confirmed
   or repayment claims open, notices not yet mailed, an application period still open):
   the operator's certificate alone cannot erase a live program. `check_only` asks the
   same question and deletes nothing, so that the operator can ask every service before it
   destroys any key;
3. reads the schema's tables, which of them have a `program_id` column, and the foreign
   keys between them from `pg_catalog`;
4. purges every table with a `program_id` column (`WHERE program_id = :program`: the
   outbox and the processed-event and command tables included, issue 20) and every table
   referencing a purged one (its rows whose key points at a purged row), children before
   parents (the reverse topological order of the foreign-key graph);
5. records the answer in `purge_receipts` under the erasure id, and appends an audit event
   (action `purge`) whose fields are `schema.table=rows`, one per table purged (never a
   value), with the erasure id and the program in its purpose.

A lost reply is never answered with zero rows. The operator retries a purge whose answer it
did not get (the connection cut after the commit) with the same erasure id; the service
then returns the answer recorded at the first call (`repeated`, `purged_at` of the first
call), audited as `purge_repeat` with the same fields. The same erasure id for another
program is refused (FAILED_PRECONDITION) and nothing is deleted. A new erasure id for a
program already purged deletes nothing and answers zero counts.

Kept tables are named with why (`KEPT_REASONS`): Alembic's version table and the purge
receipts hold no program's data (a receipt holds table names and counts, under the column
`erased_program`, which the purge does not select); a table with neither `program_id` nor
a reference to a purged row holds no program's rows (notices' document-number series); an
append-only ledger (a table with a BEFORE DELETE trigger, such as review's handover ledger
管理簿, which records who handed what over and when, never personal data) is refused its
deletion by the database by design, so it is kept and named as kept; the rows referencing
it are purged. The audit log (schema `audit`) lies outside every service's schema and is
kept by every erasure: the operator's certificate says so.

Parked events (subsidy_platform.outbox: refused for good by their receiver) are an alarm that
only staff role `admin` handles, over the same service: `GetOutboxStatus` counts each
destination's pending, failing, parked and delivered events, `ListParkedEvents` lists the
parked ones (key, topic, destination, times, status code name; never the payload), and
`RequeueParked` makes them due again once the cause is fixed: bounded, checked before any
work, all or nothing and audited (subsidy_platform.outbox_admin). A refused value is never
repeated in the answer.
"""

from __future__ import annotations

import graphlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from subsidy.maintenance.v1 import maintenance_pb2, maintenance_pb2_grpc

from subsidy_platform.access import current_principal
from subsidy_platform.declaration import declarations
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import identifier
from subsidy_platform.outbox import destination_status, parked_events
from subsidy_platform.outbox_admin import (
    MAX_LIST,
    REQUEUE_METHOD,
    checked_destination,
    destinations_of,
    requeue,
    requeue_command,
    rfc3339,
)
from subsidy_platform.server import Registration
from subsidy_platform.servicing import rpc_errors
from subsidy_platform.unit_of_work import UnitOfWork

OPERATOR_IDENTITY = "operator"
"""The operator's certificate common name: the only caller of the maintenance RPCs."""
SERVICE_NAME = "subsidy.maintenance.v1.MaintenanceService"
PURGE_METHOD = f"/{SERVICE_NAME}/PurgeProgram"
STATUS_METHOD = f"/{SERVICE_NAME}/GetOutboxStatus"
LIST_PARKED_METHOD = f"/{SERVICE_NAME}/ListParkedEvents"
MAINTENANCE_TABLE: Mapping[str, frozenset[str]] = {
    PURGE_METHOD: frozenset({f"service:{OPERATOR_IDENTITY}"}),
    STATUS_METHOD: frozenset({"admin"}),
    LIST_PARKED_METHOD: frozenset({"admin"}),
    REQUEUE_METHOD: frozenset({"admin"}),
}
PROGRAM_COLUMN = "program_id"
RECEIPTS = "purge_receipts"
MESSAGE_IN_PROGRESS = "この制度はまだ消去できません"
PURGE_ACTION = "purge"
REPEAT_ACTION = "purge_repeat"
RETENTION_ACTION = "retention_purge"
"""Audit actions of a purge, of a repeated erasure id, and of a retention purge (notices'
print data, payments' transfer files); their counts are fields `schema.item=rows`, which the
access-audit dashboard sums (k8s/base/observability/dashboards/access-audit.json)."""
KEPT_REASONS: Mapping[str, str] = {
    "alembic_version": "schema version of the migrations; holds no program's data",
    RECEIPTS: "the erasures' answers (table names and row counts, no personal data); "
    "a repeated erasure id is answered from it",
}
APPEND_ONLY_REASON = (
    "append-only ledger (the database refuses deletion): who handed what over and when, "
    "no personal data; the rows referencing it are purged"
)
UNRELATED_REASON = "no program_id column and no reference to a program's row: no program data"


def purge_receipts_ddl(schema: str) -> str:
    """The CREATE TABLE statement of a service's purge receipts (for its migration).

    `erased_program`, not `program_id`: the purge keeps its own receipts."""
    if not schema.isidentifier() or not schema.islower():
        raise ValueError("schema must be a lower-case identifier")
    return f"""
        CREATE TABLE {schema}.{RECEIPTS} (
            erasure_id varchar(64) PRIMARY KEY,
            erased_program varchar(64) NOT NULL,
            answer jsonb NOT NULL,
            purged_at timestamptz NOT NULL DEFAULT now()
        )
    """


_TABLES = text(
    "SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
    "AND a.attname = :column AND a.attnum > 0 AND NOT a.attisdropped) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') ORDER BY c.relname"
)
_FOREIGN_KEYS = text(
    "SELECT child.relname, parent.relname, "
    "ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i) "
    "  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i), "
    "ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i) "
    "  JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i) "
    "FROM pg_constraint k JOIN pg_class child ON child.oid = k.conrelid "
    "JOIN pg_class parent ON parent.oid = k.confrelid "
    "JOIN pg_namespace n ON n.oid = child.relnamespace "
    "JOIN pg_namespace pn ON pn.oid = parent.relnamespace "
    "WHERE k.contype = 'f' AND n.nspname = :schema AND pn.nspname = :schema "
    "ORDER BY child.relname, k.conname"
)


_APPEND_ONLY = text(
    "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema "
    "AND NOT t.tgisinternal AND (t.tgtype & 2) <> 0 AND (t.tgtype & 8) <> 0"
)  # BEFORE (2) DELETE (8) triggers of the schema's tables: append-only ledgers


@dataclass(frozen=True)
class ForeignKey:
    child: str
    parent: str
    child_columns: tuple[str, ...]
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class PurgePlan:
    """What one schema's purge deletes, in order, and the predicate of each table."""

    order: tuple[str, ...]
    predicates: Mapping[str, str]
    kept: tuple[str, ...]
    append_only: frozenset[str] = frozenset()

    def reason(self, table: str) -> str:
        """Why a kept table is kept."""
        if table in self.append_only:
            return APPEND_ONLY_REASON
        return KEPT_REASONS.get(table, UNRELATED_REASON)


def plan_purge(
    schema: str,
    tables: Mapping[str, bool],
    foreign_keys: list[ForeignKey],
    append_only: frozenset[str] = frozenset(),
) -> PurgePlan:
    """The purge plan of a schema from its tables (name -> has program_id) and foreign keys.

    Pure: the order is children first; a table without `program_id` is purged through the
    foreign keys pointing at the program's rows. Append-only tables are kept (their rows
    still select the rows referencing them). A cycle between purged tables is refused.
    """
    predicates: dict[str, str] = {
        name: f"{PROGRAM_COLUMN} = :program" for name, has in tables.items() if has
    }
    changed = True
    while changed:
        changed = False
        for name in tables:
            if name in predicates:
                continue
            links = [
                f"({', '.join(fk.child_columns)}) IN (SELECT {', '.join(fk.parent_columns)} "
                f"FROM {schema}.{fk.parent} WHERE {predicates[fk.parent]})"
                for fk in foreign_keys
                if fk.child == name and fk.parent in predicates and fk.parent != name
            ]
            if links:
                predicates[name] = " OR ".join(links)
                changed = True
    graph: dict[str, set[str]] = {name: set() for name in predicates}
    for fk in foreign_keys:
        if fk.child in predicates and fk.parent in predicates and fk.child != fk.parent:
            graph[fk.parent].add(fk.child)  # a parent goes after its children
    order = tuple(
        t for t in graphlib.TopologicalSorter(graph).static_order() if t not in append_only
    )
    kept = tuple(sorted(set(tables) - set(order)))
    return PurgePlan(order, predicates, kept, append_only & set(tables))


def read_plan(session: Session, schema: str) -> PurgePlan:
    """The purge plan of `schema` as the catalog describes it now."""
    tables = {
        str(name): bool(has)
        for name, has in session.execute(_TABLES, {"schema": schema, "column": PROGRAM_COLUMN})
    }
    keys = [
        ForeignKey(str(child), str(parent), tuple(child_columns), tuple(parent_columns))
        for child, parent, child_columns, parent_columns in session.execute(
            _FOREIGN_KEYS, {"schema": schema}
        )
    ]
    append_only = frozenset(
        str(name) for (name,) in session.execute(_APPEND_ONLY, {"schema": schema})
    )
    return plan_purge(schema, tables, keys, append_only)


@dataclass(frozen=True)
class PurgeResult:
    service: str
    tables: tuple[tuple[str, int], ...]
    kept: tuple[tuple[str, str], ...]
    """(schema.table, why it is kept)"""
    purged_at: datetime
    repeated: bool = False

    @property
    def total(self) -> int:
        return sum(rows for _, rows in self.tables)

    def answer(self) -> dict[str, object]:
        """What `purge_receipts` records (and a repeat returns)."""
        return {
            "service": self.service,
            "tables": [[t, n] for t, n in self.tables],
            "kept": [[t, r] for t, r in self.kept],
        }

    def audited_fields(self) -> list[str]:
        """The audit event's fields: `schema.table=rows` per table purged."""
        return [f"{t}={n}" for t, n in self.tables] or [f"{self.service}.none=0"]


def _recorded(answer: object, purged_at: datetime) -> PurgeResult:
    raw = answer if isinstance(answer, dict) else json.loads(str(answer))
    return PurgeResult(
        str(raw["service"]),
        tuple((str(t), int(n)) for t, n in raw["tables"]),
        tuple((str(t), str(r)) for t, r in raw["kept"]),
        purged_at,
        repeated=True,
    )


def refuse_while_in_progress(session: Session, service: str, program_id: str) -> None:
    """Conflict naming what of the program is still in progress in the service's own data
    (its declaration's `erasure_blockers`), if anything."""
    declared = declarations().get(service)
    if declared is None or declared.erasure_blockers is None:
        return
    blockers = list(declared.erasure_blockers(session, program_id))
    if blockers:
        raise Conflict(f"{MESSAGE_IN_PROGRESS}: {'、'.join(blockers)}")


def check_erasure(sessions: sessionmaker[Session], service: str, program_id: str) -> None:
    """Whether the service may purge the program now (Conflict naming why not); deletes
    nothing."""
    with UnitOfWork(sessions, service, lambda session: session)() as work:
        refuse_while_in_progress(work.session, service, program_id)


def purge_program(
    sessions: sessionmaker[Session], service: str, program_id: str, erasure_id: str
) -> PurgeResult:
    """Delete every row of `program_id` in `service`'s schema, in one transaction, audited;
    a repeated `erasure_id` returns the recorded answer (module docstring)."""
    uow = UnitOfWork(sessions, service, lambda session: session)
    purpose = f"erasure {erasure_id} of program {program_id}"
    with uow() as work:
        work.lock(f"erasure:{erasure_id}")
        receipt = work.session.execute(
            text(
                f"SELECT erased_program, answer, purged_at FROM {service}.{RECEIPTS} "
                "WHERE erasure_id = :e"
            ),
            {"e": erasure_id},
        ).one_or_none()
        if receipt is not None:
            if receipt[0] != program_id:
                raise Conflict("erasure_id は別の制度の消去に使われています")
            result = _recorded(receipt[1], receipt[2])
            work.audit(
                current_principal(),
                PURGE_METHOD,
                REPEAT_ACTION,
                application=None,
                fields=result.audited_fields(),
                purpose=f"{purpose} (repeated: the recorded answer)",
            )
            return result
        work.lock(f"program:{program_id}")
        refuse_while_in_progress(work.session, service, program_id)
        plan = read_plan(work.session, service)
        counts: list[tuple[str, int]] = []
        for table in plan.order:
            deleted = work.session.execute(
                text(f"DELETE FROM {service}.{table} WHERE {plan.predicates[table]}"),
                {"program": program_id},
            )
            counts.append((f"{service}.{table}", int(deleted.rowcount or 0)))  # type: ignore[attr-defined]
        result = PurgeResult(
            service,
            tuple(counts),
            tuple((f"{service}.{t}", plan.reason(t)) for t in plan.kept),
            datetime.now(UTC),
        )
        work.session.execute(
            text(
                f"INSERT INTO {service}.{RECEIPTS} (erasure_id, erased_program, answer, "
                "purged_at) VALUES (:e, :p, CAST(:a AS jsonb), :at)"
            ),
            {
                "e": erasure_id,
                "p": program_id,
                "a": json.dumps(result.answer(), ensure_ascii=False),
                "at": result.purged_at,
            },
        )
        work.audit(
            current_principal(),
            PURGE_METHOD,
            PURGE_ACTION,
            application=None,
            fields=result.audited_fields(),
            purpose=purpose,
        )
    return result


class MaintenanceServicer(maintenance_pb2_grpc.MaintenanceServiceServicer):
    """The maintenance RPCs of one service process."""

    def __init__(self, sessions: sessionmaker[Session], service: str) -> None:
        self._sessions = sessions
        self._service = service

    @rpc_errors()
    def PurgeProgram(
        self, request: maintenance_pb2.PurgeProgramRequest, context: grpc.ServicerContext
    ) -> maintenance_pb2.PurgeProgramResponse:
        program = identifier("program_id", request.program_id)
        erasure = identifier("erasure_id", request.erasure_id)
        if request.check_only:
            check_erasure(self._sessions, self._service, program)
            return maintenance_pb2.PurgeProgramResponse(service=self._service)
        result = purge_program(self._sessions, self._service, program, erasure)
        return maintenance_pb2.PurgeProgramResponse(
            service=result.service,
            tables=[maintenance_pb2.TablePurge(table=t, rows=n) for t, n in result.tables],
            total_rows=result.total,
            kept_tables=[t for t, _ in result.kept],
            kept=[maintenance_pb2.KeptTable(table=t, reason=r) for t, r in result.kept],
            repeated=result.repeated,
            purged_at=rfc3339(result.purged_at),
        )

    def _read(self) -> UnitOfWork[Session]:
        return UnitOfWork(self._sessions, self._service, lambda session: session)

    @rpc_errors()
    def GetOutboxStatus(
        self, request: maintenance_pb2.GetOutboxStatusRequest, context: grpc.ServicerContext
    ) -> maintenance_pb2.GetOutboxStatusResponse:
        with self._read()() as work:
            found = {d.destination: d for d in destination_status(work.session, self._service)}
        names = sorted(set(destinations_of(self._service)) | set(found))
        rows = [
            maintenance_pb2.DestinationStatus(
                destination=name,
                pending=found[name].pending,
                failing=found[name].failing,
                parked=found[name].parked,
                delivered=found[name].delivered,
                oldest_pending_at=rfc3339(found[name].oldest_pending),
            )
            if name in found
            else maintenance_pb2.DestinationStatus(destination=name)
            for name in names
        ]
        return maintenance_pb2.GetOutboxStatusResponse(
            service=self._service,
            destinations=rows,
            parked_total=sum(r.parked for r in rows),
            pending_total=sum(r.pending for r in rows),
        )

    @rpc_errors()
    def ListParkedEvents(
        self, request: maintenance_pb2.ListParkedEventsRequest, context: grpc.ServicerContext
    ) -> maintenance_pb2.ListParkedEventsResponse:
        destination = checked_destination(self._service, request.destination, required=False)
        if not 0 <= request.limit <= MAX_LIST:
            raise InvalidArgument(
                [FieldViolation("limit", f"1から{MAX_LIST}までの件数を指定してください")]
            )
        with self._read()() as work:
            events = parked_events(
                work.session, self._service, destination or None, limit=request.limit or 100
            )
            total = sum(
                d.parked
                for d in destination_status(work.session, self._service)
                if not destination or d.destination == destination
            )
        return maintenance_pb2.ListParkedEventsResponse(
            service=self._service,
            events=[
                maintenance_pb2.ParkedEvent(
                    key=e.key,
                    topic=e.topic,
                    destination=e.destination,
                    attempts=e.attempts,
                    last_error=e.last_error or "",
                    created_at=rfc3339(e.created_at),
                    parked_at=rfc3339(e.parked_at),
                )
                for e in events
            ],
            total=total,
        )

    @rpc_errors()
    def RequeueParked(
        self, request: maintenance_pb2.RequeueParkedRequest, context: grpc.ServicerContext
    ) -> maintenance_pb2.RequeueParkedResponse:
        command = requeue_command(self._service, request)
        result = requeue(self._sessions, self._service, command)
        return maintenance_pb2.RequeueParkedResponse(
            service=self._service,
            destination=command.destination,
            requeued_keys=list(result.requeued),
            remaining_parked=result.remaining,
        )


def maintenance_registration(sessions: sessionmaker[Session], service: str) -> Registration:
    """The registration the process skeleton adds to every declared service's server."""
    return (
        maintenance_pb2_grpc.add_MaintenanceServiceServicer_to_server,
        MaintenanceServicer(sessions, service),
        SERVICE_NAME,
    )
