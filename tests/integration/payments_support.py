"""Helpers for the payments integration tests: granted applications (intake's timeline and
review's decision event, sent under review's own service certificate), staff stubs, the
outboxes run on demand, and the invariants every test checks (synthetic people only)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta

import grpc
from intake_support import PROGRAM, Client, proto
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc
from subsidy_payments.calendar_jp import next_bank_business_day, today_in_japan
from zengin_reader import ZenginFile, read_zengin

from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import staff_channel
from subsidy_platform.tls import channel_credentials

AMOUNT = 20000  # shinjuku-2025: cap 20,000 yen, rounding unit 1,000


def next_business_day(after: int = 1) -> str:
    return next_bank_business_day(today_in_japan() + timedelta(days=after)).isoformat()


@contextmanager
def service_stub(intake: Client, address: str, identity: str, stub_class: type) -> Iterator[object]:
    credentials = channel_credentials(intake.environment.pki, identity)
    with grpc.secure_channel(address, credentials) as channel:
        yield stub_class(channel)


@contextmanager
def staff_stub(
    intake: Client, payments: ServiceProcess
) -> Iterator[payments_pb2_grpc.PaymentsServiceStub]:
    with staff_channel(intake.environment.pki, payments.address) as channel:
        yield payments_pb2_grpc.PaymentsServiceStub(channel)


def person(tag: str) -> dict[str, object]:
    n = uuid.uuid4().int
    return {
        "applicant.name_kana": f"シハライ {tag}",
        "applicant.name": f"支払 {tag}",
        "applicant.address": f"東京都新宿区西新宿二丁目{n % 8 + 1}番{n % 30 + 1}号 シハライ荘{n % 9000 + 1000}",
        "bank_account.number": f"{n % 10_000_000:07d}",
        "bank_account.holder_kana": "シハライ ハナコ",
        "logo_answer_id": f"77{n % 10**8:08d}",
        "applicant.phone": f"080-{n % 10000:04d}-{(n // 7) % 10000:04d}",
        "applicant.birth_date": f"19{50 + n % 40}-0{n % 9 + 1}-1{n % 9}",
    }


def submit(intake: Client, **changes: object) -> str:
    with intake.stub() as stub:
        response = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=uuid.uuid4().hex,
                program_id=PROGRAM,
                application=proto(**{**person(uuid.uuid4().hex[:6]), **changes}),
            ),
            metadata=intake.staff("operator"),
        )
    return str(response.application_number)


def grant(
    intake: Client, payments: ServiceProcess, numbers: Sequence[str], amount: int = AMOUNT
) -> None:
    """Each application GRANTED on intake's timeline, then review's decision to payments."""
    with service_stub(
        intake, f"localhost:{intake.process.port}", "review", intake_pb2_grpc.IntakeServiceStub
    ) as stub:
        for number in numbers:
            stub.ReportStatusTransition(  # type: ignore[attr-defined]
                intake_pb2.ReportStatusTransitionRequest(
                    request_id=f"grant-{number}",
                    application_number=number,
                    status=common_pb2.GRANTED,
                    note="交付決定",
                ),
                timeout=30,
            )
    with service_stub(
        intake, payments.address, "review", payments_pb2_grpc.PaymentsServiceStub
    ) as stub:
        for number in numbers:
            stub.DecisionReceived(  # type: ignore[attr-defined]
                events_pb2.DecisionEvent(
                    event_id=f"decision-{number}",
                    application_number=number,
                    program_id=PROGRAM,
                    granted=True,
                    amount=amount,
                    decided_on="2025-07-01",
                    decision_number=f"S-D-{number}",
                ),
                timeout=60,
            )


def granted_applications(intake: Client, payments: ServiceProcess, count: int) -> list[str]:
    numbers = [submit(intake) for _ in range(count)]
    grant(intake, payments, numbers)
    return numbers


def deliver(
    intake: Client,
    payments: ServiceProcess,
    admin: Engine,
    *,
    expect_parked: int | Collection[str] = 0,
) -> None:
    """Run intake's and payments' outboxes now (instead of the relays' next pass); fails
    when an event parks beyond what `expect_parked` allows (a number, or keys)."""
    for _ in range(2):
        with admin.begin() as connection:
            for schema in ("intake", "payments"):
                connection.execute(
                    text(
                        f"UPDATE {schema}.outbox SET next_attempt_at = now() WHERE id IN "
                        f"(SELECT id FROM {schema}.outbox WHERE delivered_at IS NULL "
                        "ORDER BY id FOR UPDATE SKIP LOCKED)"
                    )
                )
        for process in (intake.process, payments):
            relay = process.context.relay
            assert relay is not None
            relay.deliver_once()
        time.sleep(0.1)
    for process in (intake.process, payments):
        relay = process.context.relay
        assert relay is not None
        relay.check_parked(expect_parked)


def statuses(intake: Client, number: str) -> list[str]:
    with intake.stub() as stub:
        timeline = stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=number),
            metadata=intake.staff("call_center"),
        )
    return [common_pb2.ApplicationStatus.Name(e.status) for e in timeline.events]


def last_note(intake: Client, number: str) -> str:
    """The latest timeline note as the call center reads it."""
    with intake.stub() as stub:
        timeline = stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=number),
            metadata=intake.staff("call_center"),
        )
    return str(timeline.events[-1].note)


def build_and_release(
    intake: Client,
    payments: ServiceProcess,
    *,
    builder: str = "officer-a",
    approver: str = "approver-a",
) -> tuple[payments_pb2.Batch, ZenginFile, bytes]:
    """One batch of everything pending, released by a second person; the file read back."""
    with staff_stub(intake, payments) as stub:
        batch = stub.BuildBatch(
            payments_pb2.BuildBatchRequest(
                request_id=uuid.uuid4().hex, program_id=PROGRAM, transfer_date=next_business_day()
            ),
            metadata=intake.staff("payments_officer", builder),
        )
        seen = stub.GetBatch(
            payments_pb2.GetBatchRequest(batch_id=batch.batch_id),
            metadata=intake.staff("approver", approver),
        )
        released = stub.ReleaseBatch(
            payments_pb2.ReleaseBatchRequest(
                request_id=uuid.uuid4().hex, batch_id=batch.batch_id, file_sha256=seen.file_sha256
            ),
            metadata=intake.staff("approver", approver),
        )
    parsed = read_zengin(released.content)
    assert parsed.count == batch.count and parsed.total == batch.total
    return released.batch, parsed, released.content


def check_never_twice(admin: Engine) -> None:
    """Every grant has exactly one live or paid instruction, or only failed ones; the released
    files' totals are what their instructions carry; no instruction in two batches."""
    with admin.connect() as connection:
        bad = connection.execute(
            text(
                "SELECT g.application_number FROM payments.grants g "
                "LEFT JOIN payments.instructions i ON i.application_number = g.application_number "
                "AND i.state <> 'FAILED' GROUP BY g.application_number HAVING count(i.id) > 1"
            )
        ).all()
        assert bad == []
        mismatched = connection.execute(
            text(
                "SELECT b.id FROM payments.batches b LEFT JOIN payments.instructions i "
                "ON i.batch_id = b.id WHERE b.state IN ('RELEASED', 'CONFIRMED') "
                "GROUP BY b.id HAVING b.total <> coalesce(sum(i.amount), 0) "
                "OR b.count <> count(i.id)"
            )
        ).all()
        assert mismatched == []


def today() -> date:
    return today_in_japan()
