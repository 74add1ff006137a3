"""The administrator's use cases over a service's outbox: its parked events (issue 15).

What `GetOutboxStatus`, `ListParkedEvents` and `RequeueParked` (subsidy_platform.maintenance,
staff role `admin` only) do apart from the wire: a service's destinations are the services
subscribed to its declared events; a requeue request is checked whole before any work
(a destination of the service, scope KEYS with 1-100 well-formed keys of at most 200
characters or scope ALL with none, a reason of 1-200 characters without control characters;
every bad field named, no value repeated), then applied in one transaction: a named key that
is not parked refuses the whole request (FAILED_PRECONDITION, nothing changed), and the
requeue is audited (action `requeue`, the caller, the keys as fields
`<service>.outbox:<destination>:<key>`, the count and the reason as purpose).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker
from subsidy.maintenance.v1 import maintenance_pb2

from subsidy_platform.access import current_principal
from subsidy_platform.declaration import edges
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier
from subsidy_platform.outbox import destination_status, requeue_parked
from subsidy_platform.unit_of_work import UnitOfWork

T = TypeVar("T")
REQUEUE_METHOD = "/subsidy.maintenance.v1.MaintenanceService/RequeueParked"
"""The RPC that requeues (as audited; subsidy_platform.maintenance serves it)."""
MAX_REQUEUE = 100
"""Events one RequeueParked call names or takes (`--all` repeats the call)."""
MAX_LIST = 1000
EVENT_KEY_LIMIT = 200  # the outbox contract's event ids


def destinations_of(service: str) -> tuple[str, ...]:
    """The services `service`'s outbox delivers to (its declared events' subscribers)."""
    return tuple(sorted({e.callee for e in edges() if e.caller == service and e.kind == "outbox"}))


def checked_destination(service: str, value: str, *, required: bool) -> str:
    if not value and not required:
        return ""
    destination = identifier("destination", value, limit=32)
    if destination not in destinations_of(service):
        raise InvalidArgument(
            [FieldViolation("destination", "このサービスのイベントの配信先ではありません")]
        )
    return destination


@dataclass(frozen=True)
class RequeueCommand:
    destination: str
    keys: tuple[str, ...] | None  # None: the destination's oldest parked events
    reason: str


def requeue_command(service: str, request: maintenance_pb2.RequeueParkedRequest) -> RequeueCommand:
    """The request checked whole before any work (every bad field named; module doc)."""
    violations: list[FieldViolation] = []

    def checked(check: Callable[[], T]) -> T | None:
        try:
            return check()
        except InvalidArgument as error:
            violations.extend(error.violations)
            return None

    destination = checked(lambda: checked_destination(service, request.destination, required=True))
    keys = checked(lambda: (_scope_keys(request),))
    reason = checked(lambda: bounded_text("reason", request.reason, required=True))
    if destination is None or keys is None or reason is None:
        raise InvalidArgument(violations)
    return RequeueCommand(destination, keys[0], reason)


def _scope_keys(request: maintenance_pb2.RequeueParkedRequest) -> tuple[str, ...] | None:
    if request.scope == maintenance_pb2.REQUEUE_SCOPE_ALL:
        if request.keys:
            raise InvalidArgument([FieldViolation("keys", "全件の再送ではキーを指定しません")])
        return None
    if request.scope != maintenance_pb2.REQUEUE_SCOPE_KEYS:
        raise InvalidArgument(
            [FieldViolation("scope", "キー指定 (KEYS) か全件 (ALL) かを指定してください")]
        )
    if not 1 <= len(request.keys) <= MAX_REQUEUE:
        raise InvalidArgument(
            [FieldViolation("keys", f"キーを1件以上{MAX_REQUEUE}件以内で指定してください")]
        )
    return tuple(
        dict.fromkeys(
            identifier(f"keys[{i}]", key, limit=EVENT_KEY_LIMIT)
            for i, key in enumerate(request.keys)
        )
    )


@dataclass(frozen=True)
class RequeueResult:
    requeued: tuple[str, ...]
    remaining: int


def requeue(
    sessions: sessionmaker[Session], service: str, command: RequeueCommand
) -> RequeueResult:
    """Requeue the command's parked events in one transaction, audited (module doc)."""
    uow = UnitOfWork(sessions, service, lambda session: session)
    with uow() as work:
        requeued = requeue_parked(
            work.session, service, command.destination, command.keys, limit=MAX_REQUEUE
        )
        if command.keys is not None and len(requeued) != len(command.keys):
            raise Conflict(
                f"指定されたキーのうち {len(command.keys) - len(requeued)} 件は保留中"
                "（parked）のイベントではありません。何も変更していません"
            )
        work.audit(
            current_principal(),
            REQUEUE_METHOD,
            "requeue",
            application=None,
            fields=[f"{service}.outbox:{command.destination}:{key}" for key in requeued]
            or [f"{service}.outbox:{command.destination}"],
            purpose=f"保留イベント {len(requeued)} 件の再送 ({command.destination}): "
            f"{command.reason}",
        )
        remaining = sum(
            d.parked
            for d in destination_status(work.session, service)
            if d.destination == command.destination
        )
    return RequeueResult(tuple(requeued), remaining)


def rfc3339(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""
