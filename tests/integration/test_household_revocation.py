"""A household's second grant found after the fact is revoked by the ward (交付決定の取消),
followed through real events: applications submitted to intake, checked and decided in
review, review's outbox delivering the decisions and the revocations to payments and
notices (issue 15).

Two grants, then a late application that links them: a revocation case for the ward. The
revoked grant's payment is stopped when its instruction sits in a built batch not yet
released (the batch is cancelled whole and rebuilt without it), or a repayment claim
(返還請求) is opened when the transfer was released, open until the payments officer
records the repayment; notices holds a 交付決定取消通知書 for each revoked grant."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client
from payments_support import build_and_release, check_never_twice, next_business_day, staff_stub
from review_support import case, check, deliver, person, submit
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy.payments.v1 import payments_pb2
from subsidy.review.v1 import review_pb2

from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import staff_channel

WARD = ("ward_officer", "ward-revoke-a")
OFFICER = ("payments_officer", "officer-revoke")
AMOUNT = 16_000


def _grant(
    stub: Any, intake: Client, review: ServiceProcess, admin: Engine, tag: str
) -> tuple[str, dict[str, object]]:
    facts = person(tag)
    number = submit(intake, **facts)
    deliver(intake, review, admin)
    check(stub, intake, number)
    decided = stub.DecideApplication(
        review_pb2.DecideRequest(
            request_id=uuid.uuid4().hex,
            application_number=number,
            verdict=review_pb2.DECISION_VERDICT_GRANT,
            amount=AMOUNT,
        ),
        metadata=intake.staff(*WARD),
    )
    assert decided.state == review_pb2.GRANTED
    return number, facts


def _instruction(admin: Engine, number: str) -> list[tuple[str, int | None]]:
    with admin.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT state, batch_id FROM payments.instructions WHERE application_number = :n "
                "ORDER BY id"
            ),
            {"n": number},
        ).all()
    return [(str(s), None if b is None else int(b)) for s, b in rows]


def _arrived(admin: Engine, numbers: list[str]) -> None:
    """Wait until payments holds an instruction for each of `numbers` (review's outbox)."""
    deadline = time.monotonic() + 90
    while not all(_instruction(admin, n) for n in numbers):
        assert time.monotonic() < deadline, "review's decisions did not reach payments"
        time.sleep(0.2)


def _late(
    intake: Client,
    review: ServiceProcess,
    admin: Engine,
    dwelling: dict[str, object],
    account: dict[str, object],
) -> str:
    """A late application sharing one grant's dwelling and another's bank account."""
    number = submit(
        intake,
        **{
            **person("遅"),
            "applicant.address": dwelling["applicant.address"],
            "bank_account.number": account["bank_account.number"],
        },
    )
    deliver(intake, review, admin)
    return number


def _revoke(
    stub: Any, intake: Client, number: str, reason: str = "同一世帯の2件目の交付決定"
) -> Any:
    return stub.RevokeGrant(
        review_pb2.RevokeGrantRequest(
            request_id=uuid.uuid4().hex, application_number=number, reason=reason
        ),
        metadata=intake.staff(*WARD),
    )


def _cases(stub: Any, intake: Client) -> dict[str, Any]:
    found = stub.ListRevocationCases(
        review_pb2.ListRevocationCasesRequest(program_id=PROGRAM, include_closed=True),
        metadata=intake.staff("ward_officer", "ward-revoke-b"),
    )
    return {c.case_id: c for c in found.cases}


def _notices(notices: ServiceProcess, intake: Client, number: str) -> list[Any]:
    with staff_channel(intake.environment.pki, notices.address) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        found = stub.GetNotices(
            notices_pb2.GetNoticesRequest(application_number=number),
            metadata=intake.staff("ward_officer"),
        )
    return list(found.notices)


def _program_difference(intake: Client, payments: ServiceProcess) -> int:
    with staff_stub(intake, payments) as pay:
        reconciled = pay.Reconcile(
            payments_pb2.ReconcileRequest(program_id=PROGRAM), metadata=intake.staff("auditor")
        )
    [program] = [line for line in reconciled.lines if line.scope == "program"]
    return int(program.difference)


def _timeline(intake: Client, number: str) -> list[int]:
    with intake.stub() as stub:
        timeline = stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=number),
            metadata=intake.staff("call_center"),
        )
    return [e.status for e in timeline.events]


def test_two_grants_then_a_merge_are_revoked_stopping_or_claiming_the_payment(
    intake: Client,
    review: ServiceProcess,
    payments: ServiceProcess,
    notices: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
) -> None:
    difference_before = _program_difference(intake, payments)
    # three grants paid out in a released file; a fourth waits in a built batch
    released_b, facts_b = _grant(review_stub, intake, review, admin_engine, "取消B")
    released_d, facts_d = _grant(review_stub, intake, review, admin_engine, "取消D")
    released_e, facts_e = _grant(review_stub, intake, review, admin_engine, "取消E")
    deliver(intake, review, admin_engine)
    _arrived(admin_engine, [released_b, released_d, released_e])
    build_and_release(intake, payments, builder="officer-revoke", approver="approver-revoke")
    for number in (released_b, released_d, released_e):
        assert _instruction(admin_engine, number)[-1][0] == "SENT"
    batched_a, facts_a = _grant(review_stub, intake, review, admin_engine, "取消A")
    deliver(intake, review, admin_engine)
    _arrived(admin_engine, [batched_a])
    with staff_stub(intake, payments) as pay:
        built = pay.BuildBatch(
            payments_pb2.BuildBatchRequest(
                request_id=uuid.uuid4().hex, program_id=PROGRAM, transfer_date=next_business_day()
            ),
            metadata=intake.staff(*OFFICER),
        )
    assert _instruction(admin_engine, batched_a) == [("BATCHED", built.batch_id)]
    with admin_engine.connect() as connection:
        batch_mates = [
            int(i)
            for (i,) in connection.execute(
                text(
                    "SELECT id FROM payments.instructions WHERE batch_id = :b "
                    "AND application_number <> :a"
                ),
                {"b": built.batch_id, "a": batched_a},
            )
        ]

    # late applications link A with B, and D with E: two households with two grants each
    late_ab = _late(intake, review, admin_engine, facts_a, facts_b)
    late_de = _late(intake, review, admin_engine, facts_d, facts_e)
    cases = _cases(review_stub, intake)
    household_ab = next(c for c in cases.values() if late_ab in c.members)
    household_de = next(c for c in cases.values() if late_de in c.members)
    assert household_ab.open and sorted(household_ab.granted) == sorted([batched_a, released_b])
    assert household_de.open and sorted(household_de.granted) == sorted([released_d, released_e])
    assert {common_pb2.SAME_HOUSEHOLD, common_pb2.SAME_BANK_ACCOUNT} <= set(household_ab.evidence)
    # two grants are the ward's case, not a checker's choice
    with pytest.raises(grpc.RpcError) as chosen:
        review_stub.ResolveDuplicates(
            review_pb2.ResolveDuplicatesRequest(
                request_id=uuid.uuid4().hex, application_number=late_ab, keep=released_b
            ),
            metadata=intake.staff("checker", "checker-revoke"),
        )
    assert chosen.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "取消" in chosen.value.details()
    with pytest.raises(grpc.RpcError) as not_a_case:
        _revoke(review_stub, intake, late_ab)
    assert not_a_case.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as no_reason:
        _revoke(review_stub, intake, batched_a, reason="")
    assert no_reason.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # the unreleased one: its batch is cancelled whole, its instruction never paid
    revoked_a = _revoke(review_stub, intake, batched_a)
    assert re.fullmatch(r".+-R-\d{6}", revoked_a.revocation_number)
    assert not revoked_a.case_open and revoked_a.amount == AMOUNT
    assert case(review_stub, intake, batched_a).state == review_pb2.REVOKED
    with pytest.raises(grpc.RpcError) as twice:
        _revoke(review_stub, intake, batched_a)
    assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    deliver(intake, review, admin_engine)
    assert _instruction(admin_engine, batched_a) == [("CANCELLED", None)]
    with staff_stub(intake, payments) as pay:
        cancelled = pay.GetBatch(
            payments_pb2.GetBatchRequest(batch_id=built.batch_id),
            metadata=intake.staff("approver", "approver-revoke"),
        )
        assert cancelled.state == "CANCELLED"
        with pytest.raises(grpc.RpcError) as stale:
            pay.ReleaseBatch(
                payments_pb2.ReleaseBatchRequest(
                    request_id=uuid.uuid4().hex,
                    batch_id=built.batch_id,
                    file_sha256=cancelled.file_sha256,
                ),
                metadata=intake.staff("approver", "approver-revoke"),
            )
        assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with admin_engine.connect() as connection:
        pending_elsewhere = connection.execute(
            text(
                "SELECT count(*) FROM payments.instructions WHERE id = ANY(:i) AND state = 'PENDING'"
            ),
            {"i": batch_mates},
        ).scalar_one()
    if pending_elsewhere:  # the batch's other instructions go into a new file, without A
        rebuilt, parsed, _ = build_and_release(
            intake, payments, builder="officer-revoke", approver="approver-revoke"
        )
        assert parsed.count == rebuilt.count
    assert _instruction(admin_engine, batched_a) == [("CANCELLED", None)]

    # the released one: a repayment claim, open until the repayment is recorded
    revoked_e = _revoke(review_stub, intake, released_e)
    assert not revoked_e.case_open
    deliver(intake, review, admin_engine)
    assert _instruction(admin_engine, released_e)[-1][0] == "SENT"
    with staff_stub(intake, payments) as pay:
        listed = pay.ListRepaymentClaims(
            payments_pb2.ListRepaymentClaimsRequest(program_id=PROGRAM, open_only=True),
            metadata=intake.staff("auditor"),
        )
        [claim] = [c for c in listed.claims if c.application_number == released_e]
        assert (claim.state, claim.amount) == ("OPEN", AMOUNT)
        assert claim.revocation_number == revoked_e.revocation_number
        assert batched_a not in {c.application_number for c in listed.claims}
        # the cross-service reconciliation shows the open claim, and the stopped one not
        assert _reconciled(pay, intake, released_e) == [("REPAYMENT_OPEN", AMOUNT)]
        assert _reconciled(pay, intake, batched_a) == []
        with pytest.raises(grpc.RpcError) as partial:
            pay.RecordRepayment(
                payments_pb2.RecordRepaymentRequest(
                    request_id=uuid.uuid4().hex,
                    application_number=released_e,
                    repaid_on=claim.opened_on,
                    amount=AMOUNT - 1000,
                ),
                metadata=intake.staff(*OFFICER),
            )
        assert partial.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        request_id = uuid.uuid4().hex
        repaid = payments_pb2.RecordRepaymentRequest(
            request_id=request_id,
            application_number=released_e,
            repaid_on=claim.opened_on,
            amount=AMOUNT,
        )
        settled = pay.RecordRepayment(repaid, metadata=intake.staff(*OFFICER))
        assert settled.state == "SETTLED" and settled.repaid_on == claim.opened_on
        assert pay.RecordRepayment(repaid, metadata=intake.staff(*OFFICER)).state == "SETTLED"
        still_open = pay.ListRepaymentClaims(
            payments_pb2.ListRepaymentClaimsRequest(program_id=PROGRAM, open_only=True),
            metadata=intake.staff("auditor"),
        )
        assert released_e not in {c.application_number for c in still_open.claims}
        assert _reconciled(pay, intake, released_e) == []  # settled: no longer a difference
    with admin_engine.connect() as connection:
        outcomes = dict(
            connection.execute(
                text(
                    "SELECT application_number, outcome FROM payments.revocations "
                    "WHERE application_number = ANY(:ns)"
                ),
                {"ns": [batched_a, released_e]},
            ).all()
        )
    assert outcomes == {batched_a: "STOPPED", released_e: "CLAIMED"}
    check_never_twice(admin_engine)
    # the revocations made no difference in payments' reconciliation
    assert _program_difference(intake, payments) == difference_before

    # each household has one live grant left; the cases are closed
    cases = _cases(review_stub, intake)
    assert not cases[household_ab.case_id].open and list(cases[household_ab.case_id].granted) == [
        released_b
    ]
    assert not cases[household_de.case_id].open
    with pytest.raises(grpc.RpcError) as last_one:
        _revoke(review_stub, intake, released_b)
    assert last_one.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    kept = review_stub.ResolveDuplicates(
        review_pb2.ResolveDuplicatesRequest(
            request_id=uuid.uuid4().hex, application_number=late_ab, keep=released_b
        ),
        metadata=intake.staff("checker", "checker-revoke"),
    )
    assert kept.resolved

    # notices holds a revocation notice for each; the timeline says 交付決定取消
    for number in (batched_a, released_e):
        kinds = {n.kind: n for n in _notices(notices, intake, number)}
        assert notices_pb2.REVOCATION in kinds and notices_pb2.GRANT in kinds
        assert kinds[notices_pb2.REVOCATION].document_number
        assert common_pb2.GRANT_REVOKED in _timeline(intake, number)
    # the revocation notices print in the next batch, laid out without a problem
    with staff_channel(intake.environment.pki, notices.address) as channel:
        printing = notices_pb2_grpc.NoticesServiceStub(channel).CreatePrintBatch(
            notices_pb2.CreatePrintBatchRequest(request_id=uuid.uuid4().hex, program_id=PROGRAM),
            metadata=intake.staff("operator"),
            timeout=300,
        )
    assert {batched_a, released_e} <= set(printing.application_numbers)
    assert not {p.application_number for p in printing.problems} & {batched_a, released_e}
    with admin_engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT reason_ct, revoked_by FROM review.revocations WHERE application_number = :n"
            ),
            {"n": batched_a},
        ).one()
    assert "同一世帯" not in stored.reason_ct and stored.revoked_by.endswith("ward-revoke-a")


def _returns(rows: list[tuple[int, str, int, str]]) -> bytes:
    lines = ["指図番号,口座番号,金額,返却理由", *(f"{i},{a},{m},{r}" for i, a, m, r in rows)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def _change_account(intake: Client, number: str) -> Any:
    """The corrected account keyed by two different operators (the second applies it)."""
    account = common_pb2.BankAccount(
        bank_code="0005", branch_code="001", type="ordinary", number="4445556",
        holder_kana="シンサ タロウ",
    )  # fmt: skip
    changed = None
    with intake.stub() as stub:
        for login in ("op-revoke-first", "op-revoke-verify"):
            changed = stub.RecordBankAccountChange(
                intake_pb2.RecordBankAccountChangeRequest(
                    request_id=uuid.uuid4().hex, application_number=number, account=account
                ),
                metadata=intake.staff("operator", login),
            )
    return changed


def test_a_revoked_grant_in_the_pool_is_never_paid_and_a_returned_transfer_closes_its_claim(
    intake: Client,
    review: ServiceProcess,
    payments: ServiceProcess,
    notices: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
) -> None:
    kept_q, facts_q = _grant(review_stub, intake, review, admin_engine, "返却Q")
    kept_s, facts_s = _grant(review_stub, intake, review, admin_engine, "返却S")
    returned_t, facts_t = _grant(review_stub, intake, review, admin_engine, "返却T")
    deliver(intake, review, admin_engine)
    _arrived(admin_engine, [kept_q, kept_s, returned_t])
    _, parsed, _ = build_and_release(
        intake, payments, builder="officer-revoke", approver="approver-revoke"
    )
    pooled_p, facts_p = _grant(review_stub, intake, review, admin_engine, "返却P")
    deliver(intake, review, admin_engine)
    _arrived(admin_engine, [pooled_p])
    assert _instruction(admin_engine, pooled_p) == [("PENDING", None)]
    _late(intake, review, admin_engine, facts_p, facts_q)
    _late(intake, review, admin_engine, facts_s, facts_t)

    _revoke(review_stub, intake, pooled_p)
    _revoke(review_stub, intake, returned_t)
    deliver(intake, review, admin_engine)
    assert _instruction(admin_engine, pooled_p) == [("CANCELLED", None)]
    [(state, _)] = _instruction(admin_engine, returned_t)
    assert state == "SENT"
    with admin_engine.connect() as connection:
        claim_state = connection.execute(
            text("SELECT state FROM payments.repayment_claims WHERE application_number = :n"),
            {"n": returned_t},
        ).scalar_one()
        instruction_id = connection.execute(
            text("SELECT id FROM payments.instructions WHERE application_number = :n"),
            {"n": returned_t},
        ).scalar_one()
    assert claim_state == "OPEN"

    # the bank returns the revoked grant's transfer: the money never left, the claim closes
    transfer = next(t for t in parsed.transfers if t.customer_code == f"{instruction_id:010d}")
    with staff_stub(intake, payments) as pay:
        imported = pay.ImportReturns(
            payments_pb2.ImportReturnsRequest(
                request_id=uuid.uuid4().hex,
                program_id=PROGRAM,
                content=_returns([(instruction_id, transfer.account_number, AMOUNT, "口座なし")]),
            ),
            metadata=intake.staff(*OFFICER),
        )
        assert imported.accepted, imported
        claims = pay.ListRepaymentClaims(
            payments_pb2.ListRepaymentClaimsRequest(program_id=PROGRAM),
            metadata=intake.staff("auditor"),
        )
    [claim] = [c for c in claims.claims if c.application_number == returned_t]
    assert claim.state == "RETURNED"

    # a corrected account for either revoked grant makes no new instruction
    for number in (pooled_p, returned_t):
        assert _change_account(intake, number).applied
    deliver(intake, review, admin_engine)
    with admin_engine.connect() as connection:
        changes = connection.execute(
            text(
                "SELECT key, delivered_at IS NOT NULL, last_error FROM intake.outbox "
                "WHERE topic = 'intake.bank_account' AND (key LIKE :p OR key LIKE :t)"
            ),
            {"p": f"bank-account-{pooled_p}-%", "t": f"bank-account-{returned_t}-%"},
        ).all()
    assert len(changes) == 2 and all(done and error is None for _, done, error in changes), changes
    assert _instruction(admin_engine, pooled_p) == [("CANCELLED", None)]
    assert [s for s, _ in _instruction(admin_engine, returned_t)] == ["FAILED"]
    check_never_twice(admin_engine)


def _reconciled(pay: Any, intake: Client, number: str) -> list[tuple[str, int]]:
    """The differences the auditor's reconciliation across services lists for `number`."""
    result = pay.ReconcileAcross(
        payments_pb2.ReconcileAcrossRequest(program_id=PROGRAM),
        metadata=intake.staff("auditor"),
        timeout=300,
    )
    return [
        (payments_pb2.DifferenceKind.Name(d.kind), int(d.found))
        for d in result.differences
        if d.application_number == number
    ]
