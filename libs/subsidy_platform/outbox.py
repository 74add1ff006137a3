"""Events between services: a transactional outbox and the relay that delivers it (issue 6).

The transactional-outbox pattern: a use case writes its event into its own schema's
`outbox` table in the same transaction as the change it describes, so the event exists
if and only if the change committed. `enqueue` writes one row per service subscribed to the
topic (declarations name their subscriptions: topic -> RPC method); the row holds the
serialised request message, its idempotency key and the trace context of the call that
caused it.

`OutboxRelay` delivers the rows by calling the subscriber's RPC under the service's own
identity (mutual TLS), with the same idempotency key (`idempotency-key` metadata; the
request message carries it too), until the subscriber acknowledges with OK. A failure
leaves the row for a later attempt with exponential back-off (capped); within one
destination, rows are delivered in the order they were written, and a failing row holds
back the later rows to that destination until it is delivered (one relay at a time works
on a destination: a transaction-scoped advisory lock per destination, so several replicas
can relay at once without reordering). An event the receiver refuses for good (invalid,
not found, not permitted) is parked after a few attempts: kept, no longer retried, no
longer holding back the others. Receivers apply an event at most once by its key, so a
redelivery after a lost acknowledgement changes nothing: no event is lost while a receiver
is down, and none is applied twice.

Nothing parks silently (issue 15). Parking logs one ERROR line once its transaction has
committed (service, destination, topic, event key and the refusal's status code name, as
`extra` fields; never the payload); `destination_status` counts pending, failing and parked
events per destination (the service's `GetOutboxStatus` maintenance RPC and `subsidy-admin
outbox status` show it), `parked_events` lists them for any code that needs them, and
`requeue_parked` (the audited `RequeueParked` RPC, subsidy_platform.outbox_admin) clears a
parked event's `parked_at` and attempts so that the relay delivers it again, with its key
unchanged: the receiver still applies it at most once. `OutboxRelay.drain`, which tests use
to run an outbox to the end, fails when an event parks that the caller did not expect (each
parked event is reported by the first drain after it parked, whoever parked it).

Delivered payloads do not linger: the relay empties the payload of every event delivered
more than `CLEAR_DELIVERED_AFTER` ago (`clear_delivered`, once a minute), keeping the row
(key, destination, times) for the receivers' idempotency and the counts.

The table (created by each service's migration with `outbox_ddl(schema)`, then given its
program by `outbox_program_ddl(schema)`): id, destination, method, topic, key, payload,
traceparent, created_at, attempts, next_attempt_at, last_error (a status code name, never a
message), delivered_at, parked_at, program_id; unique (destination, key).

Every event belongs to one program (issue 20): `enqueue` records its `program_id`, taken from
the message's own `program_id` field or passed explicitly (a timeline status report names
only the application), and refuses an event with neither. Erasing a program purges its
outbox rows with the rest of its data (subsidy_platform.maintenance); the rows written
before the column existed were given their program by the migration
(subsidy_platform.outbox_backfill).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import propagate
from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.orm import Session

from subsidy_platform.declaration import subscribers
from subsidy_platform.errors import DependencyUnavailable

log = logging.getLogger(__name__)

_SCHEMA = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")
BATCH = 64
MAX_BACKOFF_SECONDS = 60.0
CLEAR_DELIVERED_AFTER = timedelta(minutes=10)
SWEEP_SECONDS = 60.0
# A receiver that refuses an event this way will refuse it again: after a few tries the
# event is parked (kept, no longer retried nor holding back its destination) for an
# operator to look at and requeue.
PERMANENT_FAILURES = frozenset(
    {
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "FAILED_PRECONDITION",
        "UNIMPLEMENTED",
        "LookupError",
    }
)
PARK_AFTER_ATTEMPTS = 5
IDEMPOTENCY_KEY = "idempotency-key"
PROGRAM_FIELD = "program_id"

Invoke = Callable[[str, str, bytes, str], object]  # destination, method, payload, key


def outbox_ddl(schema: str) -> str:
    """The CREATE TABLE statement of a service's outbox (for its Alembic migration)."""
    name = _schema(schema)
    return f"""
        CREATE TABLE {name}.outbox (
            id bigserial PRIMARY KEY,
            destination text NOT NULL,
            method text NOT NULL,
            topic text NOT NULL,
            key text NOT NULL,
            payload bytea NOT NULL,
            traceparent text,
            created_at timestamptz NOT NULL DEFAULT now(),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error text,
            delivered_at timestamptz,
            parked_at timestamptz,
            CONSTRAINT uq_outbox_destination_key UNIQUE (destination, key)
        );
        CREATE INDEX ix_outbox_pending ON {name}.outbox (destination, id)
            WHERE delivered_at IS NULL;
    """


def outbox_program_ddl(schema: str) -> str:
    """The statements giving an outbox its `program_id` (nullable: rows written before it
    was added and no program found by the backfill stay NULL; `enqueue` always sets it)."""
    name = _schema(schema)
    return f"""
        ALTER TABLE {name}.outbox ADD COLUMN program_id varchar(64);
        CREATE INDEX ix_outbox_program ON {name}.outbox (program_id);
    """


def event_program(message: Message, program_id: str | None = None) -> str:
    """The program of an event: `program_id` when given, else the message's own field."""
    if program_id:
        return program_id
    if PROGRAM_FIELD in message.DESCRIPTOR.fields_by_name:
        found = str(getattr(message, PROGRAM_FIELD))
        if found:
            return found
    raise ValueError("outbox event needs its program: program_id")


def enqueue(
    session: Session,
    schema: str,
    topic: str,
    key: str,
    message: Message,
    *,
    program_id: str | None = None,
) -> int:
    """Write the event for every subscriber of `topic`; a key already queued is a no-op.

    The row's program is `program_id` or the message's `program_id` (ValueError if neither).
    """
    if not _KEY.match(key):
        raise ValueError("outbox key must be 1-200 characters of [A-Za-z0-9_.:-]")
    program = event_program(message, program_id)
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    payload = message.SerializeToString()
    written = 0
    for destination, method in subscribers(topic):
        result = session.execute(
            text(
                f"INSERT INTO {_schema(schema)}.outbox "
                "(destination, method, topic, key, payload, traceparent, program_id) "
                "VALUES (:d, :m, :t, :k, :p, :tp, :program) "
                "ON CONFLICT (destination, key) DO NOTHING"
            ),
            {
                "d": destination,
                "m": method,
                "t": topic,
                "k": key,
                "p": payload,
                "tp": carrier.get("traceparent"),
                "program": program,
            },
        )
        written += int(getattr(result, "rowcount", 0) or 0)
    return written


Source = Engine | Connection | Session
"""Where the reads below run: an engine (a connection of their own) or an open transaction."""


def _rows(source: Source, statement: TextClause, values: dict[str, Any]) -> Sequence[Any]:
    if isinstance(source, Engine):
        with source.connect() as connection:
            return connection.execute(statement, values).all()
    return source.execute(statement, values).all()


@dataclass(frozen=True)
class OutboxStatus:
    """What an operator wants to know of an outbox: pending rows and the oldest of them."""

    pending: int
    delivered: int
    oldest_pending: datetime | None
    failing: int  # pending rows that failed at least once
    parked: int  # refused for good; an operator looks at them


def outbox_status(source: Source, schema: str) -> OutboxStatus:
    row = _rows(
        source,
        text(
            "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL), "
            "count(*) FILTER (WHERE delivered_at IS NOT NULL), "
            "min(created_at) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL), "
            "count(*) FILTER (WHERE delivered_at IS NULL AND attempts > 0), "
            "count(*) FILTER (WHERE parked_at IS NOT NULL) "
            f"FROM {_schema(schema)}.outbox"
        ),
        {},
    )[0]
    return OutboxStatus(int(row[0]), int(row[1]), row[2], int(row[3]), int(row[4]))


@dataclass(frozen=True)
class DestinationStatus:
    """One destination of an outbox: events waiting (`failing` of them failed at least once
    and are retried), parked (refused for good: an alarm) and delivered."""

    destination: str
    pending: int
    failing: int
    parked: int
    delivered: int
    oldest_pending: datetime | None


def destination_status(source: Source, schema: str) -> list[DestinationStatus]:
    """Per destination with any event, in name order."""
    rows = _rows(
        source,
        text(
            "SELECT destination, "
            "count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL), "
            "count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL AND attempts > 0), "
            "count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NOT NULL), "
            "count(*) FILTER (WHERE delivered_at IS NOT NULL), "
            "min(created_at) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL) "
            f"FROM {_schema(schema)}.outbox GROUP BY destination ORDER BY destination"
        ),
        {},
    )
    return [
        DestinationStatus(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), r[5]) for r in rows
    ]


@dataclass(frozen=True)
class ParkedEvent:
    """An event refused for good: what finds its cause, never its payload."""

    id: int
    destination: str
    topic: str
    key: str
    attempts: int
    last_error: str | None  # the refusal's status code name
    created_at: datetime
    parked_at: datetime


def parked_events(
    source: Source, schema: str, destination: str | None = None, *, limit: int = 1000
) -> list[ParkedEvent]:
    """The parked events of `schema`'s outbox (of one destination), oldest first."""
    rows = _rows(
        source,
        text(
            "SELECT id, destination, topic, key, attempts, last_error, created_at, parked_at "
            f"FROM {_schema(schema)}.outbox WHERE parked_at IS NOT NULL "
            "AND delivered_at IS NULL AND (CAST(:d AS text) IS NULL OR destination = :d) "
            "ORDER BY id LIMIT :n"
        ),
        {"d": destination, "n": limit},
    )
    return [
        ParkedEvent(int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), r[5], r[6], r[7])
        for r in rows
    ]


def requeue_parked(
    source: Connection | Session,
    schema: str,
    destination: str,
    keys: Collection[str] | None,
    *,
    limit: int = 100,
) -> list[str]:
    """Deliver parked events again (in the caller's transaction): `keys` of `destination`,
    or with None its oldest `limit` parked events. Clears `parked_at` and the attempts and
    makes them due now; the key stays, so the receiver applies each at most once. Returns
    the keys requeued, oldest first (a key that is not parked is left alone)."""
    name = _schema(schema)
    rows = source.execute(
        text(
            f"UPDATE {name}.outbox SET parked_at = NULL, attempts = 0, next_attempt_at = now() "
            f"WHERE id IN (SELECT id FROM {name}.outbox WHERE destination = :d "
            "AND parked_at IS NOT NULL AND delivered_at IS NULL "
            "AND (CAST(:all AS boolean) OR key = ANY(:keys)) ORDER BY id LIMIT :n FOR UPDATE) "
            "RETURNING id, key"
        ),
        {
            "d": destination,
            "all": keys is None,
            "keys": sorted(keys or ()),
            "n": limit if keys is None else max(len(keys), 1),
        },
    ).all()
    return [str(key) for _, key in sorted(rows)]


class UnexpectedParked(RuntimeError):
    """Events parked that the caller of `OutboxRelay.drain` did not expect."""

    def __init__(self, schema: str, events: Sequence[ParkedEvent], expected: str) -> None:
        listed = "; ".join(
            f"{e.destination} {e.topic} {e.key} ({e.last_error})" for e in events[:20]
        )
        super().__init__(
            f"outbox {schema}: {len(events)} event(s) parked, expected {expected}: {listed}"
        )
        self.events = tuple(events)


class OutboxRelay:
    """A background thread delivering one service's outbox; `wake()` after a commit."""

    def __init__(
        self,
        engine: Engine,
        schema: str,
        invoke: Invoke,
        *,
        idle_seconds: float = 1.0,
        batch: int = BATCH,
    ) -> None:
        self._engine = engine
        self._schema = _schema(schema)
        self._invoke = invoke
        self._idle = idle_seconds
        self._batch = batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._parked_seen: frozenset[int] | None = None
        self._parked_lock = threading.Lock()

    def start(self) -> None:
        try:  # the parked events already there before this relay (reported by an earlier one)
            self._parked_baseline()
        except Exception:  # a database down at start: the first drain takes the baseline
            log.warning("outbox %s: parked events not read at start", self._schema)
        self._thread = threading.Thread(
            target=self._run, name=f"outbox-{self._schema}", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def drain(self, timeout: float = 30.0, *, expect_parked: int | Collection[str] = 0) -> bool:
        """Deliver in this thread until nothing is pending; False when some rows are still
        undelivered at the deadline (a receiver down, or retries waiting).

        Raises `UnexpectedParked` when an event parked since this relay last looked
        (`newly_parked`: at its start or its previous drain) is not one the caller expects:
        `expect_parked` is how many may park, or the keys that may (default: none)."""
        self._parked_baseline()  # a relay never started: what was parked before it looked
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        done = False
        while datetime.now(UTC) < deadline:
            if self.deliver_once() == 0:
                if self.pending() == 0:
                    done = True
                    break
                if self._pending_due() == 0:
                    time.sleep(0.1)
        done = done or self.pending() == 0
        self.check_parked(expect_parked)
        return done

    def _parked_baseline(self) -> None:
        with self._parked_lock:
            if self._parked_seen is None:
                found = parked_events(self._engine, self._schema, limit=100_000)
                self._parked_seen = frozenset(e.id for e in found)

    def newly_parked(self) -> list[ParkedEvent]:
        """The events parked since this relay last looked (none the first time it looks);
        an event requeued and parked again counts again."""
        with self._parked_lock:
            parked = parked_events(self._engine, self._schema, limit=100_000)
            seen = self._parked_seen
            self._parked_seen = frozenset(e.id for e in parked)
            return [] if seen is None else [e for e in parked if e.id not in seen]

    def check_parked(self, expect_parked: int | Collection[str] = 0) -> None:
        """`UnexpectedParked` when more events parked since this relay last looked than
        `expect_parked` allows, or one whose key it does not name."""
        parked = self.newly_parked()
        if isinstance(expect_parked, int):
            if len(parked) > expect_parked:
                raise UnexpectedParked(self._schema, parked, f"at most {expect_parked}")
        elif not {e.key for e in parked} <= set(expect_parked):
            raise UnexpectedParked(self._schema, parked, "only " + ", ".join(sorted(expect_parked)))

    def deliver_once(self) -> int:
        """One pass over every destination with due rows; returns how many were delivered."""
        with self._engine.connect() as connection:
            destinations = [
                str(d)
                for (d,) in connection.execute(
                    text(
                        f"SELECT DISTINCT destination FROM {self._schema}.outbox "
                        "WHERE delivered_at IS NULL AND parked_at IS NULL "
                        "AND next_attempt_at <= now()"
                    )
                )
            ]
        return sum(self._deliver_destination(d) for d in destinations)

    def _deliver_destination(self, destination: str) -> int:
        """Deliver one destination's rows in order, stopping at the first failure.

        A transaction-scoped advisory lock per destination lets one relay at a time work on
        a destination (other replicas skip it), and the rows are taken from the oldest
        undelivered one whether it is due or not: a row waiting for its retry holds back
        every later row of its destination, so order is kept across passes and replicas.
        """
        delivered = 0
        parked: list[tuple[Any, int, str]] = []
        with self._engine.begin() as connection:
            mine = connection.execute(
                text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 1))"),
                {"k": f"outbox:{self._schema}:{destination}"},
            ).scalar_one()
            if not mine:
                return 0
            rows = connection.execute(
                text(
                    "SELECT id, destination, method, topic, key, payload, traceparent, attempts, "
                    f"next_attempt_at <= now() AS due FROM {self._schema}.outbox "
                    "WHERE destination = :d AND delivered_at IS NULL AND parked_at IS NULL "
                    "ORDER BY id LIMIT :n"
                ),
                {"d": destination, "n": self._batch},
            ).all()
            for row in rows:
                if not row.due:
                    break
                problem = self._deliver(row)
                if problem is None:
                    connection.execute(
                        text(
                            f"UPDATE {self._schema}.outbox SET delivered_at = now(), "
                            "attempts = attempts + 1, last_error = NULL WHERE id = :id"
                        ),
                        {"id": row.id},
                    )
                    delivered += 1
                    continue
                attempts = int(row.attempts) + 1
                park = problem in PERMANENT_FAILURES and attempts >= PARK_AFTER_ATTEMPTS
                backoff = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(attempts - 1, 10))
                connection.execute(
                    text(
                        f"UPDATE {self._schema}.outbox SET attempts = :a, last_error = :e, "
                        "next_attempt_at = now() + make_interval(secs => :b), "
                        "parked_at = CASE WHEN :park THEN now() END WHERE id = :id"
                    ),
                    {"id": row.id, "a": attempts, "e": problem, "b": backoff, "park": park},
                )
                if park:
                    parked.append((row, attempts, problem))
                break
        for row, attempts, problem in parked:  # once, now that the parking has committed
            log.error(
                "outbox %s: event %s (%s) to %s parked after %d refusals (%s)",
                self._schema,
                row.key,
                row.topic,
                row.destination,
                attempts,
                problem,
                extra={
                    "peer_service": row.destination,
                    "topic": row.topic,
                    "event_key": row.key,
                    "code": problem,
                    "attempt": attempts,
                },
            )
        return delivered

    def _deliver(self, row: Any) -> str | None:
        """Call the subscriber; None when acknowledged, else the status code's name."""
        carrier = {"traceparent": row.traceparent} if row.traceparent else {}
        token = otel_context.attach(propagate.extract(carrier))
        try:
            self._invoke(row.destination, row.method, bytes(row.payload), row.key)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            return code.name if code is not None else "UNKNOWN"
        except Exception as error:  # recorded on the row; the pass goes on
            return type(error).__name__
        finally:
            otel_context.detach(token)
        return None

    def _pending_due(self) -> int:
        with self._engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        f"SELECT count(*) FROM {self._schema}.outbox WHERE delivered_at IS NULL "
                        "AND parked_at IS NULL AND next_attempt_at <= now()"
                    )
                ).scalar_one()
            )

    def pending(self) -> int:
        """Rows not yet delivered (parked ones excluded)."""
        with self._engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        f"SELECT count(*) FROM {self._schema}.outbox "
                        "WHERE delivered_at IS NULL AND parked_at IS NULL"
                    )
                ).scalar_one()
            )

    def _run(self) -> None:
        swept = time.monotonic()
        while not self._stopping.is_set():
            if time.monotonic() - swept >= SWEEP_SECONDS:
                swept = time.monotonic()
                try:
                    clear_delivered(self._engine, self._schema)
                except Exception:
                    log.warning("outbox %s: delivered payloads not cleared", self._schema)
            try:
                delivered = self.deliver_once()
            except DependencyUnavailable:
                delivered = 0
            except Exception:
                log.exception("outbox relay pass failed")
                delivered = 0
            if delivered == 0:
                self._wake.wait(self._idle)
                self._wake.clear()


def clear_delivered(
    source: Source, schema: str, older_than: timedelta = CLEAR_DELIVERED_AFTER
) -> int:
    """Empty the payloads of events delivered more than `older_than` ago; how many.

    A delivered event's payload is needed by nobody (the receiver applied it; the row stays
    for its key and times), and what it carries is a copy of the sender's data: cleared, it
    no longer sits in the table, its dumps and what is backed up next."""
    statement = text(
        f"UPDATE {_schema(schema)}.outbox SET payload = ''::bytea "
        "WHERE delivered_at IS NOT NULL AND delivered_at < now() - make_interval(secs => :s) "
        "AND octet_length(payload) > 0"
    )
    values = {"s": older_than.total_seconds()}
    if isinstance(source, Engine):
        with source.begin() as connection:
            return int(getattr(connection.execute(statement, values), "rowcount", 0))
    return int(getattr(source.execute(statement, values), "rowcount", 0))


def _schema(schema: str) -> str:
    if not _SCHEMA.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    return schema
