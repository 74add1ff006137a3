"""AuditService: the auditor reads and verifies the audit log over gRPC (issue 10, part 3).

Served by the platform's sign-in service (auth_main), whose database role `svc_auth` may
SELECT `audit.events` and `audit.chain_head` and whose checkpoint writer's token reads the
signed checkpoints and the signing key's public keys from OpenBao. Only role `auditor` may call it (auth_main.TABLE): the auditor signs in like
any staff member and needs no database URL. The RPCs:

- `ListEvents`: search by actor, role, application, action, RPC, service, target account
  and period, newest first, keyset-paged (audit_query.search);
- `SummariseActivity`: the regular-review summary of a period (audit_query.summarise);
- `VerifyChain`: the hash chain checked against the newest signed checkpoint in OpenBao and
  the anchors the auditor kept (checkpoints.verify_with_checkpoints), refused when that
  checkpoint is older than `AUDIT_MAX_AGE_SECONDS`; it answers the verified head as
  `SEQ:HASH`, the form `--anchor` takes, the checkpoint's age and the rows after it. A full verification reads the whole table, so one
  runs at a time per process; at most `MAX_ANCHORS` anchors are accepted.

Every read runs in one read-only REPEATABLE READ transaction (a consistent page or summary
while events are appended). Inputs are checked before any query; errors never repeat them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TypeVar

import grpc
from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc
from subsidy.audit.v1 import audit_pb2, audit_pb2_grpc

from subsidy_platform import audit_query
from subsidy_platform.audit import AuditRecord
from subsidy_platform.checkpoints import CheckpointError, VaultCheckpoints, verify_with_checkpoints
from subsidy_platform.errors import DependencyUnavailable, FieldViolation, InvalidArgument
from subsidy_platform.servicing import rpc

SERVICE = "subsidy.audit.v1.AuditService"
MAX_ANCHORS = 100
MESSAGE_DATABASE_DOWN = "データベースに接続できません"
_ANCHOR = re.compile(r"(0|[1-9][0-9]{0,17}):([0-9a-f]{64})")
T = TypeVar("T")


def parse_anchors(values: list[str]) -> dict[int, str]:
    """`SEQ:HASH` strings as a seq -> hash map; InvalidArgument naming `anchors[i]`."""
    if len(values) > MAX_ANCHORS:
        raise InvalidArgument([FieldViolation("anchors", f"アンカーは{MAX_ANCHORS}個までです")])
    anchors: dict[int, str] = {}
    violations: list[FieldViolation] = []
    for index, value in enumerate(values):
        match = _ANCHOR.fullmatch(value) if len(value) <= 90 else None
        if match is None:
            violations.append(
                FieldViolation(f"anchors[{index}]", "SEQ:HASH (64 桁の16進数) で指定してください")
            )
            continue
        anchors[int(match[1])] = match[2]
    if violations:
        raise InvalidArgument(violations)
    return anchors


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """Requests -> audit_query / checkpoints; errors -> statuses (servicing.rpc)."""

    def __init__(self, engine: Engine, store: VaultCheckpoints, max_age: float) -> None:
        self.engine = engine
        self.store = store
        self.max_age = max_age
        self._verifying = threading.Lock()

    @rpc
    def ListEvents(
        self, request: audit_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListEventsResponse:
        wanted = request.filter
        criteria = audit_query.event_filter(
            actor=wanted.actor,
            role=wanted.role,
            application_id=wanted.application_id,
            action=wanted.action,
            rpc=wanted.rpc,
            service=wanted.service,
            target=wanted.target,
            since=wanted.since,
            until=wanted.until,
        )
        size = audit_query.page_size(request.page_size)
        before = audit_query.before_seq(request.page_token)
        found = self._read(lambda c: audit_query.search(c, criteria, before=before, limit=size + 1))
        page = found[:size]
        token = str(page[-1].seq) if len(found) > size else ""
        return audit_pb2.ListEventsResponse(
            events=[event_message(record) for record in page], next_page_token=token
        )

    @rpc
    def SummariseActivity(
        self, request: audit_pb2.SummariseActivityRequest, context: grpc.ServicerContext
    ) -> audit_pb2.SummariseActivityResponse:
        since, until = audit_query.review_period(request.since, request.until)
        summary = self._read(lambda c: audit_query.summarise(c, since, until))
        return audit_pb2.SummariseActivityResponse(
            since=summary.since.isoformat(),
            until=summary.until.isoformat(),
            total=summary.total,
            actors=[
                audit_pb2.ActorActivity(
                    actor=a.actor,
                    role=a.role,
                    events=a.events,
                    off_hours_events=a.off_hours_events,
                    unusual_volume=a.unusual_volume,
                )
                for a in summary.actors
            ],
            actions=[audit_pb2.ActionTotal(action=a, events=n) for a, n in summary.actions],
            activity=[
                audit_pb2.ActivityCount(
                    actor=g.actor, role=g.role, action=g.action, rpc=g.rpc, events=g.events
                )
                for g in summary.activity
            ],
            median_events_per_actor=summary.median_events_per_actor,
            truncated=summary.truncated,
        )

    @rpc
    def VerifyChain(
        self, request: audit_pb2.VerifyChainRequest, context: grpc.ServicerContext
    ) -> audit_pb2.VerifyChainResponse:
        anchors = parse_anchors(list(request.anchors))
        try:
            with self._verifying:
                check = verify_with_checkpoints(
                    self.engine, self.store, anchors, max_age=self.max_age
                )
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
            raise DependencyUnavailable(MESSAGE_DATABASE_DOWN) from error
        except CheckpointError as error:
            return audit_pb2.VerifyChainResponse(ok=False, problem=str(error))
        result = check.result
        return audit_pb2.VerifyChainResponse(
            ok=result.ok,
            rows=result.rows,
            first_broken_seq=result.first_broken_seq or 0,
            problem=result.problem or "",
            head=result.anchor,
            checkpoint=check.newest.anchor if check.newest else "",
            checkpoints=check.checkpoints,
            checkpoint_age_seconds=-1 if check.age_seconds is None else int(check.age_seconds),
            max_age_seconds=int(check.max_age_seconds),
            unsealed_rows=check.unsealed,
        )

    def _read(self, work: Callable[[Connection], T]) -> T:
        try:
            with self.engine.connect() as connection:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
                with connection.begin():
                    connection.execute(text("SET TRANSACTION READ ONLY"))
                    return work(connection)
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
            raise DependencyUnavailable(MESSAGE_DATABASE_DOWN) from error


def event_message(record: AuditRecord) -> audit_pb2.AuditEventRecord:
    """One stored event as the RPC answers it (every column, nothing else)."""
    return audit_pb2.AuditEventRecord(
        seq=record.seq,
        at=record.at.isoformat(),
        actor=record.actor,
        role=record.role,
        service=record.service,
        rpc=record.rpc,
        action=record.action,
        application_id=record.application_id or "",
        fields=list(record.fields),
        purpose=record.purpose or "",
        trace_id=record.trace_id or "",
        target=record.target or "",
        hash=record.hash,
    )
