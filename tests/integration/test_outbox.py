"""The transactional outbox on real PostgreSQL and a real intake server over mutual TLS.

Review's side is played by the test: an engine logged in as `svc_review` writes events to
an outbox of review's with `subsidy_platform.outbox.enqueue`, and an `OutboxRelay` delivers
them to intake's ReportStatusTransition (the `review.status` subscription) under review's
own certificate. The outbox is a table of its own (`outboxprobe.outbox`, created like
review's), so that the review service, when another test of the session runs it, neither
drains these events nor adds its own; and every transition carries the note MARK, so that
the statuses the running review service reports on the same applications are told apart. The event exists only if its transaction committed, is applied once however
often it is delivered, waits while intake is down and is delivered once it is back, and
per destination the events arrive in the order they were written.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from intake_support import PROGRAM, Client, proto
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2

from subsidy_platform.clients import ServiceClients
from subsidy_platform.db import database_url_for, make_engine
from subsidy_platform.outbox import (
    OutboxRelay,
    clear_delivered,
    enqueue,
    outbox_ddl,
    outbox_program_ddl,
)
from subsidy_platform.runtime import Environment

TOPIC = "review.status"
SCHEMA = "outboxprobe"
MARK = "outbox-test"
METHOD = "/subsidy.intake.v1.IntakeService/ReportStatusTransition"


@pytest.fixture(scope="module")
def review_engine(environment: Environment, admin_engine: Engine) -> Iterator[Engine]:
    """The database as the review service sees it (its own login role), with the probe outbox."""
    with admin_engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA} AUTHORIZATION svc_review"))
    engine = make_engine(database_url_for(environment.infrastructure.database_url, "svc_review"))
    try:
        with engine.begin() as connection:
            connection.execute(text(outbox_ddl(SCHEMA)))
            connection.execute(text(outbox_program_ddl(SCHEMA)))
        yield engine
    finally:
        engine.dispose()
        with admin_engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


@pytest.fixture(scope="module")
def review_clients(environment: Environment, intake: Client) -> Iterator[ServiceClients]:
    """Review's clients, pointed at the running intake server."""
    clients = ServiceClients(
        environment.pki, "review", {"intake": f"127.0.0.1:{intake.process.port}"}
    )
    try:
        yield clients
    finally:
        clients.close()


@pytest.fixture
def down_clients(environment: Environment) -> Iterator[ServiceClients]:
    """Review's clients, pointed at a port nobody listens on (intake is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clients = ServiceClients(environment.pki, "review", {"intake": f"127.0.0.1:{port}"})
    try:
        yield clients
    finally:
        clients.close()


class Outbox:
    """Review's outbox as the tests use it; every row written through it is deleted after."""

    def __init__(self, review_engine: Engine, admin_engine: Engine) -> None:
        self.review_engine = review_engine
        self.admin_engine = admin_engine
        self.keys: list[str] = []

    def key(self) -> str:
        key = f"test-outbox-{uuid.uuid4()}"
        self.keys.append(key)
        return key

    def write(
        self, number: str, status: common_pb2.ApplicationStatus.ValueType = common_pb2.UNDER_REVIEW
    ) -> str:
        """Commit one status event for `number`; returns its key."""
        key = self.key()
        with Session(self.review_engine) as session, session.begin():
            written = enqueue(
                session,
                SCHEMA,
                TOPIC,
                key,
                transition(key, number, status),
                program_id="probe-2025",
            )
        assert written == 1
        return key

    def row(self, key: str) -> Any:
        with self.admin_engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT destination, method, topic, payload, attempts, last_error, "
                    f"delivered_at, next_attempt_at FROM {SCHEMA}.outbox WHERE key = :k"
                ),
                {"k": key},
            ).one_or_none()

    def admin(self, sql: str, key: str) -> None:
        """Run one statement on the row of `key` as the administrator."""
        with self.admin_engine.begin() as connection:
            connection.execute(text(sql), {"k": key})

    def clean(self) -> None:
        with self.admin_engine.begin() as connection:
            connection.execute(
                text(f"DELETE FROM {SCHEMA}.outbox WHERE key = ANY(:keys)"), {"keys": self.keys}
            )


@pytest.fixture
def outbox(review_engine: Engine, admin_engine: Engine) -> Iterator[Outbox]:
    box = Outbox(review_engine, admin_engine)
    try:
        yield box
    finally:
        box.clean()


def transition(
    key: str, number: str, status: common_pb2.ApplicationStatus.ValueType
) -> intake_pb2.ReportStatusTransitionRequest:
    return intake_pb2.ReportStatusTransitionRequest(
        request_id=key, application_number=number, status=status, note=MARK
    )


def relay(engine: Engine, clients: ServiceClients) -> OutboxRelay:
    def invoke(destination: str, method: str, payload: bytes, key: str) -> None:
        clients.invoke(destination, method, payload, key)

    return OutboxRelay(engine, SCHEMA, invoke)


def submitted(intake: Client) -> str:
    """A new application at intake that shares no duplicate key with any other test's."""
    n = uuid.uuid4().int
    with intake.stub() as stub:
        response = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=f"outbox-{uuid.uuid4()}",
                program_id=PROGRAM,
                application=proto(
                    **{
                        "applicant.name_kana": "アウトボックス "
                        + "".join("アイウエオカキクケコ"[int(d)] for d in f"{n % 10**6:06d}"),
                        "applicant.postal_code": "169-0072",
                        "applicant.address": (
                            f"新宿区大久保2丁目{n % 30 + 1}番{n % 7 + 1}号 "
                            f"アウトボックス荘{n % 9000 + 1000}"
                        ),
                        "applicant.phone": f"080-{n % 10000:04d}-{(n // 10000) % 10000:04d}",
                        "bank_account.number": f"{(n // 10**8) % 10**7:07d}",
                        "logo_answer_id": f"88{n % 10**9:09d}",
                    }
                ),
            ),
            metadata=intake.staff("operator"),
            timeout=30,
        )
    number: str = response.application_number
    return number


def ours(intake: Client, number: str) -> int:
    """Timeline events this test's event made (the session's review reports on its own)."""
    return sum(e.note == "outbox-test" for e in timeline(intake, number).events)


def timeline(intake: Client, number: str) -> intake_pb2.Timeline:
    with intake.stub() as stub:
        result: intake_pb2.Timeline = stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=number),
            metadata=intake.staff("ward_officer"),
            timeout=30,
        )
    return result


def reported(intake: Client, number: str) -> list[str]:
    """The statuses review reported on the application's timeline, in order."""
    return [
        common_pb2.ApplicationStatus.Name(event.status)
        for event in timeline(intake, number).events
        if event.service == "review" and event.note == MARK
    ]


def test_an_event_written_in_a_rolled_back_transaction_never_exists(
    intake: Client, review_engine: Engine, outbox: Outbox, review_clients: ServiceClients
) -> None:
    number = submitted(intake)
    key = outbox.key()
    message = transition(key, number, common_pb2.UNDER_REVIEW)
    with pytest.raises(RuntimeError), Session(review_engine) as session, session.begin():
        assert enqueue(session, SCHEMA, TOPIC, key, message, program_id="probe-2025") == 1
        raise RuntimeError("the change the event describes failed")
    assert outbox.row(key) is None
    assert relay(review_engine, review_clients).drain(timeout=10)
    assert reported(intake, number) == []


def test_a_committed_event_is_delivered_once_and_shows_on_intakes_timeline(
    intake: Client, review_engine: Engine, outbox: Outbox, review_clients: ServiceClients
) -> None:
    number = submitted(intake)
    key = outbox.write(number)
    row = outbox.row(key)
    assert (row.destination, row.method, row.topic) == ("intake", METHOD, TOPIC)
    assert row.delivered_at is None and row.attempts == 0
    assert intake_pb2.ReportStatusTransitionRequest.FromString(bytes(row.payload)).request_id == key

    assert relay(review_engine, review_clients).drain(timeout=10)

    row = outbox.row(key)
    assert row.delivered_at is not None
    assert row.attempts == 1 and row.last_error is None
    assert reported(intake, number) == ["UNDER_REVIEW"]
    shown = timeline(intake, number)
    assert shown.status == common_pb2.UNDER_REVIEW
    assert [e.actor for e in shown.events if e.note == MARK] == ["review"]
    assert relay(review_engine, review_clients).deliver_once() == 0
    assert outbox.row(key).attempts == 1


def test_a_delivered_events_payload_is_cleared_after_a_while_and_a_pending_ones_never(
    intake: Client, review_engine: Engine, outbox: Outbox, review_clients: ServiceClients
) -> None:
    delivered_key = outbox.write(submitted(intake))
    assert relay(review_engine, review_clients).drain(timeout=10)
    pending_key = outbox.write(submitted(intake))  # no relay runs: it stays pending
    clear_delivered(review_engine, SCHEMA)
    assert bytes(outbox.row(delivered_key).payload)  # delivered just now: kept for a while
    for key in (delivered_key, pending_key):  # both written long ago
        outbox.admin(
            f"UPDATE {SCHEMA}.outbox SET created_at = created_at - interval '1 hour', "
            "delivered_at = delivered_at - interval '1 hour' WHERE key = :k",
            key,
        )
    assert clear_delivered(review_engine, SCHEMA) >= 1
    delivered, pending = outbox.row(delivered_key), outbox.row(pending_key)
    assert bytes(delivered.payload) == b"" and delivered.delivered_at is not None
    assert bytes(pending.payload) and pending.delivered_at is None
    assert clear_delivered(review_engine, SCHEMA) == 0  # nothing left to clear


def test_the_same_key_queued_twice_is_one_event(
    intake: Client, review_engine: Engine, outbox: Outbox
) -> None:
    number = submitted(intake)
    key = outbox.write(number)
    with Session(review_engine) as session, session.begin():
        message = transition(key, number, common_pb2.UNDER_REVIEW)
        assert enqueue(session, SCHEMA, TOPIC, key, message, program_id="probe-2025") == 0
    with outbox.admin_engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT count(*) FROM {SCHEMA}.outbox WHERE key = :k"), {"k": key}
        ).scalar_one()
    assert rows == 1


def test_delivering_an_event_again_adds_no_second_timeline_event(
    intake: Client, review_engine: Engine, outbox: Outbox, review_clients: ServiceClients
) -> None:
    number = submitted(intake)
    key = outbox.write(number)
    assert relay(review_engine, review_clients).drain(timeout=10)
    before = ours(intake, number)

    outbox.admin("UPDATE outboxprobe.outbox SET delivered_at = NULL WHERE key = :k", key)
    assert relay(review_engine, review_clients).drain(timeout=10)

    row = outbox.row(key)
    assert row.delivered_at is not None and row.attempts == 2
    assert ours(intake, number) == before
    assert reported(intake, number) == ["UNDER_REVIEW"]


def test_while_the_receiver_is_down_the_event_waits_and_is_delivered_once_it_is_back(
    intake: Client,
    review_engine: Engine,
    outbox: Outbox,
    review_clients: ServiceClients,
    down_clients: ServiceClients,
) -> None:
    number = submitted(intake)
    key = outbox.write(number)

    assert relay(review_engine, down_clients).deliver_once() == 0

    row = outbox.row(key)
    assert row.delivered_at is None
    assert row.attempts > 0 and row.last_error == "UNAVAILABLE"
    with outbox.admin_engine.connect() as connection:
        waiting = connection.execute(
            text(f"SELECT next_attempt_at > now() FROM {SCHEMA}.outbox WHERE key = :k"), {"k": key}
        ).scalar_one()
    assert waiting, "a failed delivery backs off before its next attempt"
    assert reported(intake, number) == []

    outbox.admin("UPDATE outboxprobe.outbox SET next_attempt_at = now() WHERE key = :k", key)
    assert relay(review_engine, review_clients).drain(timeout=10)

    row = outbox.row(key)
    assert row.delivered_at is not None and row.last_error is None
    assert row.attempts == 2
    assert reported(intake, number) == ["UNDER_REVIEW"]


def failing_first(
    first: str, up: ServiceClients, down: ServiceClients, delivered: list[str]
) -> Any:
    """An invoke that sends the event `first` to the unreachable intake, the others to intake."""

    def invoke(destination: str, method: str, payload: bytes, key: str) -> None:
        (down if key == first else up).invoke(destination, method, payload, key)
        delivered.append(key)

    return invoke


def test_per_destination_a_failing_first_event_holds_back_the_second(
    intake: Client,
    review_engine: Engine,
    outbox: Outbox,
    review_clients: ServiceClients,
    down_clients: ServiceClients,
) -> None:
    number = submitted(intake)
    first = outbox.write(number, common_pb2.UNDER_REVIEW)
    second = outbox.write(number, common_pb2.CORRECTION_REQUESTED)
    delivered: list[str] = []
    invoke = failing_first(first, review_clients, down_clients, delivered)

    assert OutboxRelay(review_engine, SCHEMA, invoke).deliver_once() == 0

    assert delivered == []
    assert outbox.row(first).last_error == "UNAVAILABLE"
    assert outbox.row(second).delivered_at is None
    assert outbox.row(second).attempts == 0, "the second event was not even tried"
    assert reported(intake, number) == []

    outbox.admin("UPDATE outboxprobe.outbox SET next_attempt_at = now() WHERE key = :k", first)
    assert relay(review_engine, review_clients).drain(timeout=10)
    assert reported(intake, number) == ["UNDER_REVIEW", "CORRECTION_REQUESTED"]
    assert timeline(intake, number).status == common_pb2.CORRECTION_REQUESTED


def test_a_failed_event_still_holds_back_the_later_ones_while_it_waits_for_its_retry(
    intake: Client,
    review_engine: Engine,
    outbox: Outbox,
    review_clients: ServiceClients,
    down_clients: ServiceClients,
) -> None:
    number = submitted(intake)
    first = outbox.write(number, common_pb2.UNDER_REVIEW)
    second = outbox.write(number, common_pb2.CORRECTION_REQUESTED)
    delivered: list[str] = []
    outbox_relay = OutboxRelay(
        review_engine, SCHEMA, failing_first(first, review_clients, down_clients, delivered)
    )

    assert outbox_relay.deliver_once() == 0  # the first fails and now waits for its back-off
    outbox_relay.deliver_once()  # the next pass, before the first is due again

    assert outbox.row(second).delivered_at is None, "the second overtook the first"
    assert delivered == []


def test_two_relays_at_once_still_deliver_one_destinations_events_in_order(
    intake: Client, review_engine: Engine, outbox: Outbox, review_clients: ServiceClients
) -> None:
    number = submitted(intake)
    first = outbox.write(number, common_pb2.UNDER_REVIEW)
    calling = threading.Event()
    answer = threading.Event()
    order: list[str] = []

    def slow(destination: str, method: str, payload: bytes, key: str) -> None:
        if key == first:
            calling.set()
            answer.wait(10)
        review_clients.invoke(destination, method, payload, key)
        order.append(key)

    replica = threading.Thread(target=OutboxRelay(review_engine, SCHEMA, slow).deliver_once)
    replica.start()
    try:
        assert calling.wait(10), "the first replica is delivering the first event"
        second = outbox.write(number, common_pb2.CORRECTION_REQUESTED)
        OutboxRelay(review_engine, SCHEMA, slow).deliver_once()  # a second replica
        assert order == [], "the second replica left the destination to the first"
    finally:
        answer.set()
        replica.join(10)
    OutboxRelay(review_engine, SCHEMA, slow).deliver_once()
    assert order == [first, second]


def test_an_unexpected_error_delivering_one_event_is_recorded_on_it_and_undoes_nothing(
    intake: Client, review_engine: Engine, outbox: Outbox, review_clients: ServiceClients
) -> None:
    delivered = outbox.write(submitted(intake))
    failing = outbox.write(submitted(intake))

    def invoke(destination: str, method: str, payload: bytes, key: str) -> None:
        if key == failing:
            raise LookupError(f"no address known for service {destination!r}")
        review_clients.invoke(destination, method, payload, key)

    OutboxRelay(review_engine, SCHEMA, invoke).deliver_once()

    assert outbox.row(delivered).delivered_at is not None
    assert outbox.row(failing).attempts == 1
    assert outbox.row(failing).last_error is not None


def test_an_event_of_a_topic_nobody_subscribes_to_writes_nothing(
    review_engine: Engine, outbox: Outbox
) -> None:
    key = outbox.key()
    message = transition(key, "S2025-000001", common_pb2.UNDER_REVIEW)
    with Session(review_engine) as session, session.begin():
        assert (
            enqueue(session, SCHEMA, "review.nobody_listens", key, message, program_id="probe-2025")
            == 0
        )
    assert outbox.row(key) is None


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("with spaces", id="spaces"),
        pytest.param("k" * 201, id="201 characters"),
        pytest.param("", id="empty"),
        pytest.param("キー", id="not ASCII"),
    ],
)
def test_an_event_with_a_bad_key_is_refused(review_engine: Engine, key: str) -> None:
    message = transition("x", "S2025-000001", common_pb2.UNDER_REVIEW)
    with Session(review_engine) as session, session.begin(), pytest.raises(ValueError):
        enqueue(session, SCHEMA, TOPIC, key, message, program_id="probe-2025")


def test_a_key_of_200_characters_is_accepted(review_engine: Engine, outbox: Outbox) -> None:
    key = ("k" * 200)[: 200 - 37] + "-" + str(uuid.uuid4())
    outbox.keys.append(key)
    message = transition(key, "S2025-000001", common_pb2.UNDER_REVIEW)
    with Session(review_engine) as session, session.begin():
        assert enqueue(session, SCHEMA, TOPIC, key, message, program_id="probe-2025") == 1
    assert outbox.row(key) is not None
