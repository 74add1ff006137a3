"""Staff accounts and sign-in (issue 3, "Identity and access"; roles from DESIGN.md).

Accounts live in `auth.users` (migrations in `subsidy_platform/migrations/auth`). Sign-in
checks an ID (login) and password against the scrypt hash and applies the sign-in policy
(subsidy_platform.sign_in_throttle): five failures of a login from one client block that
login from that client for fifteen minutes, twenty failures from one client on any logins
block the client, and fifty consecutive failures from all clients lock the account itself
(the numbers are the policy's defaults), so that a stranger at another terminal cannot lock
a colleague out at will.

Sign-in gives nothing away about which logins exist (issue "Hardening", finding 2): an
unknown login, a wrong password, a disabled account and a locked one all get the same
message, `MESSAGE_WRONG_CREDENTIALS`, and every attempt costs one scrypt verification (an
unknown login against a dummy hash), so the answer takes as long. The lock-out still
applies: a locked account is refused whatever the password, and its holder learns of the
lock from an administrator, who sees it in the audit log. Concurrent attempts on one account
are serialised by a row lock, so every failure is counted.

Every refused attempt is an audit event in the same transaction as the failure count
(`SIGN_IN_FAILED`: unknown login or wrong password; `LOCKED_OUT`: the failure that locked the
account or blocked the client, the purpose saying which; `SIGN_IN_REFUSED`: an attempt on a
locked, blocked or disabled account), with no personal data
and never the password or the login typed: the actor is the account's id when the login
exists and `ANONYMOUS` when it does not.
`subsidy-admin users add` is `add_user_arguments` + `run_users_add`.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import re
import sys
import unicodedata
import uuid
from datetime import datetime, timedelta
from typing import NoReturn, TextIO

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from subsidy_platform import audit
from subsidy_platform import sign_in_throttle as throttle
from subsidy_platform.access import ROLES, Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument, Unauthenticated
from subsidy_platform.passwords import (
    LockoutState,
    after_failure,
    after_success,
    check_password_policy,
    hash_password,
    is_locked,
    needs_rehash,
    verify_password,
)
from subsidy_platform.sign_in_throttle import DEFAULT_POLICY, UNNAMED_CLIENT, SignInPolicy

SCHEMA = "auth"
MESSAGE_WRONG_CREDENTIALS = "IDまたはパスワードが正しくありません"
MESSAGE_LOGIN_TAKEN = "このIDは既に使われています"

SIGN_IN_SERVICE = "auth"
SIGN_IN_RPC = "/subsidy.auth.v1.AuthService/SignIn"
ANONYMOUS = "anonymous"
"""Actor (and role) of an audited attempt whose login names no account."""
SIGN_IN_FAILED = "sign_in_failed"
LOCKED_OUT = "locked_out"
ACCOUNT_SCOPE = "アカウント全体"  # the account is locked, from every client
CLIENT_SCOPE = "この端末から"  # the account (or every login) is blocked from one client
SIGN_IN_REFUSED = "sign_in_refused"

_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
MAX_LOGIN_INPUT = 256  # what a caller may send as a login at most (NFKC may widen it)
_ROLE_LIST = ", ".join(f"'{role}'" for role in ROLES)


class AuthBase(DeclarativeBase):
    metadata = MetaData(
        schema=SCHEMA,
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        },
    )


class User(AuthBase):
    """A staff member who signs in; the role decides what every RPC allows."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({_ROLE_LIST})", name="role"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    login: Mapped[str] = mapped_column(Text, unique=True)
    display_name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    failed_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    tokens_valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """A token issued before this instant is refused (set by a password reset or a disable)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def normalise_login(login: str) -> str:
    """Logins compare case- and width-insensitively (`ＴＡＮＡＫＡ01` is `tanaka01`)."""
    return unicodedata.normalize("NFKC", login).strip().lower()


def create_user(
    session: Session,
    login: str,
    role: str,
    password: str,
    *,
    display_name: str | None = None,
) -> User:
    """Add a staff account (flushed; the caller commits).

    InvalidArgument lists every bad field; Conflict if the login is taken.
    """
    normalised = normalise_login(login)
    violations: list[FieldViolation] = []
    if not _LOGIN.fullmatch(normalised):
        violations.append(
            FieldViolation("login", "IDは英小文字・数字・「.」「_」「-」で3〜64文字にしてください")
        )
    if role not in ROLES:
        violations.append(FieldViolation("role", f"役割は次のいずれかです: {', '.join(ROLES)}"))
    try:
        check_password_policy(password)
    except InvalidArgument as weak:
        violations.extend(weak.violations)
    if violations:
        raise InvalidArgument(violations)
    if session.scalar(select(User.id).where(User.login == normalised)) is not None:
        raise Conflict(MESSAGE_LOGIN_TAKEN)
    user = User(
        login=normalised,
        display_name=display_name or normalised,
        role=role,
        password_hash=hash_password(password),
        failed_attempts=0,
        disabled=False,
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict(MESSAGE_LOGIN_TAKEN) from None
    return user


def revoke_tokens(user: User, now: datetime) -> tuple[str, ...]:
    """Refuse, for good, every token of `user` issued up to `now`.

    Tokens carry their issue time in whole seconds, so the limit is the next whole second:
    a token issued within the same second as the revocation is refused too, and sign-in
    issues the next token with that second as its issue time (`Principal.issued_at`)."""
    if now.tzinfo is None:
        raise ValueError("revoke_tokens needs an aware datetime")
    user.tokens_valid_from = now.replace(microsecond=0) + timedelta(seconds=1)
    return ("tokens_valid_from",)


def _first_token_second(valid_from: datetime | None) -> int | None:
    return None if valid_from is None else int(valid_from.timestamp())


def sign_in(
    session: Session,
    login: str,
    password: str,
    now: datetime,
    *,
    client: str = UNNAMED_CLIENT,
    policy: SignInPolicy = DEFAULT_POLICY,
) -> Principal:
    """The principal of a staff member whose ID and password are right at `now`, signing
    in from `client` (sign_in_throttle.client_key) under the lock-out `policy`.

    Raises Unauthenticated with `MESSAGE_WRONG_CREDENTIALS` whatever the reason. This use
    case owns the session's transaction: it commits before returning *and* before raising,
    so that a failure is counted and audited even though the caller sees an exception.
    """
    if now.tzinfo is None:
        raise ValueError("sign_in needs an aware datetime")
    throttle.forget_expired(session, client, now, policy)
    normalised = normalise_login(login[: MAX_LOGIN_INPUT + 1])
    # A login no account can have (too long, a NUL or anything outside the login alphabet)
    # is answered as an unknown one, without asking the database.
    user = (
        session.scalars(
            select(User).where(User.login == normalised).with_for_update()
        ).one_or_none()
        if _LOGIN.fullmatch(normalised) and len(login) <= MAX_LOGIN_INPUT
        else None
    )
    if user is None:
        verify_password(password, _dummy_hash())
        blocked = throttle.count_failure(session, client, None, now, policy)
        _refuse(session, None, LOCKED_OUT if blocked else SIGN_IN_FAILED, CLIENT_SCOPE)
    state = LockoutState(user.failed_attempts, user.locked_until)
    if is_locked(state, now) or user.disabled or throttle.is_blocked(session, client, user.id, now):
        verify_password(password, user.password_hash)  # the same work as any other attempt
        _refuse(session, user, SIGN_IN_REFUSED)
    if verify_password(password, user.password_hash):
        _remember(user, after_success())
        throttle.clear(session, user.id, client)
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        principal = Principal(
            subject=user.login,
            role=user.role,
            kind="staff",
            issued_at=_first_token_second(user.tokens_valid_from),
        )
        session.commit()
        return principal
    after = after_failure(state, now, policy.per_account, policy.period)
    _remember(user, after)
    if is_locked(after, now):
        _refuse(session, user, LOCKED_OUT, ACCOUNT_SCOPE)
    blocked = throttle.count_failure(session, client, user.id, now, policy)
    _refuse(session, user, LOCKED_OUT if blocked else SIGN_IN_FAILED, CLIENT_SCOPE)


def _refuse(session: Session, user: User | None, action: str, scope: str | None = None) -> NoReturn:
    """Audit the refused attempt, commit it with the failure count, and answer as always
    (`scope`: for a lock-out, whether the account or only the client was locked out)."""
    audit.record(
        session,
        audit.AuditEvent(
            actor=str(user.id) if user is not None else ANONYMOUS,
            role=user.role if user is not None else ANONYMOUS,
            service=SIGN_IN_SERVICE,
            rpc=SIGN_IN_RPC,
            action=action,
            purpose=scope if action == LOCKED_OUT else None,
        ),
    )
    session.commit()
    raise Unauthenticated(MESSAGE_WRONG_CREDENTIALS)


def add_user_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `subsidy-admin users add`."""
    parser.add_argument("login", help="sign-in ID (lower-case letters, digits, . _ -)")
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--display-name", default=None)
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of prompting",
    )


def run_users_add(
    args: argparse.Namespace,
    engine: Engine,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    """Add one account from parsed arguments; 0 on success, 2 on bad input, 1 if taken."""
    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("パスワード: ")
        if getpass.getpass("パスワード (確認): ") != password:
            print("パスワードが一致しません", file=stderr)
            return 2
    try:
        with Session(engine) as session:
            user = create_user(
                session, args.login, args.role, password, display_name=args.display_name
            )
            session.commit()
            login, role = user.login, user.role
    except InvalidArgument as invalid:
        for violation in invalid.violations:
            print(f"{violation.field}: {violation.description}", file=stderr)
        return 2
    except Conflict as taken:
        print(str(taken), file=stderr)
        return 1
    print(f"利用者 {login} を追加しました (役割: {role})", file=stdout)
    return 0


def _remember(user: User, state: LockoutState) -> None:
    user.failed_attempts = state.failed_attempts
    user.locked_until = state.locked_until


@functools.cache
def _dummy_hash() -> str:
    """A hash with today's parameters that no password matches in practice."""
    return hash_password(uuid.uuid4().hex + uuid.uuid4().hex)
