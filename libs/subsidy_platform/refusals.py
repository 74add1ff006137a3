"""Refused calls as audit events, aggregated so that a flood cannot amplify writes (issue 10).

The access interceptor (access.AuthInterceptor) refuses a call without credentials or with
bad ones (UNAUTHENTICATED), a caller its table does not name (PERMISSION_DENIED) and a method
the table does not declare. Each refusal is noted here, never written on the caller's
thread: `note` only counts, under a lock, in memory. Every `FLUSH_SECONDS` (and on stop) a
background thread appends one audit event per distinct (actor, role, RPC, action) seen since
the last flush, in one transaction, with the count and the window in `purpose`
(`拒否 37 回 / 10 秒`). So a flood of any rate costs at most `MAX_KEYS` rows per window and
process, one chain lock per window, and a bounded amount of memory; refusals beyond
`MAX_KEYS` distinct keys fall into one overflow key (actor `anonymous`, RPC `UNDECLARED_RPC`).

Nothing the caller sent is stored: the actor is the authenticated principal (its login or
service name, from a verified token or certificate) for PERMISSION_DENIED and `anonymous`
for UNAUTHENTICATED (the token is not trusted, so neither is what it names); the RPC is the
method name only when the access table declares it, `UNDECLARED_RPC` otherwise (an
undeclared name is caller text). Actions: `call_unauthenticated`, `call_refused`.

If the database is down at flush time the counts are kept and retried at the next flush
(merged with new ones, still within `MAX_KEYS`); they are lost only if the process stops
while the database is down, which its log says.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from subsidy_platform import audit

log = logging.getLogger(__name__)

FLUSH_SECONDS = 10.0
MAX_KEYS = 200
ANONYMOUS = "anonymous"
UNDECLARED_RPC = "/_/undeclared"
UNAUTHENTICATED = "call_unauthenticated"
REFUSED = "call_refused"
OVERFLOW = (ANONYMOUS, ANONYMOUS, UNDECLARED_RPC, REFUSED)

Clock = Callable[[], datetime]


@dataclass(slots=True)
class _Tally:
    count: int
    first: datetime


class RefusalAudit:
    """Counts refused calls and appends them to the audit chain in aggregated batches."""

    def __init__(
        self,
        engine: Engine,
        service: str,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        max_keys: int = MAX_KEYS,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._service = service
        self._seconds = flush_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._tallies: dict[tuple[str, str, str, str], _Tally] = {}
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def note(self, actor: str | None, role: str | None, rpc: str | None, action: str) -> None:
        """Count one refusal (cheap: no I/O). None actor/role: anonymous; None rpc: undeclared."""
        key = (actor or ANONYMOUS, role or ANONYMOUS, rpc or UNDECLARED_RPC, action)
        now = self._clock()
        with self._lock:
            tally = self._tallies.get(key)
            if tally is None and len(self._tallies) >= self._max_keys:
                key = OVERFLOW
                tally = self._tallies.get(key)
            if tally is None:
                self._tallies[key] = _Tally(1, now)
            else:
                tally.count += 1

    def flush(self) -> int:
        """Append the refusals counted so far (one event per key); returns the events written."""
        with self._flushing:
            with self._lock:
                batch, self._tallies = self._tallies, {}
            if not batch:
                return 0
            events = [
                audit.AuditEvent(
                    actor=actor,
                    role=role,
                    service=self._service,
                    rpc=rpc,
                    action=action,
                    purpose=f"拒否 {tally.count} 回 / {self._seconds:g} 秒",
                    at=tally.first,
                )
                for (actor, role, rpc, action), tally in batch.items()
            ]
            try:
                with self._engine.begin() as connection:
                    audit.record_many(connection, events)
            except (sa_exc.OperationalError, sa_exc.InterfaceError):
                log.warning("refused calls not yet audited: the database cannot be reached")
                self._restore(batch)
                return 0
            return len(events)

    def start(self) -> RefusalAudit:
        self._thread = threading.Thread(target=self._run, name="refusal-audit", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()
        with self._lock:
            lost = sum(tally.count for tally in self._tallies.values())
        if lost:
            log.warning("%d refused calls could not be audited before stopping", lost)

    def _run(self) -> None:
        while not self._stopped.wait(self._seconds):
            try:
                self.flush()
            except Exception:
                log.exception("auditing refused calls failed")

    def _restore(self, batch: dict[tuple[str, str, str, str], _Tally]) -> None:
        with self._lock:
            for key, tally in batch.items():
                current = self._tallies.get(key)
                if current is None and len(self._tallies) >= self._max_keys:
                    key = OVERFLOW
                    current = self._tallies.get(key)
                if current is None:
                    self._tallies[key] = tally
                else:
                    current.count += tally.count
                    current.first = min(current.first, tally.first)
