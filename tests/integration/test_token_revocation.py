"""Tokens end with the password and the account (issue 19): a password reset or a disable
refuses every token issued before it on every service within the account cache's seconds,
for good: enabling the account again revives none, while a new sign-in works at once.

Followed through the real sign-in service: the tokens are real sign-in answers, the changes
are an administrator's RPCs, and the calls that must be refused are real RPCs of the
sign-in service (its user administration), checked like every service's by the account view.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
from admin_support import PASSWORD, account
from sqlalchemy import Engine, text
from subsidy.auth.v1 import admin_pb2, admin_pb2_grpc

from subsidy_platform.accounts import CACHE_TTL
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.tokens import MESSAGE_INVALID

NEW_PASSWORD = "another long passphrase 7"
PAST_THE_CACHE = CACHE_TTL.total_seconds() + 1.5


def signed_in(
    auth: ServiceProcess, environment: Environment, login: str, password: str
) -> StaffSession:
    session = StaffSession(environment.pki)
    session.sign_in(auth.address, login, password)
    return session


def lists_users(auth: ServiceProcess, session: StaffSession) -> grpc.StatusCode:
    stub = session.stub(auth.address, admin_pb2_grpc.UserAdminServiceStub)
    try:
        stub.ListUsers(
            admin_pb2.ListUsersRequest(page_size=1), metadata=session.metadata, timeout=30
        )
    except grpc.RpcError as error:
        assert error.code() != grpc.StatusCode.UNAUTHENTICATED or error.details() == MESSAGE_INVALID
        return error.code()
    return grpc.StatusCode.OK


def soon(check: Callable[[], bool], seconds: float = PAST_THE_CACHE + 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return check()


def test_a_reset_or_a_disable_ends_every_earlier_token_for_good(
    auth: ServiceProcess, environment: Environment, admin_engine: Engine
) -> None:
    admin = account(admin_engine, "admin", "adm")
    target = account(admin_engine, "admin", "tok")
    administrator = signed_in(auth, environment, admin, PASSWORD)
    users = administrator.stub(auth.address, admin_pb2_grpc.UserAdminServiceStub)
    before_reset = signed_in(auth, environment, target, PASSWORD)
    try:
        assert lists_users(auth, before_reset) == grpc.StatusCode.OK

        users.ResetPassword(
            admin_pb2.ResetPasswordRequest(login=target, new_password=NEW_PASSWORD),
            metadata=administrator.metadata,
            timeout=30,
        )
        assert soon(lambda: lists_users(auth, before_reset) == grpc.StatusCode.UNAUTHENTICATED)
        after_reset = signed_in(auth, environment, target, NEW_PASSWORD)  # at once, same second
        assert lists_users(auth, after_reset) == grpc.StatusCode.OK
        time.sleep(PAST_THE_CACHE)  # every cache now holds the reset: still refused, still good
        assert lists_users(auth, before_reset) == grpc.StatusCode.UNAUTHENTICATED
        assert lists_users(auth, after_reset) == grpc.StatusCode.OK

        users.DisableUser(
            admin_pb2.ChangeUserRequest(login=target),
            metadata=administrator.metadata,
            timeout=30,
        )
        assert soon(lambda: lists_users(auth, after_reset) == grpc.StatusCode.UNAUTHENTICATED)
        users.EnableUser(
            admin_pb2.ChangeUserRequest(login=target),
            metadata=administrator.metadata,
            timeout=30,
        )
        time.sleep(PAST_THE_CACHE)  # enabled everywhere: the earlier tokens stay refused
        assert lists_users(auth, after_reset) == grpc.StatusCode.UNAUTHENTICATED
        assert lists_users(auth, before_reset) == grpc.StatusCode.UNAUTHENTICATED
        fresh = signed_in(auth, environment, target, NEW_PASSWORD)
        assert lists_users(auth, fresh) == grpc.StatusCode.OK
        fresh.close()
    finally:
        before_reset.close()
        administrator.close()

    with admin_engine.connect() as connection:
        actions = connection.execute(
            text("SELECT action, fields FROM audit.events WHERE target = :t ORDER BY seq"),
            {"t": target},
        ).all()
    assert [(a, "tokens_valid_from" in f) for a, f in actions] == [
        ("password_reset", True),
        ("account_disabled", True),
        ("account_enabled", False),
    ]
