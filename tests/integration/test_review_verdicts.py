"""A ward officer's direct decision names its verdict: an explicit enum with no default, on
real servers (intake, review, sign-in) with real PostgreSQL and OpenBao.

`DecideRequest.verdict` (DecisionVerdict) replaced `bool granted`, whose default made a
caller who forgot it refuse the application. A request naming no verdict (UNSPECIFIED) or
one the enum does not define is INVALID_ARGUMENT naming `verdict` in Japanese, and nothing
is written (no decision, no outbox event, no state change, no audit event of the case).
GRANT grants the amount and REFUSE refuses with its reasons, each followed into review's
outbox as a DecisionEvent; `subsidy-ward grant` and `subsidy-ward refuse` are the same two
verdicts from the command line, with no default either.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from intake_support import Client, count
from review_support import case, checked_applications, ward_command
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.review.v1 import review_pb2

from subsidy_platform.errors import field_violations
from subsidy_platform.process import ServiceProcess
from subsidy_platform.users import create_user

PASSWORD = "ward-officer passphrase 3"
RULES_AMOUNT = 16_000


def checked(intake: Client, review: ServiceProcess, stub: Any, admin: Engine, n: int) -> list[str]:
    return checked_applications(intake, review, stub, admin, n, RULES_AMOUNT)


def _rid() -> str:
    return uuid.uuid4().hex


def written(admin: Engine, number: str) -> tuple[int, int, int]:
    """Decisions of `number`, review's outbox rows about it, and the audit events of its
    decision and state changes."""
    return (
        count(
            admin, "SELECT count(*) FROM review.decisions WHERE application_number = :n", n=number
        ),
        count(admin, "SELECT count(*) FROM review.outbox WHERE key LIKE :k", k=f"%{number}%"),
        count(
            admin,
            "SELECT count(*) FROM audit.events WHERE service = 'review' AND application_id = :n "
            "AND rpc IN ('Decide', 'ChangeCaseState')",
            n=number,
        ),
    )


def decision_events(admin: Engine, number: str) -> list[events_pb2.DecisionEvent]:
    """The DecisionEvents review's outbox holds for `number` (one per subscriber)."""
    with admin.connect() as connection:
        payloads = connection.execute(
            text("SELECT payload FROM review.outbox WHERE key = :k ORDER BY id"),
            {"k": f"decision-{number}"},
        ).scalars()
        return [events_pb2.DecisionEvent.FromString(bytes(p)) for p in payloads]


def stored_decision(admin: Engine, number: str) -> tuple[bool, int, list[str]]:
    with admin.connect() as connection:
        granted, amount, reasons = connection.execute(
            text(
                "SELECT granted, amount, reasons FROM review.decisions "
                "WHERE application_number = :n"
            ),
            {"n": number},
        ).one()
    return bool(granted), int(amount), list(reasons)


def test_a_decision_without_a_verdict_is_refused_and_writes_nothing(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    [number] = checked(intake, review, review_stub, admin_engine, 1)
    before = written(admin_engine, number)
    ward = intake.staff("ward_officer", "ward-no-verdict")
    old_client = review_pb2.DecideRequest(
        request_id=_rid(), application_number=number, amount=16_000
    )
    old_client.MergeFromString(b"\x18\x01")  # the retired `bool granted = 3`, sent true
    requests = [
        old_client,
        # an old client's full grant: the amount is there, the verdict is not
        review_pb2.DecideRequest(request_id=_rid(), application_number=number, amount=16_000),
        # an old client's refusal: it used to be read as one by default
        review_pb2.DecideRequest(
            request_id=_rid(), application_number=number, reasons=[common_pb2.NOT_RESIDENT]
        ),
        review_pb2.DecideRequest(
            request_id=_rid(),
            application_number=number,
            verdict=review_pb2.DECISION_VERDICT_UNSPECIFIED,
            amount=16_000,
        ),
        review_pb2.DecideRequest(  # a number the enum does not define
            request_id=_rid(), application_number=number, verdict=7, amount=16_000
        ),
    ]
    for request in requests:
        with pytest.raises(grpc.RpcError) as refused:
            review_stub.DecideApplication(request, metadata=ward)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        [violation] = field_violations(refused.value)
        assert violation.field == "verdict"
        assert "交付か不交付か" in violation.description
    assert case(review_stub, intake, number).state == review_pb2.CHECKED
    assert written(admin_engine, number) == before
    assert decision_events(admin_engine, number) == []


def test_a_grant_and_a_refusal_are_decided_by_naming_them(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    granted, refused = checked(intake, review, review_stub, admin_engine, 2)
    ward = intake.staff("ward_officer", "ward-verdicts")
    grant = review_stub.DecideApplication(
        review_pb2.DecideRequest(
            request_id=_rid(),
            application_number=granted,
            verdict=review_pb2.DECISION_VERDICT_GRANT,
            amount=RULES_AMOUNT,
        ),
        metadata=ward,
    )
    assert grant.state == review_pb2.GRANTED and grant.granted_amount == RULES_AMOUNT
    refusal = review_stub.DecideApplication(
        review_pb2.DecideRequest(
            request_id=_rid(),
            application_number=refused,
            verdict=review_pb2.DECISION_VERDICT_REFUSE,
            reasons=[common_pb2.NOT_RESIDENT],
        ),
        metadata=ward,
    )
    assert refusal.state == review_pb2.NOT_GRANTED and refusal.granted_amount == 0
    assert stored_decision(admin_engine, granted) == (True, RULES_AMOUNT, [])
    assert stored_decision(admin_engine, refused) == (False, 0, ["NOT_RESIDENT"])
    grant_events = decision_events(admin_engine, granted)
    refusal_events = decision_events(admin_engine, refused)
    assert grant_events and all(e.granted and e.amount == RULES_AMOUNT for e in grant_events)
    assert refusal_events and all(
        not e.granted and e.amount == 0 and list(e.reasons) == [common_pb2.NOT_RESIDENT]
        for e in refusal_events
    )
    with pytest.raises(grpc.RpcError) as again:  # decided once: the other verdict is refused
        review_stub.DecideApplication(
            review_pb2.DecideRequest(
                request_id=_rid(),
                application_number=granted,
                verdict=review_pb2.DECISION_VERDICT_REFUSE,
                reasons=[common_pb2.NOT_RESIDENT],
            ),
            metadata=ward,
        )
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert stored_decision(admin_engine, granted) == (True, RULES_AMOUNT, [])


def test_the_ward_command_grants_and_refuses_only_when_told_which(
    intake: Client,
    review: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    auth: ServiceProcess,
    environment: Any,
) -> None:
    granted, refused, untouched = checked(intake, review, review_stub, admin_engine, 3)
    login = f"cli-decider-{uuid.uuid4().hex[:8]}"
    with Session(admin_engine) as session:
        create_user(session, login, "ward_officer", PASSWORD)
        session.commit()
    command = ward_command(environment, auth, review, login, PASSWORD)
    before = written(admin_engine, untouched)
    # argparse refuses before signing in: a grant needs its amount, a refusal its reason,
    # and a reason code the enum does not define is not repeated back
    for args in (
        ("grant", untouched),
        ("refuse", untouched),
        ("refuse", untouched, "--reason", "NO_SUCH_REASON_CODE"),
    ):
        run = command(*args)
        assert run.returncode == 2, args
        assert "NO_SUCH_REASON_CODE" not in run.stderr
    assert written(admin_engine, untouched) == before
    assert case(review_stub, intake, untouched).state == review_pb2.CHECKED

    done = command("grant", granted, "--amount", str(RULES_AMOUNT))
    assert done.returncode == 0, done.stderr
    assert granted in done.stdout and "交付決定" in done.stdout and "16,000円" in done.stdout
    no = command("refuse", refused, "--reason", "NOT_RESIDENT", "--note", "住民登録なし")
    assert no.returncode == 0, no.stderr
    assert "不交付決定" in no.stdout
    assert stored_decision(admin_engine, granted) == (True, RULES_AMOUNT, [])
    assert stored_decision(admin_engine, refused) == (False, 0, ["NOT_RESIDENT"])
    with admin_engine.connect() as connection:
        deciders = connection.execute(
            text("SELECT DISTINCT decided_by FROM review.decisions WHERE application_number IN "
                 "(:a, :b)"),
            {"a": granted, "b": refused},
        ).scalars().all()  # fmt: skip
    assert deciders == [login]
    broken = command("grant", untouched, "--amount", "15500")  # not whole thousands of yen
    assert broken.returncode == 2 and "INVALID_ARGUMENT" in broken.stderr
    assert written(admin_engine, untouched) == before
