"""The administrator's staff-account changes, served by the sign-in service (issue 10, part 3).

`UserAdminService` (proto/subsidy/auth/v1/admin.proto) lists accounts and disables, enables,
unlocks them or resets their password; only role `admin` may call it (auth_main.TABLE). It
runs in the sign-in service because that process already holds the one database role that
may touch `auth.users` (`svc_auth`: SELECT, and UPDATE of the lock-out counters, the password
hash and, since auth_0005, `disabled`); no command needs the database URL for day-to-day
account work, and the administrator signs in like any staff member (a token bound to the
staff certificate, checked against the account on every call). Adding an account or
changing a role stays with the machine's administrator (`subsidy-admin users add`).

Rules:
- A login is normalised as at sign-in (`users.normalise_login`) and must fit the login
  alphabet; a bad one is INVALID_ARGUMENT naming `login`, an unknown one NOT_FOUND; the
  caller's text is repeated only as NotFound does (a short well-formed id).
- An administrator may not disable their own account (FAILED_PRECONDITION): the last
  administrator could otherwise lock everyone out.
- A reset password must satisfy `passwords.check_password_policy`; it also unlocks the
  account (a forgotten password is the usual cause of a lock-out). The password is never
  logged, audited nor echoed.
- Every change is one audit event in the same transaction as the change (actor: the
  administrator's login, `target`: the account's login, `fields`: the columns changed).
  A request that changes nothing (disabling a disabled account) answers `changed=false`
  and writes nothing.
- Tokens already issued to a disabled account stop working within the account-state cache
  time of every service (accounts.CACHE_TTL).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import grpc
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, sessionmaker
from subsidy.auth.v1 import admin_pb2, admin_pb2_grpc

from subsidy_platform import audit
from subsidy_platform import sign_in_throttle as throttle
from subsidy_platform.access import ROLES, Principal, current_principal
from subsidy_platform.errors import (
    Conflict,
    DependencyUnavailable,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from subsidy_platform.passwords import (
    LockoutState,
    check_password_policy,
    hash_password,
    is_locked,
)
from subsidy_platform.servicing import rpc
from subsidy_platform.users import _LOGIN, MAX_LOGIN_INPUT, User, normalise_login, revoke_tokens

SERVICE = "subsidy.auth.v1.UserAdminService"
SIGN_IN_SERVICE = "auth"
DEFAULT_PAGE = 100
MAX_PAGE = 500
MESSAGE_DATABASE_DOWN = "データベースに接続できません"
MESSAGE_SELF_DISABLE = "自分のアカウントは無効にできません"
ACCOUNT = "利用者"
T = TypeVar("T")

DISABLED = "account_disabled"
ENABLED = "account_enabled"
UNLOCKED = "account_unlocked"
PASSWORD_RESET = "password_reset"


@dataclass(frozen=True, slots=True)
class AccountView:
    """What the administrator sees of an account (never its hash nor its name)."""

    login: str
    role: str
    disabled: bool
    locked_until: datetime | None
    failed_attempts: int
    created_at: datetime

    def locked(self, now: datetime) -> bool:
        return is_locked(LockoutState(self.failed_attempts, self.locked_until), now)


def checked_login(value: str) -> str:
    """The normalised login, or InvalidArgument naming `login` (the value is not repeated)."""
    login = normalise_login(value[: MAX_LOGIN_INPUT + 1])
    if len(value) > MAX_LOGIN_INPUT or not _LOGIN.fullmatch(login):
        raise InvalidArgument(
            [FieldViolation("login", "IDは英小文字・数字・「.」「_」「-」で3〜64文字です")]
        )
    return login


def list_accounts(
    session: Session, *, after: str = "", role: str = "", limit: int = DEFAULT_PAGE
) -> list[AccountView]:
    """Accounts by login after `after` (keyset paging), at most `limit`."""
    query = select(User).order_by(User.login).limit(limit)
    if after:
        query = query.where(User.login > after)
    if role:
        query = query.where(User.role == role)
    return [_view(user) for user in session.scalars(query)]


def change_account(
    session: Session,
    who: Principal,
    login: str,
    rpc_name: str,
    change: Callable[[User, datetime], tuple[str, ...]],
    action: str,
    now: datetime,
) -> tuple[AccountView, bool]:
    """Apply `change` to the account under a row lock; audit it when it changed something.

    `change` returns the columns it changed (empty: nothing to do). Commits.
    """
    user = session.scalars(select(User).where(User.login == login).with_for_update()).first()
    if user is None:
        raise NotFound(ACCOUNT, login)
    changed = change(user, now)
    if changed:
        audit.record(
            session,
            audit.AuditEvent(
                actor=who.subject,
                role=who.role,
                service=SIGN_IN_SERVICE,
                rpc=f"/{SERVICE}/{rpc_name}",
                action=action,
                fields=changed,
                target=user.login,
            ),
        )
    view = _view(user)
    session.commit()
    return view, bool(changed)


def disable(user: User, now: datetime) -> tuple[str, ...]:
    """Disable the account and end every token it holds (enabling it again revives none)."""
    if user.disabled:
        return ()
    user.disabled = True
    return ("disabled", *revoke_tokens(user, now))


def enable(user: User, _now: datetime) -> tuple[str, ...]:
    if not user.disabled:
        return ()
    user.disabled = False
    return ("disabled",)


def unlock(user: User, _now: datetime) -> tuple[str, ...]:
    """Lift the account's lock-out and every client's block of it."""
    cleared = _clear_client_blocks(user)
    if user.locked_until is None and user.failed_attempts == 0:
        return ("sign_in_throttles",) if cleared else ()
    user.locked_until = None
    user.failed_attempts = 0
    return ("failed_attempts", "locked_until", *(("sign_in_throttles",) if cleared else ()))


def _clear_client_blocks(user: User) -> bool:
    """Forget every client's failures of the account; whether there were any."""
    session = object_session(user)
    if session is None:
        return False
    return throttle.clear(session, user.id) > 0


def new_password(password: str) -> Callable[[User, datetime], tuple[str, ...]]:
    """The change that sets a new password (checked against the policy first) and unlocks."""
    check_password_policy(password)
    encoded = hash_password(password)

    def reset(user: User, now: datetime) -> tuple[str, ...]:
        user.password_hash = encoded
        user.failed_attempts = 0
        user.locked_until = None
        _clear_client_blocks(user)
        return ("password_hash", "failed_attempts", "locked_until", *revoke_tokens(user, now))

    return reset


class UserAdminServicer(admin_pb2_grpc.UserAdminServiceServicer):
    """Requests -> the account changes above; errors -> statuses (servicing.rpc)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    @rpc
    def ListUsers(
        self, request: admin_pb2.ListUsersRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListUsersResponse:
        size = _page_size(request.page_size)
        after = _page_token(request.page_token)
        role = request.role
        if role and role not in ROLES:
            raise InvalidArgument(
                [FieldViolation("role", f"役割は次のいずれかです: {', '.join(ROLES)}")]
            )
        now = datetime.now(UTC)
        accounts = self._read(lambda s: list_accounts(s, after=after, role=role, limit=size + 1))
        page = accounts[:size]
        token = _token_of(page[-1].login) if len(accounts) > size else ""
        return admin_pb2.ListUsersResponse(
            accounts=[_message(account, now) for account in page], next_page_token=token
        )

    @rpc
    def DisableUser(
        self, request: admin_pb2.ChangeUserRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ChangeUserResponse:
        login = checked_login(request.login)
        who = current_principal()
        if who.subject == login:
            raise Conflict(MESSAGE_SELF_DISABLE)
        return self._change(who, login, "DisableUser", disable, DISABLED)

    @rpc
    def EnableUser(
        self, request: admin_pb2.ChangeUserRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ChangeUserResponse:
        return self._change(
            current_principal(), checked_login(request.login), "EnableUser", enable, ENABLED
        )

    @rpc
    def UnlockUser(
        self, request: admin_pb2.ChangeUserRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ChangeUserResponse:
        return self._change(
            current_principal(), checked_login(request.login), "UnlockUser", unlock, UNLOCKED
        )

    @rpc
    def ResetPassword(
        self, request: admin_pb2.ResetPasswordRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ChangeUserResponse:
        login = checked_login(request.login)
        reset = new_password(request.new_password)
        return self._change(current_principal(), login, "ResetPassword", reset, PASSWORD_RESET)

    def _change(
        self,
        who: Principal,
        login: str,
        rpc_name: str,
        change: Callable[[User, datetime], tuple[str, ...]],
        action: str,
    ) -> admin_pb2.ChangeUserResponse:
        now = datetime.now(UTC)
        view, changed = self._read(
            lambda s: change_account(s, who, login, rpc_name, change, action, now)
        )
        return admin_pb2.ChangeUserResponse(account=_message(view, now), changed=changed)

    def _read(self, work: Callable[[Session], T]) -> T:
        try:
            with self.sessions() as session:
                return work(session)
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as error:
            raise DependencyUnavailable(MESSAGE_DATABASE_DOWN) from error


def _view(user: User) -> AccountView:
    """The account as listed; locked while the account itself or any client's block of it
    lasts (the latest end shown)."""
    session = object_session(user)
    blocks = [user.locked_until]
    if session is not None:
        blocks.append(throttle.blocked_until(session, user.id))
    ends = [end for end in blocks if end is not None]
    return AccountView(
        user.login,
        user.role,
        bool(user.disabled),
        max(ends) if ends else None,
        int(user.failed_attempts),
        user.created_at,
    )


def _message(account: AccountView, now: datetime) -> admin_pb2.StaffAccount:
    locked = account.locked(now)
    return admin_pb2.StaffAccount(
        login=account.login,
        role=account.role,
        disabled=account.disabled,
        locked=locked,
        locked_until=account.locked_until.isoformat() if locked and account.locked_until else "",
        failed_attempts=account.failed_attempts,
        created_at=account.created_at.isoformat(),
    )


def _page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_PAGE
    if not 1 <= value <= MAX_PAGE:
        raise InvalidArgument([FieldViolation("page_size", f"1〜{MAX_PAGE}で指定してください")])
    return value


def _token_of(login: str) -> str:
    return base64.urlsafe_b64encode(login.encode("ascii")).decode("ascii")


def _page_token(token: str) -> str:
    """The login a page token continues after ('' for the first page)."""
    if not token:
        return ""
    invalid = InvalidArgument([FieldViolation("page_token", "ページトークンが正しくありません")])
    if len(token) > 128:
        raise invalid
    try:
        login = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):
        raise invalid from None
    if not _LOGIN.fullmatch(login):
        raise invalid
    return login
