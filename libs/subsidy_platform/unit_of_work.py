"""The unit of work every use case runs in (cosmicpython's pattern, DESIGN.md "Service shape").

`UnitOfWork(sessions, service, repository)` opens one database transaction per `with`
block and hands the use case a `Work`: the service's repository over that transaction,
plus the three things every service does inside a transaction:

- `work.audit(...)` notes an access to personal data; the notes are appended to the audit
  chain as the transaction's last statements, so the chain's lock is held only for the
  commit and never across a Vault or RPC call;
- `work.lock("program:shinjuku-2025")` takes a named transaction-scoped advisory lock
  (the name is hashed by PostgreSQL, `hashtextextended(name, 1)`: no bare numeric seeds
  that two services could pick alike);
- `work.publish(topic, key, message)` writes an event to the service's transactional
  outbox, one row per subscribed service, in the same transaction as the change
  (subsidy_platform.outbox delivers it), under its program (the message's `program_id`, or
  `program_id=` when the message names none).

A lost or impossible connection anywhere in the block is `DependencyUnavailable`
(UNAVAILABLE) and nothing is written: this is the one place that maps it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from subsidy_platform.access import Principal
from subsidy_platform.audit import AuditEvent, record_many
from subsidy_platform.errors import DependencyUnavailable
from subsidy_platform.outbox import enqueue

R = TypeVar("R")
MESSAGE_DATABASE_DOWN = "データベースに接続できません"


@dataclass
class Work(Generic[R]):
    """One open transaction: the repository, audit notes, named locks, outbox events."""

    session: Session
    repo: R
    service: str
    pending_audit: list[AuditEvent] = field(default_factory=list)
    published: int = 0

    def audit(
        self,
        who: Principal,
        rpc: str,
        action: str,
        *,
        application: str | None,
        fields: Sequence[str],
        purpose: str | None = None,
    ) -> None:
        """Note an access to personal data; written to the audit chain at commit."""
        self.pending_audit.append(
            AuditEvent(
                actor=who.subject,
                role=who.role,
                service=self.service,
                rpc=rpc,
                action=action,
                application_id=application,
                fields=tuple(fields),
                purpose=purpose,
            )
        )

    def lock(self, name: str, *, shared: bool = False) -> None:
        """A named advisory lock held until the transaction ends."""
        named_lock(self.session, name, shared=shared)

    def publish(
        self, topic: str, key: str, message: Message, *, program_id: str | None = None
    ) -> int:
        """Put an event in the outbox for every subscriber of `topic` (rows written); its
        program is `program_id` or the message's own `program_id` field."""
        written = enqueue(self.session, self.service, topic, key, message, program_id=program_id)
        self.published += written
        return written


def named_lock(session: Session, name: str, *, shared: bool = False) -> None:
    """Take the transaction-scoped advisory lock called `name` (hashed by PostgreSQL)."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    session.execute(text(f"SELECT {function}(hashtextextended(:k, 1))"), {"k": name})


@dataclass
class UnitOfWork(Generic[R]):
    """Transactions of one service, each with its repository built over the session."""

    sessions: sessionmaker[Session]
    service: str
    repository: Callable[[Session], R]
    on_commit: list[Callable[[], None]] = field(default_factory=list)

    @contextmanager
    def __call__(self) -> Iterator[Work[R]]:
        """One transaction: commit at the end of the block, roll back on any error."""
        published = 0
        try:
            with self.sessions.begin() as session:
                work = Work(session, self.repository(session), self.service)
                yield work
                if work.pending_audit:
                    record_many(session, work.pending_audit)
                published = work.published
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
            raise DependencyUnavailable(MESSAGE_DATABASE_DOWN) from error
        except sa_exc.DBAPIError as error:
            if error.connection_invalidated:
                raise DependencyUnavailable(MESSAGE_DATABASE_DOWN) from error
            raise
        if published:
            for callback in self.on_commit:
                callback()
