"""UserAdminService and AuditService on the real sign-in service: every RPC called by every
staff role and every service identity (only `admin`, resp. `auditor`, admitted), and hostile
values in every field (a clear answer, never INTERNAL, never the value repeated, nothing
changed by a refused call, the server healthy throughout)."""

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
    answer_of,
    check_answer,
    fuzz_rpc,
    leaf_paths,
)
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, text
from subsidy.audit.v1 import audit_pb2, audit_pb2_grpc
from subsidy.auth.v1 import admin_pb2, admin_pb2_grpc

from subsidy_platform import staff_client
from subsidy_platform.access import ROLES
from subsidy_platform.auth_main import TABLE
from subsidy_platform.declaration import declarations
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import CONSOLE, staff_channel

pytestmark = IGNORE_RANDOM_IN_SERVER_THREADS
USER_ADMIN = admin_pb2.DESCRIPTOR.services_by_name["UserAdminService"]
AUDIT = audit_pb2.DESCRIPTOR.services_by_name["AuditService"]
NOBODY = "nobody-access-check"
STRONG = "a strong enough passphrase 9"
EXAMPLES = 12

REQUESTS: dict[str, tuple[Any, Callable[[], Message]]] = {
    "ListUsers": (admin_pb2_grpc.UserAdminServiceStub, lambda: admin_pb2.ListUsersRequest()),
    "DisableUser": (
        admin_pb2_grpc.UserAdminServiceStub,
        lambda: admin_pb2.ChangeUserRequest(login=NOBODY),
    ),
    "EnableUser": (
        admin_pb2_grpc.UserAdminServiceStub,
        lambda: admin_pb2.ChangeUserRequest(login=NOBODY),
    ),
    "UnlockUser": (
        admin_pb2_grpc.UserAdminServiceStub,
        lambda: admin_pb2.ChangeUserRequest(login=NOBODY),
    ),
    "ResetPassword": (
        admin_pb2_grpc.UserAdminServiceStub,
        lambda: admin_pb2.ResetPasswordRequest(login=NOBODY, new_password=STRONG),
    ),
    "ListEvents": (
        audit_pb2_grpc.AuditServiceStub,
        lambda: audit_pb2.ListEventsRequest(
            filter=audit_pb2.EventFilter(actor="nobody", since="2025-07-01T00:00:00+09:00"),
            page_size=5,
        ),
    ),
    "SummariseActivity": (
        audit_pb2_grpc.AuditServiceStub,
        lambda: audit_pb2.SummariseActivityRequest(
            since="2020-01-01T00:00:00+09:00", until="2020-01-02T00:00:00+09:00"
        ),
    ),
    "VerifyChain": (audit_pb2_grpc.AuditServiceStub, lambda: audit_pb2.VerifyChainRequest()),
}
CALLERS = [*ROLES, *(f"service:{name}" for name in declarations())]
ADMITTED = {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}


def _service_of(method: str) -> str:
    return (
        "subsidy.auth.v1.UserAdminService"
        if method in USER_ADMIN.methods_by_name
        else ("subsidy.audit.v1.AuditService")
    )


@pytest.fixture(scope="module")
def tokens(environment: Environment, admin_engine: Engine) -> staff_client.TestTokens:
    return staff_client.TestTokens.of(environment.settings.state_dir, admin_engine)


def _call(
    auth: ServiceProcess,
    environment: Environment,
    tokens: staff_client.TestTokens,
    method: str,
    caller: str,
    request: Message | None = None,
) -> Answer:
    if caller.startswith("service:"):
        identity, metadata = caller.removeprefix("service:"), ()
    else:
        identity, metadata = CONSOLE, tokens.staff(caller, f"access-{caller.replace('_', '-')}")
    stub_type, build = REQUESTS[method]
    with staff_channel(environment.pki, auth.address, identity) as channel:
        stub = stub_type(channel)
        return answer_of(
            lambda: getattr(stub, method)(request or build(), metadata=metadata, timeout=60)
        )


def test_the_table_the_protos_and_the_requests_name_the_same_rpcs() -> None:
    served = {m.name for m in USER_ADMIN.methods} | {m.name for m in AUDIT.methods}
    declared = {
        method.rsplit("/", 1)[1]
        for method in TABLE
        if not method.startswith("/subsidy.auth.v1.AuthService/")
    }
    assert declared == served == set(REQUESTS)


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_each_rpc_admits_only_its_role(
    auth: ServiceProcess, environment: Environment, tokens: staff_client.TestTokens, method: str
) -> None:
    allowed = TABLE[f"/{_service_of(method)}/{method}"]
    assert allowed == ({"admin"} if method in USER_ADMIN.methods_by_name else {"auditor"})
    outcome = {c: _call(auth, environment, tokens, method, c).code for c in CALLERS}
    denied = {c for c, code in outcome.items() if code == grpc.StatusCode.PERMISSION_DENIED}
    assert denied == set(CALLERS) - allowed, outcome
    assert {outcome[c] for c in allowed} <= ADMITTED, outcome


# --- hostile input ---------------------------------------------------------------------------


@dataclass
class Target:
    method: str
    role: str


TARGETS = [Target(m, "admin") for m in USER_ADMIN.methods_by_name] + [
    Target(m, "auditor") for m in AUDIT.methods_by_name
]


def accounts(engine: Engine) -> tuple[tuple[Any, ...], ...]:
    with engine.connect() as connection:
        return tuple(
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT login, role, password_hash, disabled, failed_attempts, locked_until "
                    "FROM auth.users ORDER BY login"
                )
            )
        )


@pytest.fixture(scope="module")
def admin_stubs(
    auth: ServiceProcess, environment: Environment, tokens: staff_client.TestTokens
) -> Iterator[dict[str, tuple[Any, Any]]]:
    with staff_channel(environment.pki, auth.address) as channel:
        yield {
            "admin": (
                admin_pb2_grpc.UserAdminServiceStub(channel),
                tokens.staff("admin", "hostile-admin"),
            ),
            "auditor": (
                audit_pb2_grpc.AuditServiceStub(channel),
                tokens.staff("auditor", "hostile-auditor"),
            ),
        }


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.method)
def test_hostile_values_get_a_clear_answer_and_change_no_account(
    auth: ServiceProcess,
    environment: Environment,
    admin_engine: Engine,
    admin_stubs: dict[str, tuple[Any, Any]],
    target: Target,
) -> None:
    stub, metadata = admin_stubs[target.role]
    descriptor = (
        (USER_ADMIN if target.role == "admin" else AUDIT).methods_by_name[target.method].input_type
    )
    paths = list(leaf_paths(descriptor))
    assert paths, target.method

    def call(request: Message) -> Answer:
        return answer_of(
            lambda: getattr(stub, target.method)(request, metadata=metadata, timeout=60)
        )

    fuzz = Fuzz(
        rpc=target.method,
        descriptor=descriptor,
        paths=paths,
        build=REQUESTS[target.method][1],
        call=call,
        check=lambda answer, value: check_answer(target.method, answer, value=value, codes=CLEAR),
        writes=lambda _request: accounts(admin_engine),
        address=auth.address,
        pki=environment.pki,
        near=True,
        failed=lambda answer: True,  # nobody named exists: no call may change an account
    )
    config = settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    seen = fuzz_rpc(fuzz, config, EXAMPLES)
    assert "INTERNAL" not in seen, seen


def test_a_page_token_from_elsewhere_is_refused_naming_the_field(
    admin_stubs: dict[str, tuple[Any, Any]],
) -> None:
    for role, request in (
        ("admin", admin_pb2.ListUsersRequest(page_token="bm90IGEgbG9naW4h")),
        ("auditor", audit_pb2.ListEventsRequest(page_token=uuid.uuid4().hex)),
    ):
        stub, metadata = admin_stubs[role]
        method = stub.ListUsers if role == "admin" else stub.ListEvents
        answer = answer_of(lambda: method(request, metadata=metadata, timeout=30))  # noqa: B023
        assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in answer.violations] == ["page_token"]
