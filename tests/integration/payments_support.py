"""Helpers for the payments integration tests: granted applications (through the real
review service: a checker's check and the ward's decision, whose event review's outbox
delivers; or, for grants review would not produce, intake's timeline and review's decision
event sent under review's own service certificate), staff stubs, the outboxes run on
demand, and the invariants every test checks (synthetic people only)."""

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
from subsidy.review.v1 import review_pb2, review_pb2_grpc
from subsidy_payments.calendar_jp import next_bank_business_day
from zengin_reader import ZenginFile, read_zengin

from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import staff_channel
from subsidy_platform.tls import channel_credentials
from subsidy_platform.ward_clock import ward_today

AMOUNT = 20000  # shinjuku-2025: cap 20,000 yen, rounding unit 1,000


def next_business_day(after: int = 1) -> str:
    return next_bank_business_day(ward_today() + timedelta(days=after)).isoformat()


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


def granted_applications(
    intake: Client,
    payments: ServiceProcess,
    count: int,
    *,
    review: ServiceProcess | None = None,
    admin: Engine | None = None,
) -> list[str]:
    """`count` granted applications: through the real review service (a checker's check,
    the ward's decision, review's outbox) when `review` and `admin` are given; otherwise
    review's decision event sent here under review's certificate (tests that need a grant
    in a state review would not produce)."""
    if review is not None and admin is not None:
        numbers = [submit_for_review(intake) for _ in range(count)]
        grant_in_review(intake, review, payments, admin, numbers)
        return numbers
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
    return ward_today()


# Grants through the real services: intake -> review (a checker's check, the ward's direct
# decision) -> review's outbox -> payments, no event made by hand (test_payments_accounts).

PAYABLE_PURCHASES = [  # half of 40,000 yen is the cap: the rules' amount is AMOUNT
    {"item": "security_camera", "kind": "purchase", "amount": 40000, "purchased_on": "2025-05-01"}
]
REVIEW_ATTACHMENTS = ["receipt", "photo_after_installation", "id_copy", "bank_account_proof"]
REVIEW_ITEMS = [
    "attachments_legible",
    "receipt_matches",
    "photo_shows_installation",
    "account_proof_matches",
]


def submit_for_review(intake: Client, **changes: object) -> str:
    """An application with its attachments, eligible for AMOUNT (synthetic person, in one
    dwelling of millions: no chance same-household duplicate with another test's)."""
    n = uuid.uuid4().int
    dwelling = f"{n % 99 + 1}番{(n // 99) % 60 + 1}号 シハライ荘{(n // 5940) % 9000 + 1000}"
    fields = {
        **person(uuid.uuid4().hex[:6]),
        "applicant.address": f"東京都新宿区西新宿二丁目{dwelling}",
        "purchases": PAYABLE_PURCHASES,
        **changes,
    }
    with intake.stub() as stub:
        response = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=uuid.uuid4().hex, program_id=PROGRAM, application=proto(**fields)
            ),
            metadata=intake.staff("operator"),
        )
        stub.RecordAttachments(
            intake_pb2.RecordAttachmentsRequest(
                application_number=response.application_number, present=REVIEW_ATTACHMENTS
            ),
            metadata=intake.staff("operator"),
        )
    return str(response.application_number)


def settle_outbox(process: ServiceProcess, admin: Engine, schema: str, destination: str) -> None:
    """Every event of `schema`'s outbox for `destination` delivered now; a parked one fails."""
    relay = process.context.relay
    assert relay is not None
    deadline = time.monotonic() + 120
    while True:
        with admin.begin() as connection:
            connection.execute(
                text(
                    f"UPDATE {schema}.outbox SET next_attempt_at = now() WHERE id IN (SELECT id "
                    f"FROM {schema}.outbox WHERE delivered_at IS NULL AND destination = :d "
                    "ORDER BY id FOR UPDATE SKIP LOCKED)"
                ),
                {"d": destination},
            )
            waiting, parked = connection.execute(
                text(
                    f"SELECT count(*) FILTER (WHERE parked_at IS NULL), "
                    f"count(*) FILTER (WHERE parked_at IS NOT NULL AND created_at > "
                    "now() - interval '10 minutes') "
                    f"FROM {schema}.outbox WHERE destination = :d AND delivered_at IS NULL"
                ),
                {"d": destination},
            ).one()
        assert parked == 0, f"{parked} events of {schema} for {destination} parked"
        if waiting == 0:
            return
        assert time.monotonic() < deadline, f"{waiting} events of {schema} undelivered"
        relay.deliver_once()
        time.sleep(0.1)


def arrive_in_review(intake: Client, admin: Engine, numbers: Sequence[str]) -> None:
    """Wait until review has the cases of `numbers` (intake's outbox run now)."""
    deadline = time.monotonic() + 120
    while True:
        settle_outbox(intake.process, admin, "intake", "review")
        with admin.connect() as connection:
            arrived = connection.execute(
                text("SELECT count(*) FROM review.cases WHERE application_number = ANY(:n)"),
                {"n": list(numbers)},
            ).scalar_one()
        if arrived == len(numbers):
            return
        assert time.monotonic() < deadline, "intake's events did not reach review"
        time.sleep(0.2)


def clear_as_namesakes(intake: Client, review: ServiceProcess, number: str) -> None:
    """A checker clears the duplicate group of `number` (not one household); strong
    evidence (a shared dwelling or account) is confirmed by a second checker."""
    with staff_channel(intake.environment.pki, review.address) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        group = stub.ResolveDuplicates(
            review_pb2.ResolveDuplicatesRequest(
                request_id=uuid.uuid4().hex,
                application_number=number,
                clear_reason="同姓同名の別人",
            ),
            metadata=intake.staff("checker", "checker-accounts"),
        )
        if group.pending_clearing_id:
            stub.ConfirmClearing(
                review_pb2.ConfirmClearingRequest(
                    request_id=uuid.uuid4().hex,
                    clearing_id=group.pending_clearing_id,
                    verdict=review_pb2.CLEARING_VERDICT_CONFIRM,
                    note="二人目の確認",
                ),
                metadata=intake.staff("checker", "checker-accounts-second"),
            )


def grant_in_review(
    intake: Client,
    review: ServiceProcess,
    payments: ServiceProcess,
    admin: Engine,
    numbers: Sequence[str],
) -> None:
    """Each application checked by a checker and granted the rules' amount by the ward
    (a direct decision), then review's decision events delivered to payments."""
    arrive_in_review(intake, admin, numbers)
    checker = intake.staff("checker", "checker-accounts")
    ward = intake.staff("ward_officer", "ward-accounts")
    with staff_channel(intake.environment.pki, review.address) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        for number in numbers:
            stub.ClaimApplication(
                review_pb2.ClaimRequest(application_number=number), metadata=checker
            )
            checked = stub.RecordCheck(
                review_pb2.RecordCheckRequest(
                    request_id=uuid.uuid4().hex, application_number=number, confirmed=REVIEW_ITEMS
                ),
                metadata=checker,
            )
            assert checked.proposal_granted and checked.rules_amount == AMOUNT, checked
            stub.DecideApplication(
                review_pb2.DecideRequest(
                    request_id=uuid.uuid4().hex,
                    application_number=number,
                    verdict=review_pb2.DECISION_VERDICT_GRANT,
                    amount=checked.rules_amount,
                ),
                metadata=ward,
            )
    settle_outbox(review, admin, "review", "payments")
    with admin.connect() as connection:
        granted = connection.execute(
            text("SELECT count(*) FROM payments.grants WHERE application_number = ANY(:n)"),
            {"n": list(numbers)},
        ).scalar_one()
    assert granted == len(numbers)


def backdate(admin: Engine, batch_id: int, days: int = 14) -> str:
    """The batch as if built and released `days` ago: its transfer date has passed (the
    bank confirms only then). Returns the new transfer date."""
    with admin.begin() as connection:
        moved = connection.execute(
            text(
                "UPDATE payments.batches SET transfer_date = transfer_date - :d, "
                "released_at = released_at - make_interval(days => :d), "
                "built_at = built_at - make_interval(days => :d) "
                "WHERE id = :b RETURNING transfer_date"
            ),
            {"b": batch_id, "d": days},
        ).scalar_one()
    return str(moved.isoformat())


def reconciliation_differences(
    intake: Client, payments: ServiceProcess, numbers: Sequence[str], batch_ids: Sequence[int]
) -> list[tuple[str, str, int]]:
    """What the auditor's reconciliation across services lists about these applications and
    these batches' files (others' applications in the shared test database are left out)."""
    with staff_stub(intake, payments) as stub:
        result = stub.ReconcileAcross(
            payments_pb2.ReconcileAcrossRequest(program_id=PROGRAM),
            metadata=intake.staff("auditor", "auditor-reconcile"),
            timeout=300,
        )
    return [
        (d.application_number, payments_pb2.DifferenceKind.Name(d.kind), int(d.batch_id))
        for d in result.differences
        if d.application_number in numbers or (not d.application_number and d.batch_id in batch_ids)
    ]
