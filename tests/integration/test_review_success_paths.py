"""Review's success paths that no test walked before, on real servers (intake, review,
payments, notices, sign-in) over mutual TLS with real PostgreSQL and OpenBao:

- a correction deadline extended (later only), then expired to the ward as not granted
  once it has passed (never by naming a future day);
- a direct full grant, a reduced grant approved by a second ward officer, and a reduced
  grant sent back then decided again: each grant followed into payments through review's
  real outbox (no event sent by hand), where the grant and its instruction carry the
  decided amount;
- a checker's claim that expires, after which another checker takes the application;
- the handover ledger (管理簿) refusing UPDATE, DELETE and TRUNCATE in the database, even to
  the review service's own login;
- every one of these steps, and a duplicate resolution, in the auditor's audit search for
  the application, with who made it and why.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client
from review_support import case, check, deliver, person, submit
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc
from subsidy.audit.v1 import audit_pb2, audit_pb2_grpc
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.review.v1 import review_pb2

from subsidy_platform.errors import field_violations
from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import staff_channel
from subsidy_platform.ward_clock import ward_today

RULES_AMOUNT = 16_000  # the test application: 32,000 yen of equipment, half, in thousands


def _rid() -> str:
    return uuid.uuid4().hex


def audit_trail(intake: Client, auth: ServiceProcess, number: str) -> list[tuple[str, str, str]]:
    """(actor, rpc, purpose) of review's audit events of `number`, oldest first, as the
    auditor's search answers them."""
    with staff_channel(intake.environment.pki, auth.address) as channel:
        found = audit_pb2_grpc.AuditServiceStub(channel).ListEvents(
            audit_pb2.ListEventsRequest(
                filter=audit_pb2.EventFilter(application_id=number, service="review"),
                page_size=1000,
            ),
            metadata=intake.staff("auditor"),
        )
    return [(e.actor, e.rpc, e.purpose) for e in reversed(found.events)]


def payments_grant(admin: Engine, number: str) -> list[tuple[int, int, str]]:
    """(grant amount, instruction amount, instruction state) that payments holds."""
    with admin.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT g.amount, i.amount, i.state FROM payments.grants g "
                "JOIN payments.instructions i ON i.application_number = g.application_number "
                "WHERE g.application_number = :n ORDER BY i.id"
            ),
            {"n": number},
        ).all()
    return [(int(g), int(i), str(s)) for g, i, s in rows]


def checked_application(intake: Client, review: ServiceProcess, stub: Any, admin: Engine) -> str:
    number = submit(intake, **person(uuid.uuid4().hex[:6]))
    deliver(intake, review, admin)
    checked = check(stub, intake, number)
    assert checked.state == review_pb2.CHECKED and checked.rules_amount == RULES_AMOUNT
    return number


def decide(stub: Any, intake: Client, number: str, login: str, amount: int, **extra: Any) -> Any:
    return stub.DecideApplication(
        review_pb2.DecideRequest(
            request_id=_rid(), application_number=number, granted=True, amount=amount, **extra
        ),
        metadata=intake.staff("ward_officer", login),
    )


def verdict(stub: Any, intake: Client, number: str, login: str, value: int) -> Any:
    return stub.ApproveReducedGrant(
        review_pb2.ApproveReducedGrantRequest(
            request_id=_rid(), application_number=number, verdict=value
        ),
        metadata=intake.staff("ward_officer", login),
    )


def test_a_deadline_is_extended_later_only_and_expires_once_it_has_passed(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    today = ward_today()
    number = submit(intake, **person("期限"))
    deliver(intake, review, admin_engine)
    checker = intake.staff("checker", "checker-deadline")
    review_stub.RequestCorrection(
        review_pb2.RequestCorrectionRequest(
            request_id=_rid(),
            application_number=number,
            items=[events_pb2.CorrectionItem(field="receipt", problem="領収書の日付が読めません")],
            deadline=(today + timedelta(days=3)).isoformat(),
        ),
        metadata=checker,
    )
    extended = review_stub.ExtendCorrectionDeadline(
        review_pb2.ExtendDeadlineRequest(
            request_id=_rid(),
            application_number=number,
            deadline=(today + timedelta(days=10)).isoformat(),
        ),
        metadata=checker,
    )
    assert extended.state == review_pb2.AWAITING_CORRECTION
    assert (
        case(review_stub, intake, number).corrections[0].deadline
        == (today + timedelta(days=10)).isoformat()
    )
    with pytest.raises(grpc.RpcError) as earlier:  # an "extension" that shortens the deadline
        review_stub.ExtendCorrectionDeadline(
            review_pb2.ExtendDeadlineRequest(
                request_id=_rid(),
                application_number=number,
                deadline=(today + timedelta(days=5)).isoformat(),
            ),
            metadata=checker,
        )
    assert earlier.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = field_violations(earlier.value)
    assert violation.field == "deadline" and "現在の期限" in violation.description

    ward = intake.staff("ward_officer", "ward-expire")
    not_yet = review_stub.ExpireCorrections(
        review_pb2.ExpireCorrectionsRequest(program_id=PROGRAM), metadata=ward
    )
    assert number not in not_yet.expired
    # the ward's clock cannot be moved: the deadline is moved into the past instead
    with admin_engine.begin() as connection:
        connection.execute(
            text("UPDATE review.corrections SET deadline = :d WHERE application_number = :n"),
            {"d": today - timedelta(days=1), "n": number},
        )
    expired = review_stub.ExpireCorrections(
        review_pb2.ExpireCorrectionsRequest(program_id=PROGRAM, as_of=today.isoformat()),
        metadata=ward,
    )
    assert number in expired.expired
    after = case(review_stub, intake, number)
    assert after.state == review_pb2.CHECKED and not after.proposal_granted
    assert list(after.proposal_reasons) == [common_pb2.CORRECTION_NOT_SUBMITTED]
    assert after.corrections[0].expired and not after.corrections[0].corrected_on
    again = review_stub.ExpireCorrections(
        review_pb2.ExpireCorrectionsRequest(program_id=PROGRAM), metadata=ward
    )
    assert number not in again.expired  # expired once


def test_a_direct_full_grant_reaches_payments_with_its_amount(
    intake: Client,
    review: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    auth: ServiceProcess,
) -> None:
    number = checked_application(intake, review, review_stub, admin_engine)
    granted = decide(review_stub, intake, number, "ward-direct", RULES_AMOUNT)
    assert granted.state == review_pb2.GRANTED and granted.granted_amount == RULES_AMOUNT
    assert granted.decided_on == ward_today().isoformat() and granted.decision_number
    assert payments_grant(admin_engine, number) == []
    deliver(intake, review, admin_engine)  # review's outbox: the decision event to payments
    assert payments_grant(admin_engine, number) == [(RULES_AMOUNT, RULES_AMOUNT, "PENDING")]
    trail = audit_trail(intake, auth, number)
    assert ("ward-direct", "ChangeCaseState", "交付決定（審査済→交付決定）") in trail
    assert any(actor == "ward-direct" and rpc == "Decide" for actor, rpc, _ in trail)


def test_a_reduced_grant_approved_by_a_second_ward_officer_reaches_payments(
    intake: Client,
    review: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    auth: ServiceProcess,
) -> None:
    number = checked_application(intake, review, review_stub, admin_engine)
    pending = decide(
        review_stub, intake, number, "ward-reducer", 12_000, reduction_reason="一部対象外の機器"
    )
    assert pending.state == review_pb2.PENDING_APPROVAL
    with pytest.raises(grpc.RpcError) as alone:  # the decider never approves their own
        verdict(review_stub, intake, number, "ward-reducer", review_pb2.REDUCTION_VERDICT_APPROVE)
    assert alone.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as unspecified:  # no verdict: nothing by default
        verdict(review_stub, intake, number, "ward-approver", 0)
    assert unspecified.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(unspecified.value)] == ["verdict"]
    assert case(review_stub, intake, number).state == review_pb2.PENDING_APPROVAL

    approved = verdict(
        review_stub, intake, number, "ward-approver", review_pb2.REDUCTION_VERDICT_APPROVE
    )
    assert approved.state == review_pb2.GRANTED and approved.granted_amount == 12_000
    assert approved.decided_by == "ward-reducer"
    deliver(intake, review, admin_engine)
    assert payments_grant(admin_engine, number) == [(12_000, 12_000, "PENDING")]

    trail = audit_trail(intake, auth, number)
    changes = [(actor, why) for actor, rpc, why in trail if rpc == "ChangeCaseState"]
    assert changes[-2:] == [
        ("ward-reducer", "減額交付決定（審査済→減額承認待ち）"),
        ("ward-approver", "減額の承認（減額承認待ち→交付決定）"),
    ]
    assert ("checker-a", "ChangeCaseState", "審査結果の記録（受付→審査済）") in trail
    assert any(actor == "checker-a" and rpc == "ClaimApplication" for actor, rpc, _ in trail)


def test_a_reduced_grant_sent_back_goes_to_the_ward_and_is_decided_again(
    intake: Client,
    review: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    auth: ServiceProcess,
) -> None:
    number = checked_application(intake, review, review_stub, admin_engine)
    decide(review_stub, intake, number, "ward-reducer", 9_000, reduction_reason="領収書の一部")
    rejected = verdict(
        review_stub, intake, number, "ward-approver", review_pb2.REDUCTION_VERDICT_REJECT
    )
    assert rejected.state == review_pb2.HANDED_OVER and not rejected.granted_amount
    deliver(intake, review, admin_engine)
    assert payments_grant(admin_engine, number) == []  # a rejected reduction pays nothing

    granted = decide(review_stub, intake, number, "ward-reducer", RULES_AMOUNT)
    assert granted.state == review_pb2.GRANTED and granted.granted_amount == RULES_AMOUNT
    deliver(intake, review, admin_engine)
    assert payments_grant(admin_engine, number) == [(RULES_AMOUNT, RULES_AMOUNT, "PENDING")]

    changes = [
        (actor, why) for actor, rpc, why in audit_trail(intake, auth, number)
        if rpc == "ChangeCaseState"
    ]  # fmt: skip
    assert changes[-3:] == [
        ("ward-reducer", "減額交付決定（審査済→減額承認待ち）"),
        ("ward-approver", "減額の差戻し（減額承認待ち→区へ引渡し済）"),
        ("ward-reducer", "交付決定（区へ引渡し済→交付決定）"),
    ]


def test_a_checkers_claim_expires_and_another_checker_takes_the_application(
    intake: Client,
    review: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    auth: ServiceProcess,
) -> None:
    number = submit(intake, **person("担当"))
    deliver(intake, review, admin_engine)
    first = intake.staff("checker", "checker-first")
    second = intake.staff("checker", "checker-second")
    claimed = review_stub.ClaimApplication(
        review_pb2.ClaimRequest(application_number=number, minutes=1), metadata=first
    )
    assert claimed.claimed_by == "checker-first"
    with pytest.raises(grpc.RpcError) as held:
        review_stub.ClaimApplication(
            review_pb2.ClaimRequest(application_number=number), metadata=second
        )
    assert held.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # the minute passes (moved into the past rather than waited for)
    with admin_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE review.cases SET claim_expires_at = now() - interval '1 second' "
                "WHERE application_number = :n"
            ),
            {"n": number},
        )
    taken = review_stub.ClaimApplication(
        review_pb2.ClaimRequest(application_number=number), metadata=second
    )
    assert taken.claimed_by == "checker-second"
    with pytest.raises(grpc.RpcError) as lost:  # the first checker's claim is gone
        check(review_stub, intake, number, login="checker-first")
    assert lost.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert check(review_stub, intake, number, login="checker-second").state == review_pb2.CHECKED
    claims = [
        (actor, why) for actor, rpc, why in audit_trail(intake, auth, number)
        if rpc == "ClaimApplication"
    ]  # fmt: skip
    assert claims[:2] == [
        ("checker-first", "審査の担当取得（1分）"),
        ("checker-second", "審査の担当取得（30分）"),
    ]


def test_the_handover_ledger_refuses_update_delete_and_truncate_in_the_database(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    checked_application(intake, review, review_stub, admin_engine)
    export = review_stub.ExportForWard(
        review_pb2.ExportForWardRequest(request_id=_rid(), program_id=PROGRAM),
        metadata=intake.staff("ward_officer", "ward-ledger"),
    )
    snapshot = "SELECT row_to_json(h)::text FROM review.handovers h WHERE id = :id"
    with admin_engine.connect() as connection:
        before = connection.execute(text(snapshot), {"id": export.handover_id}).scalar_one()
    statements = [
        "UPDATE review.handovers SET handler = 'someone-else' WHERE id = :id",
        "DELETE FROM review.handovers WHERE id = :id",
        "TRUNCATE review.handovers CASCADE",
    ]
    # the service's own login (the table's owner) and the database administrator alike
    for engine in (review.context.engine, admin_engine):
        for statement in statements:
            with (
                pytest.raises(sa_exc.DBAPIError, match="append-only"),
                engine.begin() as connection,
            ):
                connection.execute(text(statement), {"id": export.handover_id})
    with admin_engine.connect() as connection:
        assert connection.execute(text(snapshot), {"id": export.handover_id}).scalar_one() == (
            before
        )


def test_a_duplicate_resolution_is_in_the_audit_trail_of_each_member_it_moved(
    intake: Client,
    review: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    auth: ServiceProcess,
) -> None:
    shared = person("世帯")
    kept = submit(intake, **shared)
    other = submit(intake, **{**person("同居"), "applicant.address": shared["applicant.address"]})
    deliver(intake, review, admin_engine)
    assert case(review_stub, intake, other).state == review_pb2.DUPLICATE_SUSPECTED
    review_stub.ResolveDuplicates(
        review_pb2.ResolveDuplicatesRequest(request_id=_rid(), application_number=other, keep=kept),
        metadata=intake.staff("checker", "checker-household"),
    )
    trail = audit_trail(intake, auth, other)
    assert (
        "checker-household",
        "ChangeCaseState",
        "重複申請として不交付案（重複確認待ち→審査済）",
    ) in trail
    assert (
        "checker-household",
        "ChangeCaseState",
        "重複確認（同一世帯として保留）（重複確認待ち→受付）",
    ) in audit_trail(intake, auth, kept)
