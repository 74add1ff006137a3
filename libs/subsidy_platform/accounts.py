"""Account state on token verification: a disabled, locked or unknown account's token fails.

Issue "Hardening", finding 3. A staff token lives 15 minutes; without this check it stayed
good after its account was disabled or locked, and a token naming a login that does not
exist (or no longer exists) was accepted too. `AccountCheckingVerifier` wraps the signature
check (tokens.TokenVerifier) and then asks `AccountStates` about the login the token names:
the token is refused (UNAUTHENTICATED, the message of an invalid token) when no account has
that login, when it is disabled, when it is locked now, when its role is no longer the
token's, or when it was issued before the account's `tokens_valid_from` (issue 19: a
password reset or a disable ends every token issued before it, for good; enabling the
account again revives none of them). Service tokens name services, not accounts, and pass
unchanged.

Services never read the `auth` schema's tables: every service role may SELECT only the view
`auth.active_logins(login, role, disabled, locked_until, tokens_valid_from)` (migrations
auth_0004 and auth_0006; no password
hash, no failure count, no display name). Answers are cached per login for `CACHE_TTL`
(5 seconds), absent logins too, so a change reaches every service within those seconds
while a burst of calls costs one query. A database that cannot be reached makes the call
UNAVAILABLE: the check never fails open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from subsidy_platform.access import Principal, Verifier
from subsidy_platform.errors import Unauthenticated
from subsidy_platform.tokens import MESSAGE_INVALID, Clock, utc_now

CACHE_TTL = timedelta(seconds=5)
MAX_CACHED_LOGINS = 10_000
VIEW = "auth.active_logins"

Monotonic = Callable[[], float]


@dataclass(frozen=True, slots=True)
class AccountState:
    """What a service may know of a staff account."""

    login: str
    role: str
    disabled: bool
    locked_until: datetime | None
    tokens_valid_from: datetime | None = None

    def admits(self, principal: Principal, now: datetime) -> bool:
        """Whether a token naming `principal` may still be used at `now`."""
        locked = self.locked_until is not None and now < self.locked_until
        return (
            not self.disabled
            and not locked
            and self.role == principal.role
            and self._issued_in_time(principal)
        )

    def _issued_in_time(self, principal: Principal) -> bool:
        """Not issued before a revocation (a token of unknown issue time is refused then)."""
        if self.tokens_valid_from is None:
            return True
        issued = principal.issued_at
        return issued is not None and issued >= self.tokens_valid_from.timestamp()


class AccountStates:
    """Account states read from `auth.active_logins`, each cached for `ttl`."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: timedelta = CACHE_TTL,
        monotonic: Monotonic = time.monotonic,
        max_entries: int = MAX_CACHED_LOGINS,
    ) -> None:
        if ttl < timedelta(0):
            raise ValueError("the cache lifetime cannot be negative")
        self._engine = engine
        self._ttl = ttl.total_seconds()
        self._monotonic = monotonic
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, AccountState | None]] = {}
        self._lock = threading.Lock()

    def state(self, login: str) -> AccountState | None:
        """The account with this login (None: there is none), at most `ttl` old."""
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(login)
        if cached is not None and now < cached[0]:
            return cached[1]
        found = self._read(login)
        with self._lock:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
            self._cache[login] = (now + self._ttl, found)
        return found

    def _read(self, login: str) -> AccountState | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT role, disabled, locked_until, tokens_valid_from "
                    f"FROM {VIEW} WHERE login = :login"
                ),
                {"login": login},
            ).first()
        if row is None:
            return None
        return AccountState(
            login, str(row.role), bool(row.disabled), row.locked_until, row.tokens_valid_from
        )


class AccountCheckingVerifier:
    """A token verifier that also refuses tokens of accounts that may no longer sign in."""

    def __init__(self, verifier: Verifier, accounts: AccountStates, *, clock: Clock = utc_now):
        self._verifier = verifier
        self._accounts = accounts
        self._clock = clock

    def verify(self, token: str) -> Principal:
        principal = self._verifier.verify(token)
        if principal.kind != "staff":
            return principal
        state = self._accounts.state(principal.subject)
        if state is None or not state.admits(principal, self._clock()):
            raise Unauthenticated(MESSAGE_INVALID)
        return principal
