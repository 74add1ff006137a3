"""`subsidy-ward` for one household, one live grant: a second person confirms a clearing of
strong evidence, and a ward officer lists the revocation cases and revokes a grant, from the
command line against real servers (sign-in, intake, review) over mutual TLS."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

from intake_support import PROGRAM, Client
from review_support import case, check, deliver, person, submit, ward_command
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from subsidy.review.v1 import review_pb2

from subsidy_platform.process import ServiceProcess
from subsidy_platform.users import create_user

PASSWORD = "household passphrase 1"


def ward(
    environment: Any, auth: ServiceProcess, review: ServiceProcess, login: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return ward_command(environment, auth, review, login, PASSWORD)(*args)


def test_the_ward_command_confirms_a_clearing_and_revokes_a_second_grant(
    intake: Client,
    review: ServiceProcess,
    auth: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    environment: Any,
) -> None:
    with Session(admin_engine) as session:
        create_user(session, "cli-household-ward", "ward_officer", PASSWORD)
        create_user(session, "cli-household-checker", "checker", PASSWORD)
        session.commit()

    # a clearing asked by one checker, confirmed by the ward officer's command
    facts = person("コマンド同居")
    first = submit(intake, **facts)
    second = submit(
        intake, **{**person("コマンド別"), "applicant.address": facts["applicant.address"]}
    )
    deliver(intake, review, admin_engine)
    asked = review_stub.ResolveDuplicates(
        review_pb2.ResolveDuplicatesRequest(
            request_id=uuid.uuid4().hex, application_number=second, clear_reason="別の部屋"
        ),
        metadata=intake.staff("checker", "checker-cli-a"),
    )
    listed = ward(
        environment, auth, review, "cli-household-checker", "clearings", "--program", PROGRAM
    )
    assert listed.returncode == 0, listed.stderr
    assert asked.pending_clearing_id in listed.stdout and "別の部屋" in listed.stdout
    confirmed = ward(
        environment,
        auth,
        review,
        "cli-household-ward",
        "confirm-clearing",
        asked.pending_clearing_id,
    )
    assert confirmed.returncode == 0, confirmed.stderr
    assert "解除済" in confirmed.stdout
    assert case(review_stub, intake, first).state == review_pb2.RECEIVED

    # two grants, a late application: the case listed and one grant revoked
    granted = []
    for tag in ("コマンドA", "コマンドB"):
        facts_x = person(tag)
        number = submit(intake, **facts_x)
        deliver(intake, review, admin_engine)
        check(review_stub, intake, number)
        review_stub.DecideApplication(
            review_pb2.DecideRequest(
                request_id=uuid.uuid4().hex,
                application_number=number,
                verdict=review_pb2.DECISION_VERDICT_GRANT,
                amount=16_000,
            ),
            metadata=intake.staff("ward_officer", "ward-cli-a"),
        )
        granted.append((number, facts_x))
    (a, facts_a), (b, facts_b) = granted
    submit(
        intake,
        **{
            **person("コマンド遅"),
            "applicant.address": facts_a["applicant.address"],
            "bank_account.number": facts_b["bank_account.number"],
        },
    )
    deliver(intake, review, admin_engine)
    cases = ward(
        environment, auth, review, "cli-household-ward", "revocations", "--program", PROGRAM
    )
    assert cases.returncode == 0, cases.stderr
    [line] = [x for x in cases.stdout.splitlines() if a in x]
    assert "取消案件" in line and b in line
    unreasoned = ward(environment, auth, review, "cli-household-ward", "revoke", b, "--reason", "")
    assert unreasoned.returncode == 2 and "INVALID_ARGUMENT" in unreasoned.stderr
    revoked = ward(
        environment, auth, review, "cli-household-ward", "revoke", b, "--reason", "同一世帯の2件目"
    )
    assert revoked.returncode == 0, revoked.stderr
    assert "交付決定取消" in revoked.stdout and "16,000円" in revoked.stdout
    assert case(review_stub, intake, b).state == review_pb2.REVOKED
    settled = ward(
        environment,
        auth,
        review,
        "cli-household-ward",
        "revocations",
        "--program",
        PROGRAM,
        "--all",
    )
    [line] = [x for x in settled.stdout.splitlines() if a in x]
    assert "解消済" in line
    checker_revokes = ward(
        environment, auth, review, "cli-household-checker", "revoke", a, "--reason", "権限の確認"
    )
    assert checker_revokes.returncode == 2 and "PERMISSION_DENIED" in checker_revokes.stderr
    assert case(review_stub, intake, a).state == review_pb2.GRANTED
