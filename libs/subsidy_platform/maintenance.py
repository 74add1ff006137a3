"""Platform maintenance served by every declared service: purging a program (issue 9), and
the administrator's view and requeue of the service's parked outbox events (issue 15).

At the end of a contract the operator erases a program (the seed: "return and erase, with a
written report"). After destroying the program's Vault keys it asks every service, over
mutual TLS under its own certificate (`operator`), to `PurgeProgram`; only the grant
`service:operator` may call it (`MAINTENANCE_TABLE`, added to every declared service's
table by the process skeleton, never to the declaration itself).

The purge, in the service's own schema and in one transaction:

1. takes the program's advisory lock `program:<id>` exclusively (a submission or import
   holding it finishes first; none starts meanwhile);
2. reads the schema's tables, which of them have a `program_id` column, and the foreign
   keys between them from `pg_catalog`;
3. purges every table with a `program_id` column (`WHERE program_id = :program`) and
   every table referencing a purged one (its rows whose key points at a purged row),
   children before parents (the reverse topological order of the foreign-key graph);
4. appends an audit event naming the tables (never values) and the erasure id.

Idempotent: a second purge of the same program deletes nothing and answers zero counts.
Tables neither carrying `program_id` nor referencing a purged table are listed as kept
(the outbox, Alembic's version table): they hold no program's personal data. So is an
append-only ledger (a table with a BEFORE DELETE trigger, such as review's handover ledger
管理簿, which records who handed what over and when, never personal data): the database refuses
its deletion by design, so it is kept and named as kept; the rows referencing it are purged.

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
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from subsidy.maintenance.v1 import maintenance_pb2, maintenance_pb2_grpc

from subsidy_platform.access import current_principal
from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.limits import identifier
from subsidy_platform.message_bounds import MessageBounds
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
MAINTENANCE_BOUNDS: Mapping[str, MessageBounds] = {}
"""Every maintenance request fits the platform's default bounds (subsidy_platform.message_bounds:
ids and at most 100 keys), so none is declared."""
PROGRAM_COLUMN = "program_id"

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
    return PurgePlan(order, predicates, kept)


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
    kept: tuple[str, ...]

    @property
    def total(self) -> int:
        return sum(rows for _, rows in self.tables)


def purge_program(
    sessions: sessionmaker[Session], service: str, program_id: str, erasure_id: str
) -> PurgeResult:
    """Delete every row of `program_id` in `service`'s schema, in one transaction, audited."""
    uow = UnitOfWork(sessions, service, lambda session: session)
    with uow() as work:
        work.lock(f"program:{program_id}")
        plan = read_plan(work.session, service)
        counts: list[tuple[str, int]] = []
        for table in plan.order:
            deleted = work.session.execute(
                text(f"DELETE FROM {service}.{table} WHERE {plan.predicates[table]}"),
                {"program": program_id},
            )
            counts.append((f"{service}.{table}", int(deleted.rowcount or 0)))  # type: ignore[attr-defined]
        work.audit(
            current_principal(),
            PURGE_METHOD,
            "purge",
            application=None,
            fields=[name for name, _ in counts] or [f"{service}.none"],
            purpose=f"erasure {erasure_id} of program {program_id}",
        )
    return PurgeResult(service, tuple(counts), tuple(f"{service}.{t}" for t in plan.kept))


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
        result = purge_program(self._sessions, self._service, program, erasure)
        return maintenance_pb2.PurgeProgramResponse(
            service=result.service,
            tables=[maintenance_pb2.TablePurge(table=t, rows=n) for t, n in result.tables],
            total_rows=result.total,
            kept_tables=list(result.kept),
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
