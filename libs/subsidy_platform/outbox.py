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
longer holding back the others, and reported by `outbox_status`. Receivers apply an event
at most once by its key, so a redelivery after a lost acknowledgement changes nothing: no
event is lost while a receiver is down, and none is applied twice.

The table (created by each service's migration with `outbox_ddl(schema)`):
id, destination, method, topic, key, payload, traceparent, created_at, attempts,
next_attempt_at, last_error (a status code name, never a message), delivered_at,
parked_at; unique (destination, key).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import propagate
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from subsidy_platform.declaration import subscribers
from subsidy_platform.errors import DependencyUnavailable

log = logging.getLogger(__name__)

_SCHEMA = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")
BATCH = 64
MAX_BACKOFF_SECONDS = 60.0
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


def enqueue(session: Session, schema: str, topic: str, key: str, message: Message) -> int:
    """Write the event for every subscriber of `topic`; a key already queued is a no-op."""
    if not _KEY.match(key):
        raise ValueError("outbox key must be 1-200 characters of [A-Za-z0-9_.:-]")
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    payload = message.SerializeToString()
    written = 0
    for destination, method in subscribers(topic):
        result = session.execute(
            text(
                f"INSERT INTO {_schema(schema)}.outbox "
                "(destination, method, topic, key, payload, traceparent) "
                "VALUES (:d, :m, :t, :k, :p, :tp) ON CONFLICT (destination, key) DO NOTHING"
            ),
            {
                "d": destination,
                "m": method,
                "t": topic,
                "k": key,
                "p": payload,
                "tp": carrier.get("traceparent"),
            },
        )
        written += int(getattr(result, "rowcount", 0) or 0)
    return written


@dataclass(frozen=True)
class OutboxStatus:
    """What an operator wants to know of an outbox: pending rows and the oldest of them."""

    pending: int
    delivered: int
    oldest_pending: datetime | None
    failing: int  # pending rows that failed at least once
    parked: int  # refused for good; an operator looks at them


def outbox_status(engine: Engine, schema: str) -> OutboxStatus:
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL), "
                "count(*) FILTER (WHERE delivered_at IS NOT NULL), "
                "min(created_at) FILTER (WHERE delivered_at IS NULL AND parked_at IS NULL), "
                "count(*) FILTER (WHERE delivered_at IS NULL AND attempts > 0), "
                "count(*) FILTER (WHERE parked_at IS NOT NULL) "
                f"FROM {_schema(schema)}.outbox"
            )
        ).one()
    return OutboxStatus(int(row[0]), int(row[1]), row[2], int(row[3]), int(row[4]))


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

    def start(self) -> None:
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

    def drain(self, timeout: float = 30.0) -> bool:
        """Deliver in this thread until nothing is pending; False when some rows are still
        undelivered at the deadline (a receiver down, or retries waiting)."""
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while datetime.now(UTC) < deadline:
            if self.deliver_once() == 0:
                if self.pending() == 0:
                    return True
                if self._pending_due() == 0:
                    time.sleep(0.1)
        return self.pending() == 0

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
        with self._engine.begin() as connection:
            mine = connection.execute(
                text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 1))"),
                {"k": f"outbox:{self._schema}:{destination}"},
            ).scalar_one()
            if not mine:
                return 0
            rows = connection.execute(
                text(
                    "SELECT id, destination, method, key, payload, traceparent, attempts, "
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
                    log.error(
                        "outbox %s: event %s to %s parked after %d refusals (%s)",
                        self._schema,
                        row.id,
                        destination,
                        attempts,
                        problem,
                    )
                break
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
        while not self._stopping.is_set():
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


def _schema(schema: str) -> str:
    if not _SCHEMA.match(schema):
        raise ValueError(f"not a plain schema name: {schema!r}")
    return schema
