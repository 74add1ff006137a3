"""A stranger cannot lock a colleague out at will (issue 19): failed sign-ins count per client.

Through the real sign-in service over mutual TLS, with two client certificates of the
platform's CA (two terminals): five wrong passwords from one terminal block that login from
that terminal only (the right password is refused there, and accepted from the other);
where the policy sets it, twenty failures from one terminal on any logins block the
terminal for every login (off by default: a shared client would block everyone); and,
by the administrator's policy, consecutive failures of one account from many terminals
lock the account itself, everywhere. Each lock-out is audited with its scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from admin_support import PASSWORD, account, events
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from subsidy_platform.db import database_url_for, make_engine
from subsidy_platform.errors import Unauthenticated
from subsidy_platform.passwords import MAX_FAILED_ATTEMPTS
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.sign_in_throttle import SignInPolicy, client_key
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.tls import client_identity, ensure_pki
from subsidy_platform.users import CLIENT_SCOPE, LOCKED_OUT, User, sign_in

WRONG = "not the password at all"


def terminal(environment: Environment) -> str:
    """A new staff terminal: a client certificate of the platform's CA; its identity."""
    name = f"terminal-{uuid.uuid4().hex[:8]}"
    ensure_pki(environment.settings.state_dir, [], [name])
    return client_identity(name)


def signs_in(
    auth: ServiceProcess, environment: Environment, identity: str, login: str, password: str
) -> bool:
    session = StaffSession(environment.pki, identity=identity)
    try:
        session.sign_in(auth.address, login, password)
        return True
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        return False
    finally:
        session.close()


@pytest.fixture(scope="module")
def signing_in(admin_engine: Engine) -> Iterator[Engine]:
    """The sign-in service's own login, the only one that may audit sign-ins (audit_0004)."""
    url = admin_engine.url.render_as_string(hide_password=False)
    engine = make_engine(database_url_for(url, "svc_auth"))
    try:
        yield engine
    finally:
        engine.dispose()


def test_failures_from_a_strangers_terminal_do_not_lock_the_owner_out(
    auth: ServiceProcess, environment: Environment, admin_engine: Engine
) -> None:
    owner = account(admin_engine, "checker", "own")
    stranger, colleague = terminal(environment), terminal(environment)
    for _ in range(MAX_FAILED_ATTEMPTS):
        assert not signs_in(auth, environment, stranger, owner, WRONG)
    assert not signs_in(auth, environment, stranger, owner, PASSWORD)  # blocked there
    assert signs_in(auth, environment, colleague, owner, PASSWORD)  # the owner elsewhere
    with Session(admin_engine) as session:
        user = session.query(User).filter_by(login=owner).one()
        assert user.locked_until is None  # the account itself is not locked
        actor = str(user.id)
    [locked] = events(admin_engine, "actor = :a AND action = :l", a=actor, l=LOCKED_OUT)
    assert locked["purpose"] == CLIENT_SCOPE


def test_a_terminal_that_tries_many_logins_is_blocked_for_every_login_when_the_policy_says(
    admin_engine: Engine, signing_in: Engine
) -> None:
    owner = account(admin_engine, "checker", "spr")
    policy = SignInPolicy(per_client_total=20)
    now = datetime.now(UTC)
    sprayer, colleague = (client_key(f"{n:064x}", f"ipv4:198.51.100.{n}:5000") for n in (1, 2))

    def attempt(client: str, login: str, password: str) -> bool:
        with Session(signing_in) as session:
            try:
                sign_in(session, login, password, now, client=client, policy=policy)
                return True
            except Unauthenticated:
                return False

    for index in range(policy.per_client_total):
        assert not attempt(sprayer, f"nobody-{index}-{uuid.uuid4().hex[:6]}", WRONG)
    assert not attempt(sprayer, owner, PASSWORD)
    assert attempt(colleague, owner, PASSWORD)
    assert SignInPolicy().per_client_total == 0  # off by default: a shared client would block all


def test_the_policy_locks_the_account_after_failures_from_many_terminals(
    admin_engine: Engine, signing_in: Engine
) -> None:
    owner = account(admin_engine, "checker", "acc")
    policy = SignInPolicy(per_client=5, per_client_total=20, per_account=3)
    now = datetime.now(UTC)
    clients = [client_key(f"{index:064x}", f"ipv4:192.0.2.{index}:5000") for index in range(4)]

    def attempt(client: str, password: str) -> bool:
        with Session(signing_in) as session:
            try:
                sign_in(session, owner, password, now, client=client, policy=policy)
                return True
            except Unauthenticated:
                return False

    for client in clients[:3]:
        assert not attempt(client, WRONG)
    assert not attempt(clients[3], PASSWORD)  # locked everywhere
    with Session(admin_engine) as session:
        user = session.query(User).filter_by(login=owner).one()
        assert user.locked_until == now + policy.period


def test_the_policy_is_read_from_the_environment_and_bad_values_are_named() -> None:
    policy = SignInPolicy.from_env(
        {"SIGN_IN_CLIENT_LIMIT": "3", "SIGN_IN_ACCOUNT_LIMIT": "0", "SIGN_IN_LOCKOUT_MINUTES": "30"}
    )
    assert (policy.per_client, policy.per_client_total, policy.per_account) == (3, 0, 0)
    assert policy.period == timedelta(minutes=30)
    for bad in ("0", "-1", "５", "many"):
        with pytest.raises(ValueError, match="SIGN_IN_CLIENT_LIMIT") as error:
            SignInPolicy.from_env({"SIGN_IN_CLIENT_LIMIT": bad})
        assert bad not in str(error.value).replace("at least 1", "")


def test_a_client_is_its_certificate_and_host_not_its_port() -> None:
    assert client_key("ab", "ipv4:192.0.2.1:5000") == client_key("ab", "ipv4:192.0.2.1:6000")
    assert client_key("ab", "ipv4:192.0.2.1:5000") != client_key("cd", "ipv4:192.0.2.1:5000")
    assert client_key("ab", "ipv6:[::1]:5000") != client_key("ab", "ipv4:192.0.2.1:5000")
