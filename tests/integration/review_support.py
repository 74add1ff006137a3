"""Helpers for the review integration tests: applications submitted to intake with their
attachments, both outboxes run on demand, a checker's check (synthetic people only)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import Any

from intake_support import PROGRAM, Client, proto
from sqlalchemy import Engine, text
from subsidy.intake.v1 import intake_pb2
from subsidy.review.v1 import review_pb2
from subsidy_review.handover import seal, unseal

from subsidy_platform.excel_csv import read_excel_csv, write_excel_csv
from subsidy_platform.outbox import OutboxRelay
from subsidy_platform.process import ServiceProcess

ATTACHMENTS = ["receipt", "photo_after_installation", "id_copy", "bank_account_proof"]
ALL_ITEMS = [
    "attachments_legible",
    "receipt_matches",
    "photo_shows_installation",
    "account_proof_matches",
]


def deliver(
    intake: Client,
    review: ServiceProcess,
    admin: Engine,
    *,
    expect_parked: int | Collection[str] = 0,
) -> None:
    """Run both outboxes now (instead of waiting for the relays' next pass); fails when an
    event parks (refused for good) beyond what `expect_parked` allows (a number, or keys)."""
    for _ in range(2):
        with admin.begin() as connection:
            for schema in ("intake", "review"):
                connection.execute(  # rows a relay holds are skipped, not waited for
                    text(
                        f"UPDATE {schema}.outbox SET next_attempt_at = now() WHERE id IN "
                        f"(SELECT id FROM {schema}.outbox WHERE delivered_at IS NULL "
                        "ORDER BY id FOR UPDATE SKIP LOCKED)"
                    )
                )
        for process in (intake.process, review):
            relay = process.context.relay
            assert relay is not None
            assert relay.drain(timeout=60, expect_parked=expect_parked)


def person(tag: str, *, address: str | None = None) -> dict[str, object]:
    n = uuid.uuid4().int
    return {
        "applicant.name_kana": f"シンサ {tag}",
        "applicant.name": f"審査 {tag}",
        "applicant.address": address
        # one household address in about 6,000 (the building is not part of the household key)
        or f"東京都新宿区西新宿二丁目{n % 99 + 1}番{(n // 99) % 60 + 1}号 レビュー荘{n % 9000 + 1000}",
        "bank_account.number": f"{n % 10_000_000:07d}",
        "logo_answer_id": f"88{n % 10**8:08d}",
        "applicant.phone": f"080-{n % 10000:04d}-{(n // 7) % 10000:04d}",
        "applicant.birth_date": f"19{40 + n % 60}-{n % 12 + 1:02d}-{(n // 12) % 28 + 1:02d}",
    }


def submit(intake: Client, *, attachments: Sequence[str] = ATTACHMENTS, **changes: object) -> str:
    with intake.stub() as stub:
        response = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=uuid.uuid4().hex, program_id=PROGRAM, application=proto(**changes)
            ),
            metadata=intake.staff("operator"),
        )
        stub.RecordAttachments(
            intake_pb2.RecordAttachmentsRequest(
                application_number=response.application_number, present=list(attachments)
            ),
            metadata=intake.staff("operator"),
        )
    return str(response.application_number)


def case(stub: Any, intake: Client, number: str) -> review_pb2.Case:
    result: review_pb2.Case = stub.GetCase(
        review_pb2.GetCaseRequest(application_number=number), metadata=intake.staff("checker")
    )
    return result


def check(stub: Any, intake: Client, number: str, login: str = "checker-a") -> review_pb2.Case:
    who = intake.staff("checker", login)
    stub.ClaimApplication(review_pb2.ClaimRequest(application_number=number), metadata=who)
    result: review_pb2.Case = stub.RecordCheck(
        review_pb2.RecordCheckRequest(
            request_id=uuid.uuid4().hex, application_number=number, confirmed=ALL_ITEMS
        ),
        metadata=who,
    )
    return result


# Intake's undelivered events due now; rows a relay is delivering are skipped (no deadlock).
DUE_NOW = text(
    "UPDATE intake.outbox SET next_attempt_at = now() WHERE id IN (SELECT id FROM "
    "intake.outbox WHERE delivered_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED)"
)


def settle(
    relay: OutboxRelay,
    admin: Engine,
    schema: str,
    destination: str,
    *,
    expect_parked: int | Collection[str] = 0,
) -> None:
    """Every event of `schema`'s outbox for `destination` delivered: backlog that other tests
    left, arriving in the middle of a test, would change what it compares. An event parked
    meanwhile fails it, unless `expect_parked` allows it (OutboxRelay.check_parked)."""
    due_now = text(
        f"UPDATE {schema}.outbox SET next_attempt_at = now() WHERE id IN (SELECT id FROM "
        f"{schema}.outbox WHERE delivered_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED)"
    )
    pending_sql = text(
        f"SELECT count(*) FROM {schema}.outbox WHERE destination = :d "
        "AND delivered_at IS NULL AND parked_at IS NULL"
    )
    deadline = time.monotonic() + 300
    while True:
        with admin.begin() as connection:
            connection.execute(due_now)
            pending = connection.execute(pending_sql, {"d": destination}).scalar_one()
        if pending == 0:
            relay.check_parked(expect_parked)
            return
        assert time.monotonic() < deadline, f"{pending} events of {schema} still undelivered"
        relay.deliver_once()


def arrive(intake: Client, admin: Engine, numbers: list[str]) -> None:
    """Wait until review has the cases of `numbers` (intake's outbox run on demand)."""
    relay = intake.process.context.relay
    assert relay is not None
    deadline = time.monotonic() + 90
    while True:
        with admin.begin() as connection:
            connection.execute(DUE_NOW)
            arrived = connection.execute(
                text("SELECT count(*) FROM review.cases WHERE application_number = ANY(:ns)"),
                {"ns": numbers},
            ).scalar_one()
        if arrived == len(numbers):
            return
        assert time.monotonic() < deadline, "intake's events did not reach review"
        relay.deliver_once()
        time.sleep(0.2)


def ward_command(
    environment: Any, auth: ServiceProcess, review: ServiceProcess, login: str, password: str
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`subsidy-ward` as `login` would run it (password on standard input), against the
    session's sign-in and review services."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            "-m",
            "subsidy_review.cli",
            "--server",
            review.address,
            "--auth-server",
            auth.address,
            "--login",
            login,
            "--password-stdin",
            "--pki",
            str(environment.settings.state_dir / "pki"),
            *args,
        ]
        return subprocess.run(
            command, input=password + "\n", capture_output=True, text=True, timeout=120
        )

    return run


def decision_file(export: Any, decide: dict[str, tuple[str, str, str]]) -> bytes:
    """The ward fills in 決定, 交付決定額, 不交付理由コード for the given rows and seals it."""
    files = unseal(export.sealed_file, export.password)
    _, rows = read_excel_csv(files["applications.csv"])
    header, body = rows[0], rows[1:]
    for row in body:
        if row[0] in decide:
            verdict, amount, reason = decide[row[0]]
            row[header.index("決定")] = verdict
            row[header.index("交付決定額")] = amount
            row[header.index("不交付理由コード")] = reason
    return seal({"applications.csv": write_excel_csv(header, body)}, export.password)


def checked_applications(
    intake: Client, review: ServiceProcess, stub: Any, admin: Engine, n: int, amount: int
) -> list[str]:
    """`n` new applications, each checked by a checker with the rules' amount `amount`."""
    numbers = [submit(intake, **person(uuid.uuid4().hex[:6])) for _ in range(n)]
    deliver(intake, review, admin)
    for number in numbers:
        assert check(stub, intake, number).rules_amount == amount
    return numbers
