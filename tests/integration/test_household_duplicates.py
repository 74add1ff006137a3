"""One household, one live grant, whatever the states (issue 15): followed through real
events. Applications are submitted to intake; review learns them from intake's outbox.

Keeping one member of a duplicate group refuses the others in every state before the ward's
decision, and none of them can be granted afterwards; where a member is granted already,
keeping another is refused with the reason; strong evidence is cleared only by two
different people, audited with who did what."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from intake_support import Client
from review_support import case, check, decision_file, deliver, person, submit
from sqlalchemy import Engine, text
from subsidy.review.v1 import review_pb2

from subsidy_platform.process import ServiceProcess

WARD = ("ward_officer", "ward-household-a")


def _decide(stub: Any, intake: Client, number: str, amount: int = 16_000, **more: Any) -> Any:
    return stub.DecideApplication(
        review_pb2.DecideRequest(
            request_id=uuid.uuid4().hex,
            application_number=number,
            verdict=review_pb2.DECISION_VERDICT_GRANT,
            amount=amount,
            **more,
        ),
        metadata=intake.staff(*WARD),
    )


def _refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        call()
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value.details()
    return refused.value


def _keep(stub: Any, intake: Client, number: str, keep: str, login: str = "checker-a") -> Any:
    return stub.ResolveDuplicates(
        review_pb2.ResolveDuplicatesRequest(
            request_id=uuid.uuid4().hex, application_number=number, keep=keep
        ),
        metadata=intake.staff("checker", login),
    )


def _kept_instead(admin: Engine, number: str) -> str | None:
    """The member its group kept instead of `number` (review.cases.duplicate_of)."""
    with admin.connect() as connection:
        kept = connection.execute(
            text("SELECT duplicate_of FROM review.cases WHERE application_number = :n"),
            {"n": number},
        ).scalar_one()
    return None if kept is None else str(kept)


def _older_in(
    state: str, stub: Any, intake: Client, review: ServiceProcess, admin: Engine
) -> tuple[str, dict[str, object]]:
    """An application brought to `state` through the real steps, and its household facts."""
    facts = person(f"旧{state[:4]}")
    older = submit(intake, **facts)
    deliver(intake, review, admin)
    if state == "DUPLICATE_SUSPECTED":
        return older, facts
    check(stub, intake, older)
    if state in ("HANDED_OVER", "PENDING_APPROVAL"):
        stub.ExportForWard(
            review_pb2.ExportForWardRequest(
                request_id=uuid.uuid4().hex, program_id="shinjuku-2025"
            ),
            metadata=intake.staff(*WARD),
        )
        assert case(stub, intake, older).state == review_pb2.HANDED_OVER
    if state == "PENDING_APPROVAL":
        _decide(stub, intake, older, amount=10_000, reduction_reason="領収書の一部が対象外")
        assert case(stub, intake, older).state == review_pb2.PENDING_APPROVAL
    return older, facts


@pytest.mark.parametrize("state", ["DUPLICATE_SUSPECTED", "HANDED_OVER", "PENDING_APPROVAL"])
def test_keeping_the_newer_application_refuses_the_older_one_in_any_state_before_the_decision(
    state: str, intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    older, facts = _older_in(state, review_stub, intake, review, admin_engine)
    newer = submit(intake, **{**person("新"), "applicant.address": facts["applicant.address"]})
    deliver(intake, review, admin_engine)
    assert case(review_stub, intake, newer).state == review_pb2.DUPLICATE_SUSPECTED
    before = case(review_stub, intake, older).state
    assert before == getattr(review_pb2, state)  # a case with the ward keeps its state

    group = _keep(review_stub, intake, newer, keep=newer)
    assert group.resolved
    refused = case(review_stub, intake, older)
    assert not refused.proposal_granted and list(refused.proposal_reasons) == [12]
    expected = review_pb2.CHECKED if state == "DUPLICATE_SUSPECTED" else review_pb2.HANDED_OVER
    assert refused.state == expected
    assert _kept_instead(admin_engine, older) == newer
    if state == "DUPLICATE_SUSPECTED":  # never checked: no amount to grant
        with pytest.raises(grpc.RpcError):
            _decide(review_stub, intake, older)
    else:  # the ward can no longer grant the older one, whatever it had in its file
        error = _refused(lambda: _decide(review_stub, intake, older))
        assert newer in error.details() and "採用" in error.details()
    if state == "PENDING_APPROVAL":  # the reduction waiting for approval went back too
        _refused(
            lambda: review_stub.ApproveReducedGrant(
                review_pb2.ApproveReducedGrantRequest(
                    request_id=uuid.uuid4().hex,
                    application_number=older,
                    verdict=review_pb2.REDUCTION_VERDICT_APPROVE,
                ),
                metadata=intake.staff("ward_officer", "ward-household-b"),
            )
        )
    assert case(review_stub, intake, older).state == expected

    check(review_stub, intake, newer)
    granted = _decide(review_stub, intake, newer)
    assert granted.state == review_pb2.GRANTED
    with admin_engine.connect() as connection:
        live = connection.execute(
            text(
                "SELECT count(*) FROM review.cases WHERE application_number = ANY(:ns) "
                "AND state = 'GRANTED'"
            ),
            {"ns": [older, newer]},
        ).scalar_one()
    assert live == 1


def test_keeping_another_member_is_refused_while_one_is_granted_and_names_it(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    facts = person("交付済")
    older = submit(intake, **facts)
    deliver(intake, review, admin_engine)
    check(review_stub, intake, older)
    assert _decide(review_stub, intake, older).state == review_pb2.GRANTED
    newer = submit(intake, **{**person("後から"), "applicant.address": facts["applicant.address"]})
    deliver(intake, review, admin_engine)
    assert case(review_stub, intake, older).state == review_pb2.GRANTED
    assert case(review_stub, intake, newer).state == review_pb2.DUPLICATE_SUSPECTED

    error = _refused(lambda: _keep(review_stub, intake, newer, keep=newer))
    assert older in error.details() and "交付決定" in error.details()
    assert case(review_stub, intake, newer).state == review_pb2.DUPLICATE_SUSPECTED
    assert case(review_stub, intake, newer).open_duplicate_flags == 1  # nothing was changed

    group = _keep(review_stub, intake, newer, keep=older)
    assert group.resolved
    refused = case(review_stub, intake, newer)
    assert refused.state == review_pb2.CHECKED and not refused.proposal_granted
    assert _kept_instead(admin_engine, newer) == older
    with pytest.raises(grpc.RpcError):  # never checked, and its household has its grant
        _decide(review_stub, intake, newer)
    assert case(review_stub, intake, older).state == review_pb2.GRANTED


def _audit(admin: Engine, rpc: str, numbers: list[str]) -> list[tuple[str, str]]:
    with admin.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT actor, coalesce(purpose, '') FROM audit.events WHERE rpc = :r "
                "AND application_id = ANY(:ns) ORDER BY seq"
            ),
            {"r": rpc, "ns": numbers},
        ).all()
    return [(str(a), str(p)) for a, p in rows]


def test_clearing_a_shared_dwelling_needs_a_second_person_and_is_audited_with_both(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    facts = person("同居")
    first = submit(intake, **facts)
    second = submit(intake, **{**person("別人"), "applicant.address": facts["applicant.address"]})
    deliver(intake, review, admin_engine)
    assert case(review_stub, intake, second).state == review_pb2.DUPLICATE_SUSPECTED
    asker = intake.staff("checker", "checker-clear-a")
    asked = review_stub.ResolveDuplicates(
        review_pb2.ResolveDuplicatesRequest(
            request_id=uuid.uuid4().hex,
            application_number=second,
            clear_reason="同じ建物の別の部屋（住民票で確認）",
        ),
        metadata=asker,
    )
    assert not asked.resolved and asked.pending_clearing_id
    assert case(review_stub, intake, first).state == review_pb2.DUPLICATE_SUSPECTED
    seen = review_stub.GetDuplicateGroup(
        review_pb2.GetDuplicateGroupRequest(application_number=first, purpose="2人目の確認"),
        metadata=intake.staff("ward_officer", "ward-clear-b"),
    )
    assert seen.pending_clearing_id == asked.pending_clearing_id and not seen.resolved
    pending = review_stub.ListPendingClearings(
        review_pb2.ListPendingClearingsRequest(program_id="shinjuku-2025"),
        metadata=intake.staff("ward_officer", "ward-clear-b"),
    )
    [mine] = [c for c in pending.clearings if c.clearing_id == asked.pending_clearing_id]
    assert sorted(mine.application_numbers) == sorted([first, second])
    assert mine.requested_by.endswith("checker-clear-a") or mine.requested_by == "checker-clear-a"
    assert mine.reason == "同じ建物の別の部屋（住民票で確認）"

    def confirm(who: Any, verdict: int) -> Any:
        return review_stub.ConfirmClearing(
            review_pb2.ConfirmClearingRequest(
                request_id=uuid.uuid4().hex, clearing_id=asked.pending_clearing_id, verdict=verdict
            ),
            metadata=who,
        )

    error = _refused(lambda: confirm(asker, review_pb2.CLEARING_VERDICT_CONFIRM))
    assert "別の職員" in error.details()
    with pytest.raises(grpc.RpcError) as unsaid:
        confirm(intake.staff("checker", "checker-clear-c"), review_pb2.CLEARING_VERDICT_UNSPECIFIED)
    assert unsaid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert case(review_stub, intake, second).state == review_pb2.DUPLICATE_SUSPECTED

    cleared = confirm(
        intake.staff("ward_officer", "ward-clear-b"), review_pb2.CLEARING_VERDICT_CONFIRM
    )
    assert cleared.resolved and not cleared.pending_clearing_id
    assert case(review_stub, intake, first).state == review_pb2.RECEIVED
    assert case(review_stub, intake, second).state == review_pb2.RECEIVED
    _refused(
        lambda: confirm(
            intake.staff("checker", "checker-clear-c"), review_pb2.CLEARING_VERDICT_CONFIRM
        )
    )

    asked_audit = _audit(admin_engine, "ResolveDuplicates", [first, second])
    confirmed_audit = _audit(admin_engine, "ConfirmClearing", [first, second])
    assert len(asked_audit) == 2 and all("checker-clear-a" in a for a, _ in asked_audit)
    assert all("2人目の確認待ち" in p for _, p in asked_audit)
    assert len(confirmed_audit) == 2 and all("ward-clear-b" in a for a, _ in confirmed_audit)
    assert all("checker-clear-a" in p and "ward-clear-b" in p for _, p in confirmed_audit)
    with admin_engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT requested_by, decided_by, state, reason_ct FROM review.clearings "
                "WHERE clearing_id = :i"
            ),
            {"i": asked.pending_clearing_id},
        ).one()
    assert stored.state == "CONFIRMED" and stored.requested_by != stored.decided_by
    assert "住民票" not in stored.reason_ct  # the reason is stored encrypted

    # both are now separate households: both may be granted
    for number in (first, second):
        check(review_stub, intake, number)
        assert _decide(review_stub, intake, number).state == review_pb2.GRANTED


def test_a_namesake_with_weak_evidence_is_cleared_by_one_checker(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    facts = person("同姓同名")
    first = submit(intake, **facts)
    second = submit(
        intake,
        **{
            **person("同姓同名"),
            "applicant.name_kana": facts["applicant.name_kana"],
            "applicant.birth_date": facts["applicant.birth_date"],
        },
    )
    deliver(intake, review, admin_engine)
    assert case(review_stub, intake, second).state == review_pb2.DUPLICATE_SUSPECTED
    cleared = review_stub.ResolveDuplicates(
        review_pb2.ResolveDuplicatesRequest(
            request_id=uuid.uuid4().hex,
            application_number=second,
            clear_reason="住所が別の同姓同名",
        ),
        metadata=intake.staff("checker", "checker-weak"),
    )
    assert cleared.resolved and cleared.strength == "weak" and not cleared.pending_clearing_id
    assert case(review_stub, intake, second).state == review_pb2.RECEIVED
    assert case(review_stub, intake, first).state == review_pb2.RECEIVED


def test_the_older_application_with_the_ward_is_kept_and_granted_and_the_newer_refused(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    """A flag that arrives while the older one is with the ward keeps it there; keeping it
    refuses the newer one, and the ward grants the older."""
    facts = person("引渡済")
    older = submit(intake, **facts)
    deliver(intake, review, admin_engine)
    check(review_stub, intake, older)
    review_stub.ExportForWard(
        review_pb2.ExportForWardRequest(request_id=uuid.uuid4().hex, program_id="shinjuku-2025"),
        metadata=intake.staff(*WARD),
    )
    newer = submit(intake, **{**person("後"), "applicant.address": facts["applicant.address"]})
    deliver(intake, review, admin_engine)
    _keep(review_stub, intake, newer, keep=older)
    assert _decide(review_stub, intake, older).state == review_pb2.GRANTED
    assert case(review_stub, intake, newer).state == review_pb2.CHECKED
    assert _kept_instead(admin_engine, newer) == older


def test_two_members_with_the_ward_granted_at_once_give_the_household_one_grant(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    """Both with the ward when a late application links them: two ward officers granting
    them at the same moment give one grant and one refusal naming the other."""
    facts_a, facts_b = person("同時A"), person("同時B")
    first, second = submit(intake, **facts_a), submit(intake, **facts_b)
    deliver(intake, review, admin_engine)
    for number in (first, second):
        check(review_stub, intake, number)
    review_stub.ExportForWard(
        review_pb2.ExportForWardRequest(request_id=uuid.uuid4().hex, program_id="shinjuku-2025"),
        metadata=intake.staff(*WARD),
    )
    late = submit(
        intake,
        **{
            **person("同時C"),
            "applicant.address": facts_a["applicant.address"],
            "bank_account.number": facts_b["bank_account.number"],
        },
    )
    deliver(intake, review, admin_engine)
    assert case(review_stub, intake, late).state == review_pb2.DUPLICATE_SUSPECTED
    assert case(review_stub, intake, first).state == review_pb2.HANDED_OVER
    assert case(review_stub, intake, second).state == review_pb2.HANDED_OVER

    start = threading.Barrier(2)

    def grant(number: str, login: str) -> grpc.StatusCode:
        start.wait()
        try:
            review_stub.DecideApplication(
                review_pb2.DecideRequest(
                    request_id=uuid.uuid4().hex,
                    application_number=number,
                    verdict=review_pb2.DECISION_VERDICT_GRANT,
                    amount=16_000,
                ),
                metadata=intake.staff("ward_officer", login),
                timeout=60,
            )
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(
            pool.map(grant, [first, second], ["ward-concurrent-a", "ward-concurrent-b"])
        )
    assert sorted(o.name for o in outcomes) == ["FAILED_PRECONDITION", "OK"]
    states = {n: case(review_stub, intake, n).state for n in (first, second)}
    assert sorted(states.values()) == sorted([review_pb2.GRANTED, review_pb2.HANDED_OVER])


def test_a_decision_file_granting_a_member_refused_after_the_handover_is_refused_whole(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    facts = person("決定ファイル")
    older = submit(intake, **facts)
    deliver(intake, review, admin_engine)
    check(review_stub, intake, older)
    ward = intake.staff(*WARD)
    export = review_stub.ExportForWard(
        review_pb2.ExportForWardRequest(request_id=uuid.uuid4().hex, program_id="shinjuku-2025"),
        metadata=ward,
    )
    newer = submit(intake, **{**person("決定後"), "applicant.address": facts["applicant.address"]})
    deliver(intake, review, admin_engine)
    _keep(review_stub, intake, newer, keep=newer)  # while the ward holds the older one's row

    def imported(verdict: tuple[str, str, str]) -> Any:
        return review_stub.ImportWardDecisions(
            review_pb2.ImportWardDecisionsRequest(
                request_id=uuid.uuid4().hex,
                program_id="shinjuku-2025",
                file_name="decisions.zip",
                sealed_file=decision_file(export, {older: verdict}),
                password=export.password,
            ),
            metadata=ward,
        )

    error = _refused(lambda: imported(("交付", "16000", "")))
    assert newer in error.details()
    assert case(review_stub, intake, older).state == review_pb2.HANDED_OVER
    report = imported(("不交付", "", "DUPLICATE_HOUSEHOLD"))
    assert report.committed and report.not_granted >= 1
    assert case(review_stub, intake, older).state == review_pb2.NOT_GRANTED
