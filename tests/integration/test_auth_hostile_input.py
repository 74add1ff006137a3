"""Hostile input to the sign-in service (AuthService/SignIn), generated, on a real server.

The login and the password get generated values (hostile_support, shared with intake's
and review's tests: lengths up to 1 MiB, any code point but surrogates, control
characters, NUL, digits of other scripts, and near misses of the valid value: a
character put in, a length about a limit, full-width or other digits, spaces, the case
swapped) while the other stays valid: a real account's login and password, or a login
that names no account.

For every call: the answer is a success or a clear error (UNAUTHENTICATED with the one
message for every refusal, or INVALID_ARGUMENT ...), never INTERNAL; the error is short and
never repeats a value longer than 32 characters; a refused sign-in changes no account but
the one its login names (whose failure count and lock-out are the policy's to change, never
its password hash or role), so a login that names no account changes nothing in
auth.users; the audit events of refusals (expected writes) never carry the value; and the
server answers health during (a probe every 0.2 s) and after the calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from hostile_support import (
    CLEAR,
    IGNORE_RANDOM_IN_SERVER_THREADS,
    Answer,
    Fuzz,
    Path,
    answer_of,
    check_answer,
    echoes,
    fuzz_rpc,
    leaf_paths,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.auth.v1 import auth_pb2, auth_pb2_grpc

from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import staff_channel
from subsidy_platform.users import MESSAGE_WRONG_CREDENTIALS, create_user, normalise_login

EXAMPLES = 30
pytestmark = IGNORE_RANDOM_IN_SERVER_THREADS
SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"]
PASSWORD = "hostile-input-正しいパスワード-2025"
ANSWERS = CLEAR | {grpc.StatusCode.UNAUTHENTICATED}


@dataclass(frozen=True)
class Account:
    login: str
    password: str


@pytest.fixture(scope="module")
def account(admin_engine: Engine) -> Account:
    login = f"hostile-{uuid.uuid4().hex[:12]}"
    with Session(admin_engine) as session:
        create_user(session, login, "checker", PASSWORD, display_name="敵対 入力")
        session.commit()
    return Account(login, PASSWORD)


def as_generated(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values


def with_nul(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values.map(lambda v: v[: len(v) // 2] + "\x00" + v[len(v) // 2 :])


@dataclass
class Target:
    name: str
    rpc: str
    build: Callable[[Account], Message]
    field: str
    shape: Callable[[st.SearchStrategy[Any]], st.SearchStrategy[Any]] = as_generated
    marks: tuple[Any, ...] = ()

    @property
    def paths(self) -> list[Path]:
        return [(self.field,)]


def _account(a: Account) -> Message:
    """A real account's login and password."""
    return auth_pb2.SignInRequest(login=a.login, password=a.password)


def _nobody(a: Account) -> Message:
    """A login that names no account: nothing in auth.users may change, whatever is sent."""
    return auth_pb2.SignInRequest(login=f"nobody-{uuid.uuid4().hex[:12]}", password=a.password)


TARGETS = [
    Target("account-login", "SignIn", _account, "login"),
    Target("account-password", "SignIn", _account, "password"),
    Target("nobody-login", "SignIn", _nobody, "login"),
    Target("nobody-password", "SignIn", _nobody, "password"),
    Target("nobody-login-holding-NUL", "SignIn", _nobody, "login", shape=with_nul),
]  # fmt: skip


def test_every_rpc_of_the_service_is_fuzzed_over_every_string_field() -> None:
    assert {t.rpc for t in TARGETS} == {m.name for m in SERVICE.methods}
    fields = set(leaf_paths(SERVICE.methods_by_name["SignIn"].input_type))
    assert fields == {("login",), ("password",)}
    for build in (_account, _nobody):
        assert {p for t in TARGETS if t.build is build for p in t.paths} == fields


# --- the test -------------------------------------------------------------------------------


def accounts(engine: Engine, request: Any) -> tuple[tuple[Any, ...], ...]:
    """Every account as a refused sign-in must leave it: all of it, but for the account
    the login names (if any), whose failure count and lock-out the policy changes."""
    named = normalise_login(request.login)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT login, role, display_name, password_hash, disabled, failed_attempts, "
                "locked_until FROM auth.users ORDER BY login"
            )
        ).all()
    return tuple(tuple(row)[:5] if row.login == named else tuple(row) for row in rows)


def last_audit(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(text("SELECT coalesce(max(seq), 0) FROM audit.events")).one()[0]
        )


def audited_since(engine: Engine, seq: int) -> str:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT row_to_json(e)::text FROM audit.events e WHERE seq > :s"), {"s": seq}
        ).all()
    return "".join(str(r[0]) for r in rows)


@pytest.fixture(scope="module")
def stub(auth: ServiceProcess, environment: Environment) -> Iterator[Any]:
    with staff_channel(environment.pki, auth.address) as channel:
        yield auth_pb2_grpc.AuthServiceStub(channel)


def call(stub: Any, engine: Engine, request: Any) -> Answer:
    """One sign-in; its audit events (refusals are audited) never carry the values sent."""
    seq = last_audit(engine)
    answer = answer_of(lambda: stub.SignIn(request, timeout=60))
    audited = audited_since(engine, seq)
    for value in (request.login, request.password):
        assert not echoes(audited, value), "an audit event repeats the value sent"
    return answer


def check_sign_in(answer: Answer, value: Any) -> None:
    """A clear answer; a refusal is the one message every refusal gets (no login revealed)."""
    check_answer("SignIn", answer, value=value, codes=ANSWERS)
    if answer.code == grpc.StatusCode.UNAUTHENTICATED:
        assert answer.details == MESSAGE_WRONG_CREDENTIALS, answer.details[:200]


@pytest.mark.parametrize("target", [pytest.param(t, id=t.name, marks=t.marks) for t in TARGETS])
def test_hostile_values_in_any_field_get_a_clear_answer_and_change_no_other_account(
    auth: ServiceProcess,
    stub: Any,
    admin_engine: Engine,
    environment: Environment,
    account: Account,
    target: Target,
) -> None:
    fuzz = Fuzz(
        rpc=target.rpc,
        descriptor=SERVICE.methods_by_name[target.rpc].input_type,
        paths=target.paths,
        build=lambda: target.build(account),
        call=lambda request: call(stub, admin_engine, request),
        check=check_sign_in,
        writes=lambda request: accounts(admin_engine, request),
        address=auth.address,
        pki=environment.pki,
        near=True,
        shape=target.shape,
    )
    config = settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    seen = fuzz_rpc(fuzz, config, EXAMPLES)
    assert "UNAUTHENTICATED" in seen
