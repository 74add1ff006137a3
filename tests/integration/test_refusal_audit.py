"""Refused calls, failed sign-ins and refused unmask attempts are audit events, without personal
data nor the caller's text, and a flood of refusals is written as a few aggregated rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from admin_support import PASSWORD, account, audit_text, events, last_seq, refusals_of
from intake_support import Client
from sqlalchemy import Engine
from subsidy.audit.v1 import audit_pb2, audit_pb2_grpc
from subsidy.auth.v1 import admin_pb2, admin_pb2_grpc
from subsidy.intake.v1 import intake_pb2

from subsidy_platform import audit, staff_client
from subsidy_platform.db import database_url_for, make_engine
from subsidy_platform.process import ServiceProcess
from subsidy_platform.refusals import OVERFLOW, REFUSED, UNAUTHENTICATED, RefusalAudit
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import StaffSession, staff_channel

LIST_USERS = "/subsidy.auth.v1.UserAdminService/ListUsers"


@pytest.fixture(scope="module")
def tokens(environment: Environment, admin_engine: Engine) -> staff_client.TestTokens:
    return staff_client.TestTokens.of(environment.settings.state_dir, admin_engine)


@pytest.fixture
def auditor(auth: ServiceProcess, environment: Environment, admin_engine: Engine) -> Iterator[Any]:
    """An AuditService stub signed in as a real auditor account."""
    login = account(admin_engine, "auditor", "aud")
    session = StaffSession(environment.pki)
    session.sign_in(auth.address, login, PASSWORD)
    try:
        stub = session.stub(auth.address, audit_pb2_grpc.AuditServiceStub)
        yield lambda **criteria: list(
            stub.ListEvents(
                audit_pb2.ListEventsRequest(filter=audit_pb2.EventFilter(**criteria)),
                metadata=session.metadata,
                timeout=30,
            ).events
        )
    finally:
        session.close()


def _count(event: Any) -> int:
    """The number of refusals an aggregated event stands for (`拒否 N 回 / S 秒`)."""
    words = event.purpose.split()
    assert words[0] == "拒否" and words[2] == "回", event.purpose
    return int(words[1])


def test_permission_denied_calls_are_audited_aggregated_under_the_verified_caller(
    auth: ServiceProcess, environment: Environment, tokens: staff_client.TestTokens, auditor: Any
) -> None:
    login = f"denied-{uuid.uuid4().hex[:10]}"
    metadata = tokens.staff("checker", login)
    with staff_channel(environment.pki, auth.address) as channel:
        stub = admin_pb2_grpc.UserAdminServiceStub(channel)
        for _ in range(50):
            with pytest.raises(grpc.RpcError) as refused:
                stub.ListUsers(admin_pb2.ListUsersRequest(), metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    refusals_of(auth).flush()

    found = auditor(actor=login, action=REFUSED)
    assert found and len(found) < 50
    assert sum(_count(event) for event in found) == 50
    assert {(e.role, e.rpc, e.service) for e in found} == {("checker", LIST_USERS, "auth")}


def test_calls_without_valid_credentials_are_audited_as_anonymous_without_the_token(
    auth: ServiceProcess, environment: Environment, auditor: Any, admin_engine: Engine
) -> None:
    forged = "forged." + "A" * 40 + "." + uuid.uuid4().hex
    before = last_seq(admin_engine)
    with staff_channel(environment.pki, auth.address) as channel:
        stub = admin_pb2_grpc.UserAdminServiceStub(channel)
        for metadata in ((), (("authorization", f"Bearer {forged}"),)):
            with pytest.raises(grpc.RpcError) as refused:
                stub.ListUsers(admin_pb2.ListUsersRequest(), metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        undeclared = channel.unary_unary(f"/subsidy.auth.v1.Nothing/{uuid.uuid4().hex[:20]}")
        with pytest.raises(grpc.RpcError) as refused:
            undeclared(b"", timeout=30)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    refusals_of(auth).flush()

    unauthenticated = auditor(action=UNAUTHENTICATED, rpc=LIST_USERS, actor="anonymous")
    assert sum(_count(e) for e in unauthenticated if e.seq > before) >= 2
    undeclared_rows = auditor(action=REFUSED, rpc="/_/undeclared")
    assert any(e.seq > before for e in undeclared_rows)
    written = audit_text(admin_engine, before)
    assert forged not in written and "Nothing" not in written


def test_a_refusal_flood_is_bounded_by_the_number_of_distinct_callers(
    admin_engine: Engine,
) -> None:
    # the sign-in service's own login writes its refusals (no login may write another's)
    url = admin_engine.url.render_as_string(hide_password=False)
    login = make_engine(database_url_for(url, "svc_auth"))
    refusals = RefusalAudit(login, "auth", max_keys=3)
    for index in range(10):
        for _ in range(index + 1):
            refusals.note(f"flood-{index}", "checker", LIST_USERS, REFUSED)
    before = last_seq(admin_engine)
    try:
        assert refusals.flush() == 4
        assert refusals.flush() == 0
    finally:
        login.dispose()
    rows = events(
        admin_engine,
        "seq > :s AND service = 'auth' AND (actor LIKE 'flood-%' OR rpc = :overflow)",
        s=before,
        overflow=OVERFLOW[2],
    )
    assert [r["actor"] for r in rows] == ["flood-0", "flood-1", "flood-2", OVERFLOW[0]]
    assert rows[-1]["rpc"] == OVERFLOW[2]
    assert rows[-1]["purpose"].startswith(f"拒否 {sum(range(4, 11))} 回")
    assert audit.verify(admin_engine).ok


def test_failed_sign_ins_reach_the_auditor_without_the_login_typed(
    auth: ServiceProcess, environment: Environment, auditor: Any, admin_engine: Engine
) -> None:
    typed = f"=cmd|' /C calc'!A0 {uuid.uuid4().hex}"
    before = last_seq(admin_engine)
    session = StaffSession(environment.pki)
    try:
        with pytest.raises(grpc.RpcError):
            session.sign_in(auth.address, typed, "whatever password")
    finally:
        session.close()
    found = [e for e in auditor(action="sign_in_failed", actor="anonymous") if e.seq > before]
    assert len(found) == 1 and found[0].rpc == "/subsidy.auth.v1.AuthService/SignIn"
    assert typed not in audit_text(admin_engine, before)


def test_a_refused_unmask_is_audited_with_the_application_number_only(
    intake: Client, auditor: Any
) -> None:
    login = f"cc-{uuid.uuid4().hex[:10]}"
    with intake.stub() as stub, pytest.raises(grpc.RpcError) as refused:
        stub.GetApplication(
            intake_pb2.GetApplicationRequest(
                application_number="S2025-999997", unmask=True, purpose="本人確認のため"
            ),
            metadata=intake.staff("call_center", login),
            timeout=30,
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    [event] = auditor(actor=login)
    assert (event.action, event.role, event.application_id) == (
        "unmask_refused",
        "call_center",
        "S2025-999997",
    )
    assert list(event.fields) == [] and event.purpose == ""


def test_every_service_audits_the_calls_its_table_refuses(intake: Client, auditor: Any) -> None:
    login = f"wrong-role-{uuid.uuid4().hex[:8]}"
    with intake.stub() as stub, pytest.raises(grpc.RpcError) as refused:
        stub.GetApplication(
            intake_pb2.GetApplicationRequest(application_number="S2025-999996"),
            metadata=intake.staff("payments_officer", login),
            timeout=30,
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    refusals_of(intake.process).flush()
    [event] = auditor(actor=login)
    assert (event.action, event.role, event.service, event.rpc) == (
        REFUSED,
        "payments_officer",
        "intake",
        "/subsidy.intake.v1.IntakeService/GetApplication",
    )
    assert event.application_id == ""  # what the caller asked for is not recorded
