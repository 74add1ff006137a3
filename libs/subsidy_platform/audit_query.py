"""The auditor's questions to the audit log: searching events and the regular-review summary.

DOMAIN.md ("Controls") asks that access logs be kept *and analysed regularly*. The auditor
asks through AuditService (subsidy_platform.audit_reader), never with a database URL; this
module holds the queries and the rules, with every input bounded before any query runs:

- Search (`EventFilter`): every criterion given must hold (actor, role, application, action,
  RPC, service, target account, period `[since, until)`); newest first, paged by keyset
  (`before_seq`: the smallest seq of the previous page), at most `MAX_PAGE` rows a page.
- Summary (`summarise`): for a period of at most `MAX_PERIOD` it counts events per actor
  (with the events outside working hours, 07:00-22:00 Japan time, `WORKING_HOURS`), per
  action, and per actor, role, action and RPC, each list at most `MAX_GROUPS` long (largest
  first; `truncated` says when more exist). An actor's volume is *unusual* when it is at
  least `UNUSUAL_FACTOR` times the median actor's and at least `UNUSUAL_MINIMUM` events
  (`is_unusual_volume`), so a quiet period does not flag everybody.

The answers hold only what the audit rows hold (no name, address or other personal data is
stored there, DESIGN.md principle 7).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Integer, and_, case, cast, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from subsidy_platform import limits
from subsidy_platform.audit import AuditRecord, _to_record, events
from subsidy_platform.errors import FieldViolation, InvalidArgument

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_GROUPS = 1000
MAX_PERIOD = timedelta(days=366)
MAX_TIME_TEXT = 40
JAPAN = "Asia/Tokyo"
WORKING_HOURS = (7, 22)
"""Events from 07:00 up to 22:00 Japan time are in working hours; the rest are flagged."""
UNUSUAL_FACTOR = 3
UNUSUAL_MINIMUM = 10

_ACTION = re.compile(r"[a-z][a-z_]{0,63}")
_RPC = re.compile(r"/[A-Za-z_][A-Za-z0-9_.]{0,127}/[A-Za-z_][A-Za-z0-9_]{0,63}")
_SEQ = re.compile(r"[1-9][0-9]{0,17}")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Checked search criteria; None: no criterion."""

    actor: str | None = None
    role: str | None = None
    application_id: str | None = None
    action: str | None = None
    rpc: str | None = None
    service: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        for name in ("actor", "role", "application_id", "action", "rpc", "service", "target"):
            value = getattr(self, name)
            if value is not None:
                found.append(events.c[name] == value)
        if self.since is not None:
            found.append(events.c.at >= self.since)
        if self.until is not None:
            found.append(events.c.at < self.until)
        return found


def event_filter(
    *,
    actor: str = "",
    role: str = "",
    application_id: str = "",
    action: str = "",
    rpc: str = "",
    service: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
) -> EventFilter:
    """Criteria from a caller's strings ('' = not given); InvalidArgument lists every bad one."""
    violations: list[FieldViolation] = []

    def checked(field: str, value: str, pattern: re.Pattern[str] | None = None) -> str | None:
        if not value:
            return None
        try:
            if pattern is not None:
                if not pattern.fullmatch(value):
                    raise InvalidArgument([FieldViolation(field, "形式が正しくありません")])
                return value
            return limits.identifier(field, value, required=False)
        except InvalidArgument as bad:
            violations.extend(bad.violations)
            return None

    criteria = EventFilter(
        actor=checked("filter.actor", actor),
        role=checked("filter.role", role),
        application_id=checked("filter.application_id", application_id),
        action=checked("filter.action", action, _ACTION),
        rpc=checked("filter.rpc", rpc, _RPC),
        service=checked("filter.service", service),
        target=checked("filter.target", target),
        since=_time("filter.since", since, violations),
        until=_time("filter.until", until, violations),
    )
    if criteria.since and criteria.until and criteria.since >= criteria.until:
        violations.append(
            FieldViolation("filter.until", "期間の終わりは始まりより後にしてください")
        )
    if violations:
        raise InvalidArgument(violations)
    return criteria


def page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_PAGE
    if not 1 <= value <= MAX_PAGE:
        raise InvalidArgument([FieldViolation("page_size", f"1〜{MAX_PAGE}で指定してください")])
    return value


def before_seq(token: str) -> int | None:
    """The keyset position a page token continues before (None: the newest events)."""
    if not token:
        return None
    if not _SEQ.fullmatch(token):
        raise InvalidArgument([FieldViolation("page_token", "ページトークンが正しくありません")])
    return int(token)


def search(
    connection: Connection, criteria: EventFilter, *, before: int | None, limit: int
) -> list[AuditRecord]:
    """At most `limit` events matching `criteria`, newest first, with seq below `before`."""
    query = select(events).order_by(events.c.seq.desc()).limit(limit)
    conditions = criteria.conditions()
    if before is not None:
        conditions.append(events.c.seq < before)
    if conditions:
        query = query.where(and_(*conditions))
    return [_to_record(row) for row in connection.execute(query).mappings()]


@dataclass(frozen=True, slots=True)
class ActorVolume:
    actor: str
    role: str
    events: int
    off_hours_events: int
    unusual_volume: bool


@dataclass(frozen=True, slots=True)
class Grouped:
    actor: str
    role: str
    action: str
    rpc: str
    events: int


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    """The regular review of one period."""

    since: datetime
    until: datetime
    total: int
    actors: tuple[ActorVolume, ...]
    actions: tuple[tuple[str, int], ...]
    activity: tuple[Grouped, ...]
    median_events_per_actor: float
    truncated: bool


def review_period(since: str, until: str) -> tuple[datetime, datetime]:
    """The summary's period: both ends required, in order, at most `MAX_PERIOD` long."""
    violations: list[FieldViolation] = []
    start = _time("since", since, violations, required=True)
    end = _time("until", until, violations, required=True)
    if start is not None and end is not None:
        if start >= end:
            violations.append(FieldViolation("until", "期間の終わりは始まりより後にしてください"))
        elif end - start > MAX_PERIOD:
            violations.append(FieldViolation("until", "期間は366日以内にしてください"))
    if violations or start is None or end is None:
        raise InvalidArgument(violations)
    return start, end


def is_unusual_volume(events_of_actor: int, median: float) -> bool:
    """Whether an actor's events are far above the median actor's (see module docstring)."""
    return events_of_actor >= UNUSUAL_MINIMUM and events_of_actor >= UNUSUAL_FACTOR * median


def off_hours(column: ColumnElement[datetime]) -> ColumnElement[bool]:
    """Whether an event's time falls outside `WORKING_HOURS` in Japan time."""
    hour = cast(func.extract("hour", func.timezone(JAPAN, column)), Integer)
    return or_(hour < WORKING_HOURS[0], hour >= WORKING_HOURS[1])


def summarise(connection: Connection, since: datetime, until: datetime) -> ReviewSummary:
    """The regular-review summary of `[since, until)` (see module docstring)."""
    period = and_(events.c.at >= since, events.c.at < until)
    count = func.count().label("events")
    late = func.sum(case((off_hours(events.c.at), 1), else_=0)).label("off_hours")
    per_actor = (
        select(events.c.actor, events.c.role, count, late)
        .where(period)
        .group_by(events.c.actor, events.c.role)
        .order_by(count.desc(), events.c.actor, events.c.role)
    )
    totals = per_actor.subquery()
    median_row = connection.execute(
        select(
            func.percentile_cont(0.5).within_group(totals.c.events),
            func.coalesce(func.sum(totals.c.events), 0),
            func.count(),
        )
    ).one()
    median = float(median_row[0] or 0.0)
    total, actor_groups = int(median_row[1]), int(median_row[2])
    actors = tuple(
        ActorVolume(
            row.actor,
            row.role,
            int(row.events),
            int(row.off_hours or 0),
            is_unusual_volume(int(row.events), median),
        )
        for row in connection.execute(per_actor.limit(MAX_GROUPS))
    )
    actions = tuple(
        (str(row.action), int(row.events))
        for row in connection.execute(
            select(events.c.action, count)
            .where(period)
            .group_by(events.c.action)
            .order_by(count.desc(), events.c.action)
            .limit(MAX_GROUPS)
        )
    )
    grouped = connection.execute(
        select(events.c.actor, events.c.role, events.c.action, events.c.rpc, count)
        .where(period)
        .group_by(events.c.actor, events.c.role, events.c.action, events.c.rpc)
        .order_by(count.desc(), events.c.actor, events.c.action, events.c.rpc)
        .limit(MAX_GROUPS + 1)
    ).all()
    activity = tuple(
        Grouped(row.actor, row.role, row.action, row.rpc, int(row.events))
        for row in grouped[:MAX_GROUPS]
    )
    truncated = len(grouped) > MAX_GROUPS or actor_groups > MAX_GROUPS
    return ReviewSummary(since, until, total, actors, actions, activity, median, truncated)


def _time(
    field: str, value: str, violations: list[FieldViolation], *, required: bool = False
) -> datetime | None:
    if not value:
        if required:
            violations.append(FieldViolation(field, "値を入力してください"))
        return None
    try:
        if len(value) > MAX_TIME_TEXT:
            raise ValueError
        moment = datetime.fromisoformat(value)
    except ValueError:
        violations.append(
            FieldViolation(
                field, "日時は RFC 3339 (例 2025-07-01T00:00:00+09:00) で指定してください"
            )
        )
        return None
    if moment.utcoffset() is None:
        violations.append(FieldViolation(field, "日時には時差 (+09:00 など) を付けてください"))
        return None
    return moment
