"""Failed sign-ins counted per client, so that a stranger cannot lock a colleague out (issue 19).

A client is the terminal a sign-in comes from: the client certificate it presents and the
host it connects from, kept only as a digest (`client_key`). Failures are counted in
`auth.sign_in_throttles` (migration auth_0007), within a window of the policy's period
from the first failure:

- per client and account: `per_client` failures of one login from one client block that
  login *from that client* for the period (the owner signing in elsewhere is unaffected);
- per client: `per_client_total` failures from one client on any logins (known or not)
  block every sign-in from it for the period (a stranger trying many logins);
- per account, across clients: `per_account` consecutive failures lock the account itself
  (`auth.users.locked_until`, passwords.after_failure) for the period; the administrator's
  policy sets the number, 0 turning the account-wide lock-out off.

A blocked attempt is answered like any other refusal (same message, same scrypt work) and
audited. A correct password clears the client's count for that login; an administrator's
unlock or password reset clears every client's count for it. Rows whose window and block
have passed are deleted when their client next signs in.

The policy comes from the sign-in service's environment (`SignInPolicy.from_env`), each
value with its default: `SIGN_IN_CLIENT_LIMIT` (5), `SIGN_IN_CLIENT_TOTAL_LIMIT` (20),
`SIGN_IN_ACCOUNT_LIMIT` (50), `SIGN_IN_LOCKOUT_MINUTES` (15).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Integer, MetaData, Text, Uuid, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from subsidy_platform.passwords import LOCKOUT_PERIOD, MAX_FAILED_ATTEMPTS


@dataclass(frozen=True)
class SignInPolicy:
    """How many failures block what, and for how long (module docstring)."""

    per_client: int = MAX_FAILED_ATTEMPTS
    per_client_total: int = 20
    per_account: int = 50
    period: timedelta = LOCKOUT_PERIOD

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SignInPolicy:
        def number(name: str, default: int, least: int) -> int:
            raw = environ.get(name, "")
            if not raw:
                return default
            if not raw.isascii() or not raw.isdigit() or int(raw) < least:
                raise ValueError(f"{name} must be a whole number of at least {least}")
            return int(raw)

        return cls(
            per_client=number("SIGN_IN_CLIENT_LIMIT", cls.per_client, 1),
            per_client_total=number("SIGN_IN_CLIENT_TOTAL_LIMIT", cls.per_client_total, 1),
            per_account=number("SIGN_IN_ACCOUNT_LIMIT", cls.per_account, 0),
            period=timedelta(minutes=number("SIGN_IN_LOCKOUT_MINUTES", 15, 1)),
        )


DEFAULT_POLICY = SignInPolicy()


def client_key(certificate_thumbprint: str | None, peer: str) -> str:
    """The digest that names a client: its certificate and its host (the port left out)."""
    host = peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer
    material = f"{certificate_thumbprint or '-'}|{host}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


UNNAMED_CLIENT = client_key(None, "")


class _ThrottleBase(DeclarativeBase):
    metadata = MetaData(schema="auth")


class SignInThrottle(_ThrottleBase):
    """Failures of one login (or, `login_id` None, of any login) from one client."""

    __tablename__ = "sign_in_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    client: Mapped[str] = mapped_column(Text)
    login_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # auth.users.id (FK in the table)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def _row(
    session: Session, client: str, login_id: uuid.UUID | None, now: datetime
) -> SignInThrottle:
    """The client's row for `login_id`, created if missing and locked for this transaction."""
    session.execute(
        insert(SignInThrottle)
        .values(client=client, login_id=login_id, failures=0, window_start=now)
        .on_conflict_do_nothing()
    )
    where = (
        SignInThrottle.login_id.is_(None)
        if login_id is None
        else (SignInThrottle.login_id == login_id)
    )
    return session.scalars(
        select(SignInThrottle)
        .where(SignInThrottle.client == client, where)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def forget_expired(session: Session, client: str, now: datetime, policy: SignInPolicy) -> None:
    """Delete the client's rows whose window and block have both passed."""
    session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.client == client,
            SignInThrottle.window_start <= now - policy.period,
            or_(SignInThrottle.blocked_until.is_(None), SignInThrottle.blocked_until <= now),
        )
    )


def is_blocked(session: Session, client: str, login_id: uuid.UUID | None, now: datetime) -> bool:
    """Whether the client, or the client for this login, is blocked at `now`."""
    rows = session.scalars(
        select(SignInThrottle).where(
            SignInThrottle.client == client,
            or_(SignInThrottle.login_id.is_(None), SignInThrottle.login_id == login_id)
            if login_id is not None
            else SignInThrottle.login_id.is_(None),
            SignInThrottle.blocked_until > now,
        )
    ).all()
    return bool(rows)


def blocked_until(session: Session, login_id: uuid.UUID) -> datetime | None:
    """The latest end of any client's block of the login (None: never blocked)."""
    return session.scalar(
        select(func.max(SignInThrottle.blocked_until)).where(SignInThrottle.login_id == login_id)
    )


def count_failure(
    session: Session,
    client: str,
    login_id: uuid.UUID | None,
    now: datetime,
    policy: SignInPolicy,
) -> bool:
    """Count one failure from `client` (on `login_id` when the login exists); whether it
    blocked the client or the client for the login."""
    blocked = _fail(_row(session, client, None, now), policy.per_client_total, now, policy)
    if login_id is not None:
        row = _row(session, client, login_id, now)
        blocked = _fail(row, policy.per_client, now, policy) or blocked
    return blocked


def _fail(row: SignInThrottle, limit: int, now: datetime, policy: SignInPolicy) -> bool:
    if row.window_start <= now - policy.period:
        row.failures, row.window_start = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.failures, row.window_start, row.blocked_until = 0, now, now + policy.period
        return True
    return False


def clear(session: Session, login_id: uuid.UUID, client: str | None = None) -> int:
    """Forget the login's failures from `client`, or from every client; the rows deleted."""
    condition = [SignInThrottle.login_id == login_id]
    if client is not None:
        condition.append(SignInThrottle.client == client)
    result = session.execute(delete(SignInThrottle).where(*condition))
    return int(getattr(result, "rowcount", 0) or 0)
