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

Durable before the answer (the journal). With a journal folder (`<state>/refusals`, given
by the process), `note` also appends one short line naming the key (never caller text) to
the process's own journal file before the refusal is answered: one `write` on an
append-only descriptor, so a SIGKILL right after the answer loses nothing (the kernel
holds the line). A flush moves the journal aside, writes the events, and deletes the moved
file once they are committed; if the database is down the counts are kept in memory and
written back to the journal as aggregated lines (`n` refusals each), retried at the next
flush. A process that starts adopts the journals of dead processes of its service (their
process id no longer runs), folds them into its counts and audits them at its first flush.
A journal grows by at most `MAX_JOURNAL_BYTES` per window; beyond that a flood is still
counted in memory but a SIGKILL in the same window loses the excess, which the log says.
A SIGKILL between the commit and the deletion of the moved file audits that window twice
(refusals are over-counted, never lost).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
MAX_JOURNAL_BYTES = 8 * 1024 * 1024
JOURNAL_SUFFIX = ".jsonl"
MOVED_SUFFIX = ".flushing"

Key = tuple[str, str, str, str]

Clock = Callable[[], datetime]
_INSTANCES = itertools.count(1)


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
        journal: Path | None = None,
    ) -> None:
        self._engine = engine
        self._service = service
        self._seconds = flush_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._tallies: dict[Key, _Tally] = {}
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._folder = journal
        self._name = f"{service}-{os.getpid()}.{next(_INSTANCES)}{JOURNAL_SUFFIX}"
        self._fd: int | None = None
        self._written = 0
        self._overflowed = False
        if journal is not None:
            journal.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._adopt_dead_journals()
            self._fd = self._open_journal()

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
            self._journal([(key, 1, now)])

    def flush(self) -> int:
        """Append the refusals counted so far (one event per key); returns the events written."""
        with self._flushing:
            with self._lock:
                batch, self._tallies = self._tallies, {}
                moved = self._move_journal()
            if not batch:
                self._forget(moved)
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
                self._forget(moved)
                return 0
            self._forget(moved)
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
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if not lost and self._journal_path().stat().st_size == 0:
                self._journal_path().unlink(missing_ok=True)

    def _run(self) -> None:
        while not self._stopped.wait(self._seconds):
            try:
                self.flush()
            except Exception:
                log.exception("auditing refused calls failed")

    def _restore(self, batch: dict[Key, _Tally]) -> None:
        with self._lock:
            self._merge(batch)
            self._journal([(key, tally.count, tally.first) for key, tally in batch.items()])

    def _merge(self, batch: dict[Key, _Tally]) -> None:
        for key, tally in batch.items():
            current = self._tallies.get(key)
            if current is None and len(self._tallies) >= self._max_keys:
                key = OVERFLOW
                current = self._tallies.get(key)
            if current is None:
                self._tallies[key] = _Tally(tally.count, tally.first)
            else:
                current.count += tally.count
                current.first = min(current.first, tally.first)

    # The journal: one file per instance, `<service>-<pid>.<n>.jsonl`, lines {"k", "n", "t"}.

    def _journal_path(self) -> Path:
        assert self._folder is not None
        return self._folder / self._name

    def _open_journal(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        self._written = 0
        self._overflowed = False
        return os.open(self._journal_path(), flags, 0o600)

    def _journal(self, counts: Iterable[tuple[Key, int, datetime]]) -> None:
        """Append the counts (called under the lock, before the refusal is answered)."""
        if self._fd is None:
            return
        data = b"".join(
            json.dumps({"k": list(key), "n": n, "t": at.isoformat()}).encode() + b"\n"
            for key, n, at in counts
        )
        if self._written + len(data) > MAX_JOURNAL_BYTES:
            if not self._overflowed:
                log.warning("refusal journal full for this window: further refusals in memory")
                self._overflowed = True
            return
        try:
            os.write(self._fd, data)
            self._written += len(data)
        except OSError:
            log.warning("refusal journal cannot be written: refusals counted in memory")

    def _move_journal(self) -> Path | None:
        """Move this window's journal aside and start a new one (under the lock)."""
        if self._fd is None:
            return None
        os.close(self._fd)
        moved = self._journal_path().with_name(self._name + MOVED_SUFFIX)
        try:
            os.replace(self._journal_path(), moved)
        except FileNotFoundError:
            self._fd = self._open_journal()
            return None
        self._fd = self._open_journal()
        return moved

    @staticmethod
    def _forget(moved: Path | None) -> None:
        if moved is not None:
            moved.unlink(missing_ok=True)

    def _adopt_dead_journals(self) -> None:
        """Fold the journals of this service's dead processes into the counts."""
        assert self._folder is not None
        adopted: list[Path] = []
        for path in sorted(self._folder.glob(f"{self._service}-*{JOURNAL_SUFFIX}*")):
            pid_text = path.name.removeprefix(f"{self._service}-").split(".")[0]
            if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
                continue
            self._merge(_read_journal(path))
            adopted.append(path)
        if adopted:
            self._fd = self._open_journal()
            with self._lock:
                self._journal([(k, t.count, t.first) for k, t in self._tallies.items()])
            os.close(self._fd)
            self._fd = None
            for path in adopted:
                path.unlink(missing_ok=True)
            log.info("adopted %d refusal journals of stopped processes", len(adopted))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_journal(path: Path) -> dict[Key, _Tally]:
    """The counts a journal holds; a torn last line (cut off mid-write) is skipped."""
    tallies: dict[Key, _Tally] = {}
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return tallies
    for line in lines:
        try:
            record = json.loads(line)
            actor, role, rpc, action = (str(part) for part in record["k"])
            count, at = int(record["n"]), datetime.fromisoformat(record["t"])
        except (ValueError, KeyError, TypeError):
            continue
        key = (actor, role, rpc, action)
        current = tallies.get(key)
        if current is None:
            tallies[key] = _Tally(count, at)
        else:
            current.count += count
            current.first = min(current.first, at)
    return tallies
