"""One clock for the ward (issue 20): every date a person reads is Japan's, whatever the
process's time zone.

The sign-in service and the four services run as real processes (`start_stack`) with
`TZ=UTC` and libfaketime preloaded into them only (never into the embedded PostgreSQL and
OpenBao, which this test starts beforehand without it), their clocks moved to 23:30 Japan
time (14:30 UTC, the same date in both zones) and, in a second run, to 00:30 Japan time
(15:30 UTC: Japan has already reached the next day, UTC has not). In each run the dates
people read are checked against Japan's date: intake's received date (today accepted,
tomorrow refused), review's check date (審査日), a correction request's date, its default
deadline and the refusal of a deadline that is not after today, a direct decision's date
(決定日), the notices' print file (the dates written in 和暦) and their mailing date,
payments' transfer date (a bank business day, not before Japan's today). The fake day and
the next one are bank business days, so that only the clock decides.

The processes share one fake clock (an offset from the real one, `FAKETIME=+N`), which the
test's own tokens follow too. Without libfaketime the test is skipped, unless
`SUBSIDY_REQUIRE_FAKETIME=1` (CI, `.ci/run`) makes that a failure.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, proto
from pypdf import PdfReader
from review_support import ALL_ITEMS, ATTACHMENTS, person
from sqlalchemy import Engine, text
from subsidy.events.v1 import events_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc
from subsidy.review.v1 import review_pb2, review_pb2_grpc
from subsidy_notices.era import wareki
from subsidy_payments.calendar_jp import is_bank_business_day

from subsidy_platform import staff_client
from subsidy_platform.config import STATE_ROOT, Settings
from subsidy_platform.db import make_engine
from subsidy_platform.declaration import declarations
from subsidy_platform.embedded import stop_openbao, stop_postgres
from subsidy_platform.launcher import Stack, start_stack
from subsidy_platform.runtime import Environment, prepare
from subsidy_platform.tls import channel_credentials, client_identity
from subsidy_platform.tokens import TokenIssuer, load_private_key

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
JAPAN_OFFSET = timedelta(hours=9)
HUNG = 120.0


def libfaketime() -> Path:
    if LIBFAKETIME.exists():
        return LIBFAKETIME
    message = f"libfaketime is missing ({LIBFAKETIME}): apt-get install -y faketime"
    if os.environ.get("SUBSIDY_REQUIRE_FAKETIME") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def fake_day() -> date:
    """A UTC date after today whose day and next day are both bank business days."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    while not (is_bank_business_day(day) and is_bank_business_day(day + timedelta(days=1))):
        day += timedelta(days=1)
    return day


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def platform() -> Iterator[Environment]:
    """Embedded PostgreSQL and OpenBao of this module, started here on the real clock."""
    folder = Path(tempfile.mkdtemp(prefix="subsidy-clock-", dir=STATE_ROOT.parent))
    try:
        yield prepare(Settings(folder, None, None, None, None), [PROGRAM])
    finally:
        stop_openbao(folder)
        stop_postgres(folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def admin(platform: Environment) -> Iterator[Engine]:
    engine = make_engine(platform.infrastructure.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@dataclass
class Ward:
    """The faked stack and a staff client whose tokens follow the processes' clock."""

    stack: Stack
    environment: Environment
    tokens: staff_client.TestTokens
    utc_now: datetime

    def staff(self, role: str) -> Any:
        return self.tokens.staff(role, f"clock-{role}")

    def channel(self, service: str) -> grpc.Channel:
        credentials = channel_credentials(self.environment.pki, client_identity("console"))
        return grpc.secure_channel(self.stack.addresses[service], credentials)


@pytest.fixture(params=["23:30", "00:30"], ids=["2330-jst", "0030-jst"])
def ward(request: Any, platform: Environment, admin: Engine) -> Iterator[Ward]:
    preload = libfaketime()
    hour = 14 if request.param == "23:30" else 15
    target = datetime.combine(fake_day(), datetime.min.time(), UTC).replace(hour=hour, minute=30)
    offset = int((target - datetime.now(UTC)).total_seconds())
    environ = {
        "TZ": "UTC",
        "LD_PRELOAD": str(preload),
        "FAKETIME": f"{offset:+d}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    addresses = {name: free_address() for name in ("auth", *declarations())}
    stack = start_stack(platform, addresses, environ=environ)

    def clock() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=offset)

    issuer = TokenIssuer(load_private_key(platform.settings.state_dir), clock=clock)
    try:
        yield Ward(stack, platform, staff_client.TestTokens(issuer, admin), target)
    finally:
        stack.stop()


def wait_for(what: str, found: Any) -> Any:
    deadline = time.monotonic() + HUNG
    while True:
        value = found()
        if value:
            return value
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.3)


def code_of(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as refused:
        call()
    return refused.value.code()


def submit(ward: Ward, intake: Any, **changes: Any) -> str:
    operator = ward.staff("operator")
    tag = uuid.uuid4().hex[:6]
    response = intake.SubmitApplication(
        intake_pb2.SubmitApplicationRequest(
            request_id=uuid.uuid4().hex,
            program_id=PROGRAM,
            application=proto(**person(tag), **changes),
        ),
        metadata=operator,
        timeout=60,
    )
    intake.RecordAttachments(
        intake_pb2.RecordAttachmentsRequest(
            application_number=response.application_number, present=ATTACHMENTS
        ),
        metadata=operator,
        timeout=60,
    )
    return str(response.application_number)


def arrived(admin: Engine, schema: str, table: str, number: str) -> bool:
    with admin.begin() as connection:
        for outbox in ("intake", "review"):  # due now rather than at the next back-off
            connection.execute(
                text(
                    f"UPDATE {outbox}.outbox SET next_attempt_at = now() WHERE id IN "
                    f"(SELECT id FROM {outbox}.outbox WHERE delivered_at IS NULL "
                    "ORDER BY id FOR UPDATE SKIP LOCKED)"
                )
            )
        found = connection.execute(
            text(f"SELECT count(*) FROM {schema}.{table} WHERE application_number = :n"),
            {"n": number},
        ).scalar_one()
    return bool(found)


def checked(ward: Ward, review: Any, admin: Engine, number: str) -> review_pb2.Case:
    wait_for(f"{number} in review", lambda: arrived(admin, "review", "cases", number))
    checker = ward.staff("checker")
    review.ClaimApplication(
        review_pb2.ClaimRequest(application_number=number), metadata=checker, timeout=60
    )
    case: review_pb2.Case = review.RecordCheck(
        review_pb2.RecordCheckRequest(
            request_id=uuid.uuid4().hex, application_number=number, confirmed=ALL_ITEMS
        ),
        metadata=checker,
        timeout=60,
    )
    return case


def print_file_text(ward: Ward, notices: Any, batch_id: str) -> str:
    data = bytearray()
    for chunk in notices.DownloadPrintFile(
        notices_pb2.DownloadPrintFileRequest(batch_id=batch_id),
        metadata=ward.staff("operator"),
        timeout=120,
    ):
        data.extend(chunk.data)
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(data))).pages)


@pytest.mark.slow
def test_every_date_people_read_is_japan_s_at_23_30_and_00_30_with_the_processes_in_utc(
    ward: Ward, admin: Engine
) -> None:
    today = (ward.utc_now + JAPAN_OFFSET).date()  # Japan's date at the fake time
    utc_today = ward.utc_now.date()
    assert (today == utc_today) == (ward.utc_now.hour == 14)
    with (
        ward.channel("intake") as intake_channel,
        ward.channel("review") as review_channel,
        ward.channel("notices") as notices_channel,
        ward.channel("payments") as payments_channel,
    ):
        intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)
        review = review_pb2_grpc.ReviewServiceStub(review_channel)
        notices = notices_pb2_grpc.NoticesServiceStub(notices_channel)
        payments = payments_pb2_grpc.PaymentsServiceStub(payments_channel)

        # Intake: received today (Japan's) is accepted, tomorrow is refused.
        received_today = submit(ward, intake, received_on=today.isoformat())
        tomorrow = (today + timedelta(days=1)).isoformat()
        assert (
            code_of(lambda: submit(ward, intake, received_on=tomorrow))
            == grpc.StatusCode.INVALID_ARGUMENT
        )
        wait_for("the case in review", lambda: arrived(admin, "review", "cases", received_today))

        # Review: the check date, a correction request's dates, a decision date.
        decided = submit(ward, intake)
        corrected = submit(ward, intake)
        case = checked(ward, review, admin, decided)
        assert case.checked_on == today.isoformat()
        checked(ward, review, admin, corrected)
        items = [events_pb2.CorrectionItem(field="receipt", problem="領収書の日付が読めません")]
        assert (
            code_of(
                lambda: review.RequestCorrection(
                    review_pb2.RequestCorrectionRequest(
                        request_id=uuid.uuid4().hex,
                        application_number=corrected,
                        items=items,
                        deadline=today.isoformat(),
                    ),
                    metadata=ward.staff("checker"),
                    timeout=60,
                )
            )
            == grpc.StatusCode.INVALID_ARGUMENT
        ), "a deadline is after Japan's today"
        review.RequestCorrection(
            review_pb2.RequestCorrectionRequest(
                request_id=uuid.uuid4().hex, application_number=corrected, items=items
            ),
            metadata=ward.staff("checker"),
            timeout=60,
        )
        [correction] = review.GetCase(
            review_pb2.GetCaseRequest(application_number=corrected),
            metadata=ward.staff("checker"),
            timeout=60,
        ).corrections
        assert correction.requested_on == today.isoformat()
        assert correction.deadline == (today + timedelta(days=14)).isoformat()
        decision = review.DecideApplication(
            review_pb2.DecideRequest(
                request_id=uuid.uuid4().hex,
                application_number=decided,
                verdict=review_pb2.DECISION_VERDICT_GRANT,
                amount=case.rules_amount,
            ),
            metadata=ward.staff("ward_officer"),
            timeout=60,
        )
        assert decision.decided_on == today.isoformat()

        # Notices: the print file writes Japan's date in 和暦; mailed today is Japan's today.
        for number in (decided, corrected):
            wait_for(
                f"the notice of {number}",
                lambda n=number: (
                    notices.GetNotices(
                        notices_pb2.GetNoticesRequest(application_number=n),
                        metadata=ward.staff("operator"),
                        timeout=60,
                    ).notices
                ),
            )
        operator = ward.staff("operator")
        batch = notices.CreatePrintBatch(
            notices_pb2.CreatePrintBatchRequest(request_id=uuid.uuid4().hex, program_id=PROGRAM),
            metadata=operator,
            timeout=300,
        )
        assert {decided, corrected} <= set(batch.application_numbers)
        printed = print_file_text(ward, notices, batch.batch_id)
        assert wareki(today) in printed
        assert wareki(today + timedelta(days=14)) in printed  # the correction's deadline
        if utc_today != today:
            assert wareki(utc_today) not in printed, "a date of the process's zone"
        notices.ConfirmPrinted(
            notices_pb2.ConfirmBatchRequest(request_id=uuid.uuid4().hex, batch_id=batch.batch_id),
            metadata=operator,
            timeout=60,
        )
        mailed = notices.ConfirmMailed(
            notices_pb2.ConfirmBatchRequest(request_id=uuid.uuid4().hex, batch_id=batch.batch_id),
            metadata=operator,
            timeout=60,
        )
        assert mailed.mailed_on == today.isoformat()

        # Payments: a transfer date before Japan's today is refused; today is taken.
        wait_for("the grant in payments", lambda: arrived(admin, "payments", "grants", decided))
        officer = ward.staff("payments_officer")

        def build(day: date) -> payments_pb2.Batch:
            built: payments_pb2.Batch = payments.BuildBatch(
                payments_pb2.BuildBatchRequest(
                    request_id=uuid.uuid4().hex, program_id=PROGRAM, transfer_date=day.isoformat()
                ),
                metadata=officer,
                timeout=120,
            )
            return built

        assert code_of(lambda: build(today - timedelta(days=1))) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        if utc_today != today:
            assert code_of(lambda: build(utc_today)) == grpc.StatusCode.INVALID_ARGUMENT
        transfer = build(today)
        assert transfer.transfer_date == today.isoformat() and transfer.count >= 1
