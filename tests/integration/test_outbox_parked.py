"""Nothing parks silently (issue 15): an event its receiver refuses for good is parked, and
that is an alarm, never a quiet row.

On the real services (PostgreSQL, OpenBao, mutual TLS): a review decision event that payments
refuses for good (payments serving without the program in its programs folder: INVALID_ARGUMENT
制度IDが登録されていません) parks after five attempts in review's outbox; it is logged once with
service, destination, topic, key and status code (no payload), counted by `GetOutboxStatus`
and `subsidy-admin outbox status` (exit 1), listed by `subsidy-admin outbox list`; once the
cause is fixed (the program served again) `subsidy-admin outbox requeue` delivers it and
payments records the grant once, however often the event comes again; the requeue is in the
audit log with who and the reason. The one stand-in: the session's payments process is not
redeployed without its program and with it again; the test takes the program out of the
mapping the running process serves and puts it back. A key that is not parked is refused
whole. With PostgreSQL down every outbox RPC is UNAVAILABLE and nothing is requeued. The
tests' drain fails on a parked event unless the test expects it, and reports each parked
event once. (Who may call, and hostile input: test_outbox_admin_input.py.)
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from admin_support import account
from intake_support import PROGRAM, Client
from outbox_support import outbox_command
from payments_support import AMOUNT, service_stub, submit
from review_support import arrive, settle
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy.maintenance.v1 import maintenance_pb2, maintenance_pb2_grpc
from subsidy_review.main import build as build_review

from conftest import PrivateDatabase
from subsidy_platform.db import database_url_for, make_engine
from subsidy_platform.embedded import ensure_postgres, stop_postgres
from subsidy_platform.logs import JsonFormatter
from subsidy_platform.maintenance import SERVICE_NAME
from subsidy_platform.outbox import (
    OutboxRelay,
    UnexpectedParked,
    enqueue,
    outbox_ddl,
    outbox_program_ddl,
    parked_events,
)
from subsidy_platform.outbox_admin import destinations_of
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import TestTokens as Tokens
from subsidy_platform.staff_client import staff_channel
from subsidy_rules.program import Program, get_program

DECISION_METHOD = "/subsidy.payments.v1.PaymentsService/DecisionReceived"
PROBE = "parkedprobe"


# --- the real services ----------------------------------------------------------------------


def report(intake: Client, number: str, status: common_pb2.ApplicationStatus.ValueType) -> None:
    """A status on intake's timeline, reported under review's certificate (as review does)."""
    with service_stub(
        intake, f"localhost:{intake.process.port}", "review", intake_pb2_grpc.IntakeServiceStub
    ) as stub:
        stub.ReportStatusTransition(  # type: ignore[attr-defined]
            intake_pb2.ReportStatusTransitionRequest(
                request_id=f"parked-{uuid.uuid4().hex}",
                application_number=number,
                status=status,
                note="保留イベントの試験",
            ),
            timeout=30,
        )


def timeline_status(intake: Client, number: str) -> int:
    with intake.stub() as stub:
        found = stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=number),
            metadata=intake.staff("ward_officer"),
            timeout=30,
        )
    return int(found.status)


def queue_decision(admin: Engine, number: str) -> str:
    """Review's granted decision for `number`, queued in review's outbox for payments only
    (the row `enqueue` writes for that subscriber); returns its key."""
    key = f"decision-{number}"
    event = events_pb2.DecisionEvent(
        event_id=key,
        application_number=number,
        program_id=PROGRAM,
        granted=True,
        amount=AMOUNT,
        decided_on="2025-07-01",
        decision_number=f"S-D-{number}",
    )
    with admin.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO review.outbox (destination, method, topic, key, payload) "
                "VALUES ('payments', :m, 'review.decision', :k, :p)"
            ),
            {"m": DECISION_METHOD, "k": key, "p": event.SerializeToString()},
        )
    return key


def outbox_row(admin: Engine, key: str) -> Any:
    with admin.connect() as connection:
        return connection.execute(
            text(
                "SELECT attempts, last_error, delivered_at, parked_at FROM review.outbox "
                "WHERE destination = 'payments' AND key = :k"
            ),
            {"k": key},
        ).one()


def run_until(review: ServiceProcess, admin: Engine, key: str, done: Callable[[Any], bool]) -> Any:
    """Run review's relay on the event of `key` (due at once, no back-off) until `done`."""
    relay = review.context.relay
    assert relay is not None
    deadline = time.monotonic() + 120
    while True:
        with admin.begin() as connection:
            connection.execute(
                text(
                    "UPDATE review.outbox SET next_attempt_at = now() WHERE key = :k "
                    "AND delivered_at IS NULL AND parked_at IS NULL"
                ),
                {"k": key},
            )
        relay.deliver_once()
        row = outbox_row(admin, key)
        if done(row):
            return row
        assert time.monotonic() < deadline, f"review's event stayed at {row}"
        time.sleep(0.05)


def payments_of(admin: Engine, number: str) -> tuple[int, int, int]:
    """Grants, instructions and applied decision events payments holds for `number`."""
    with admin.connect() as connection:
        return (
            connection.execute(
                text("SELECT count(*) FROM payments.grants WHERE application_number = :n"),
                {"n": number},
            ).scalar_one(),
            connection.execute(
                text("SELECT count(*) FROM payments.instructions WHERE application_number = :n"),
                {"n": number},
            ).scalar_one(),
            connection.execute(
                text("SELECT count(*) FROM payments.applied_events WHERE event_id = :k"),
                {"k": f"decision-{number}"},
            ).scalar_one(),
        )


@pytest.fixture
def admin_login(admin_engine: Engine) -> str:
    return account(admin_engine, "admin", "outbox-admin")


def parked_and_shown(
    relay: OutboxRelay,
    admin_engine: Engine,
    key: str,
    number: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    auth: ServiceProcess,
    environment: Environment,
    review: ServiceProcess,
    admin_login: str,
) -> None:
    """The parked event: not applied, logged once, counted and listed where an operator looks."""
    parked = outbox_row(admin_engine, key)
    assert (parked.attempts, parked.last_error) == (5, "INVALID_ARGUMENT")
    assert payments_of(admin_engine, number) == (0, 0, 0)
    relay.check_parked([key])  # the drain helpers' check: this park was expected
    found = [e for e in parked_events(admin_engine, "review", "payments") if e.key == key]
    assert [(e.topic, e.last_error) for e in found] == [("review.decision", "INVALID_ARGUMENT")]

    logged = [r for r in caplog.records if getattr(r, "event_key", None) == key]
    assert len(logged) == 1, "parking is logged once"
    entry = json.loads(JsonFormatter("review").format(logged[0]))
    assert entry["service"] == "review" and entry["level"] == "ERROR"
    assert (entry["peer_service"], entry["topic"], entry["event_key"], entry["code"]) == (
        "payments",
        "review.decision",
        key,
        "INVALID_ARGUMENT",
    )
    assert f"S-D-{number}" not in json.dumps(entry, ensure_ascii=False), "no payload logged"

    status = outbox_command(capsys, monkeypatch, auth, environment, review, admin_login, "status")
    assert status.code == 1, status  # an alarm for a monitoring job
    cells = [line.split("\t") for line in status.out.splitlines()[1:]]
    rows = {row[1]: row for row in cells if len(row) == 7}
    assert set(rows) == set(destinations_of("review"))
    assert int(rows["payments"][4]) >= 1
    listed = outbox_command(capsys, monkeypatch, auth, environment, review, admin_login, "list")
    assert listed.code == 0, listed
    mine = [line.split("\t") for line in listed.out.splitlines() if f"\t{key}\t" in line]
    assert [cells[2:6] for cells in mine] == [
        ["review.decision", "payments", "5", "INVALID_ARGUMENT"]
    ]


def test_a_refused_decision_parks_raises_the_alarm_and_after_the_fix_a_requeue_delivers_it_once(
    intake: Client,
    review: ServiceProcess,
    payments: ServiceProcess,
    auth: ServiceProcess,
    environment: Environment,
    admin_engine: Engine,
    admin_login: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    relay = review.context.relay
    assert relay is not None
    number = submit(intake)
    arrive(intake, admin_engine, [number])  # review has the case and reported its status
    settle(relay, admin_engine, "review", "intake")
    settle(relay, admin_engine, "review", "payments")
    report(intake, number, common_pb2.GRANTED)  # the ward's decision, on intake's timeline
    assert timeline_status(intake, number) == common_pb2.GRANTED
    caplog.set_level(logging.ERROR, logger="subsidy_platform.outbox")
    served = cast(dict[str, Program], payments.context.programs)
    program = served.pop(PROGRAM)  # the cause: payments serving without the program
    try:
        key = queue_decision(admin_engine, number)
        parked = run_until(
            review, admin_engine, key, lambda row: row.parked_at or row.delivered_at is not None
        )
    finally:
        served[PROGRAM] = program  # the cause fixed: payments serves the program again
    assert parked.delivered_at is None
    parked_and_shown(
        relay,
        admin_engine,
        key,
        number,
        caplog,
        capsys,
        monkeypatch,
        auth,
        environment,
        review,
        admin_login,
    )

    reason = "決済サービスに制度定義を配置し直したため再送"
    requeued = outbox_command(
        capsys,
        monkeypatch,
        auth,
        environment,
        review,
        admin_login,
        "requeue",
        "--destination",
        "payments",
        "--key",
        key,
        "--reason",
        reason,
    )
    assert requeued.code == 0, requeued
    assert key in requeued.out.splitlines()
    delivered = run_until(review, admin_engine, key, lambda row: row.delivered_at is not None)
    assert delivered.parked_at is None and delivered.last_error is None
    assert payments_of(admin_engine, number) == (1, 1, 1)

    with admin_engine.connect() as connection:
        audited = connection.execute(
            text(
                "SELECT actor, role, rpc, fields, purpose FROM audit.events "
                "WHERE service = 'review' AND action = 'requeue' AND actor = :a"
            ),
            {"a": admin_login},
        ).all()
    assert len(audited) == 1
    assert audited[0].role == "admin"
    assert audited[0].rpc == f"/{SERVICE_NAME}/RequeueParked"
    assert audited[0].fields == [f"review.outbox:payments:{key}"]
    assert reason in audited[0].purpose

    # the same event parked and requeued again (say its acknowledgement was lost): payments
    # still holds one grant and one instruction, by the unchanged key
    with admin_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE review.outbox SET delivered_at = NULL, parked_at = now() "
                "WHERE destination = 'payments' AND key = :k"
            ),
            {"k": key},
        )
    again = outbox_command(
        capsys,
        monkeypatch,
        auth,
        environment,
        review,
        admin_login,
        "requeue",
        "--destination",
        "payments",
        "--all",
        "--reason",
        reason,
    )
    assert again.code == 0, again
    run_until(review, admin_engine, key, lambda row: row.delivered_at is not None)
    assert payments_of(admin_engine, number) == (1, 1, 1)
    assert len([r for r in caplog.records if getattr(r, "event_key", None) == key]) == 1


def test_requeueing_a_key_that_is_not_parked_changes_nothing(
    review: ServiceProcess,
    intake: Client,
    admin_engine: Engine,
    auth: ServiceProcess,
    environment: Environment,
    admin_login: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused = outbox_command(
        capsys,
        monkeypatch,
        auth,
        environment,
        review,
        admin_login,
        "requeue",
        "--destination",
        "payments",
        "--key",
        "decision-S2025-never-parked",
        "--reason",
        "試験",
    )
    assert refused.code == 1, refused
    assert "FAILED_PRECONDITION" in refused.err
    assert "never-parked" not in refused.err
    with admin_engine.connect() as connection:
        audited = connection.execute(
            text("SELECT count(*) FROM audit.events WHERE action = 'requeue' AND actor = :a"),
            {"a": admin_login},
        ).scalar_one()
    assert audited == 0


# --- the tests' drain -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe_engine(environment: Environment, admin_engine: Engine) -> Iterator[Engine]:
    """An outbox of review's own role apart from review's (as tests/test_outbox.py does)."""
    with admin_engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {PROBE} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {PROBE} AUTHORIZATION svc_review"))
    engine = make_engine(database_url_for(environment.infrastructure.database_url, "svc_review"))
    try:
        with engine.begin() as connection:
            connection.execute(text(outbox_ddl(PROBE)))
            connection.execute(text(outbox_program_ddl(PROBE)))
        yield engine
    finally:
        engine.dispose()
        with admin_engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {PROBE} CASCADE"))


def refused_for_good(destination: str, method: str, payload: bytes, key: str) -> None:
    raise LookupError("a receiver that refuses every event")


def write_probe_event(engine: Engine) -> str:
    key = f"parked-probe-{uuid.uuid4()}"
    message = intake_pb2.ReportStatusTransitionRequest(request_id=key, note="probe")
    with Session(engine) as session, session.begin():
        assert enqueue(session, PROBE, "review.status", key, message, program_id="probe-2025") == 1
    return key


def test_the_drain_fails_on_an_event_that_parks_unless_the_test_expects_it(
    probe_engine: Engine,
) -> None:
    relay = OutboxRelay(probe_engine, PROBE, refused_for_good)
    key = write_probe_event(probe_engine)
    with pytest.raises(UnexpectedParked) as raised:
        relay.drain(timeout=60)
    assert key in str(raised.value)
    assert relay.drain(timeout=5), "a parked event is reported by one drain, not every later one"

    expected = write_probe_event(probe_engine)
    assert relay.drain(timeout=60, expect_parked=[expected])
    other = write_probe_event(probe_engine)
    with pytest.raises(UnexpectedParked):
        relay.drain(timeout=60, expect_parked=[expected])
    assert [e.key for e in parked_events(probe_engine, PROBE)] == [key, expected, other]

    meanwhile = write_probe_event(probe_engine)  # parked by another replica between drains
    assert OutboxRelay(probe_engine, PROBE, refused_for_good).drain(timeout=60, expect_parked=1)
    with pytest.raises(UnexpectedParked) as raised:
        relay.drain(timeout=5)
    assert meanwhile in str(raised.value)
    assert OutboxRelay(probe_engine, PROBE, refused_for_good).drain(timeout=5), (
        "a new relay reports only what parks after it first looked"
    )


# --- PostgreSQL down ------------------------------------------------------------------------


def test_with_postgres_down_the_outbox_rpcs_answer_unavailable_and_requeue_nothing(
    environment: Environment,
    addresses: dict[str, str],
    private_database: PrivateDatabase,
    private_state: Path,
) -> None:
    engine = make_engine(private_database.url)
    key = f"decision-{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO review.outbox (destination, method, topic, key, payload, attempts, "
                "last_error, parked_at) VALUES ('payments', :m, 'review.decision', :k, '', 5, "
                "'INVALID_ARGUMENT', now())"
            ),
            {"m": DECISION_METHOD, "k": key},
        )
    own = build_review(
        private_database.environment, {PROGRAM: get_program(PROGRAM)}, addresses=addresses
    )
    admin = Tokens.of(environment.settings.state_dir, engine).staff("admin", "down-admin")
    try:
        with staff_channel(environment.pki, own.address) as channel:
            stub = maintenance_pb2_grpc.MaintenanceServiceStub(channel)
            up = stub.GetOutboxStatus(
                maintenance_pb2.GetOutboxStatusRequest(), metadata=admin, timeout=30
            )
            assert up.parked_total == 1
            stop_postgres(private_state)
            requests = {
                "GetOutboxStatus": maintenance_pb2.GetOutboxStatusRequest(),
                "ListParkedEvents": maintenance_pb2.ListParkedEventsRequest(),
                "RequeueParked": maintenance_pb2.RequeueParkedRequest(
                    destination="payments",
                    scope=maintenance_pb2.REQUEUE_SCOPE_KEYS,
                    keys=[key],
                    reason="データベース停止中の再送",
                ),
            }
            for method, request in requests.items():
                with pytest.raises(grpc.RpcError) as raised:
                    getattr(stub, method)(request, metadata=admin, timeout=60)
                error = raised.value
                assert error.code() == grpc.StatusCode.UNAVAILABLE, method
                assert "Traceback" not in (error.details() or "")
    finally:
        own.stop(grace=0)
    ensure_postgres(private_state)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT parked_at, attempts FROM review.outbox WHERE key = :k"), {"k": key}
            ).one()
        assert row.parked_at is not None and row.attempts == 5, "nothing half-written"
    finally:
        engine.dispose()
