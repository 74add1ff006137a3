"""The ward's decisions (交付・不交付決定): one per application, ever.

A ward officer grants with an amount or refuses with at least one reason. The amount
must pass the rules library's grant rule (`subsidy_rules.grant_rule.check_grant`: at
least 1 yen, at most the rules' amount and the program's cap in force on the decision
date, a multiple of its rounding unit), the same function payments applies; an amount
below the rules' amount also needs a reason and a second ward officer, who answers with
an explicit verdict (`Verdict`: approve or reject; nothing is decided by default). The
decision date is the ward's today (Asia/Tokyo) or, from a decision file, a date that is
neither in the future nor before the application's receipt or review
(`decision_file.decision_date_problem`). The decision keeps its date, its decider (and
approver) and a decision number; the database holds at most one decision per
application. Each step (reduced decision, rejection, approval, decision) is an audit
event of the application (`service.move`). Each decision reaches intake's timeline and,
through the outbox, every service subscribed to `review.decision` (payments, notices).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum

from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2

from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier
from subsidy_platform.unit_of_work import Work
from subsidy_review.decision_file import decision_date_problem
from subsidy_review.repository import Case, ReviewRepository
from subsidy_review.service import DECISION_TOPIC, Review, move, today
from subsidy_review.states import CaseState, Command, next_state
from subsidy_rules.grant_rule import MAX_GRANT, check_grant
from subsidy_rules.program import Program
from subsidy_rules.reasons import INFORMATIONAL, Reason

MAX_AMOUNT = MAX_GRANT
MESSAGE_AMOUNT = "交付決定額は1円以上、制度の上限額以下で指定してください"
MESSAGE_VERDICT = "減額を承認するか差し戻すかを指定してください"
REFUSALS = frozenset(r.value for r in Reason if r not in INFORMATIONAL)


class Verdict(StrEnum):
    """The second ward officer's answer to a reduced grant: there is no default."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"


def decision_prefix(program: Program) -> str:
    """Decision numbers read `<program prefix>-D-000001`."""
    return f"{program.application_number_prefix or program.id}-D"


def check_refusal(reasons: Sequence[str], field: str = "reasons") -> tuple[str, ...]:
    if not reasons:
        raise InvalidArgument([FieldViolation(field, "不交付の理由を1つ以上指定してください")])
    if any(r not in REFUSALS for r in reasons):
        raise InvalidArgument([FieldViolation(field, "不交付の理由コードが正しくありません")])
    return tuple(dict.fromkeys(reasons))


def check_date(case: Case, decided_on: date) -> None:
    """A decision date is never after the ward's today nor before receipt or review."""
    problem = decision_date_problem(decided_on, today(), case.received_on, case.checked_on)
    if problem is not None:
        raise InvalidArgument([FieldViolation("decided_on", problem)])


def check_amount(program: Program, case: Case, amount: int, decided_on: date) -> None:
    """The rules library's grant rule for `amount` yen decided on `decided_on`."""
    allowed = check_grant(program, amount, decided_on, case.rules_amount)
    if not allowed.allowed:
        raise InvalidArgument([FieldViolation("amount", allowed.message)])


def apply_decision(
    work: Work[ReviewRepository],
    case: Case,
    who: Principal,
    program: Program,
    *,
    granted: bool,
    amount: int,
    reasons: Sequence[str],
    reduction_reason: str,
    note: str,
    decided_on: date | None,
) -> CaseState:
    """Decide one case inside the caller's transaction (direct decision or file import)."""
    state = CaseState(case.state)
    if state in (CaseState.GRANTED, CaseState.NOT_GRANTED) or work.repo.decision(
        case.application_number
    ):
        raise Conflict("この申請は既に決定されています")
    next_state(state, Command.DECIDE_GRANT if granted else Command.DECIDE_NOT_GRANT)
    on = decided_on or today()
    check_date(case, on)
    prefix = decision_prefix(program)
    if not granted:
        move(work, case, Command.DECIDE_NOT_GRANT, note="不交付決定", who=who)
        _record(work, case, who, False, 0, reasons, None, note, on, None, prefix)
        return CaseState.NOT_GRANTED
    check_amount(program, case, amount, on)
    if amount < case.rules_amount:
        if not reduction_reason:
            raise InvalidArgument(
                [FieldViolation("reduction_reason", "減額の理由を入力してください")]
            )
        move(
            work,
            case,
            Command.DECIDE_REDUCED_GRANT,
            note="減額承認待ち",
            who=who,
            pending_amount=amount,
            pending_by=who.subject,
            pending_reduction_ct=work.repo.seal_text(reduction_reason),
        )
        return CaseState.PENDING_APPROVAL
    move(work, case, Command.DECIDE_GRANT, note="交付決定", who=who)
    _record(work, case, who, True, amount, (), None, note, on, None, prefix)
    return CaseState.GRANTED


def _record(
    work: Work[ReviewRepository],
    case: Case,
    who: Principal,
    granted: bool,
    amount: int,
    reasons: Sequence[str],
    reduction_reason: str | None,
    note: str,
    on: date,
    approved_by: str | None,
    prefix: str,
    decided_by: str | None = None,
) -> None:
    number = work.repo.next_decision_number(prefix)
    work.repo.add_decision(
        case,
        granted=granted,
        amount=amount,
        reasons=reasons,
        decided_on=on,
        decided_by=decided_by or who.subject,
        approved_by=approved_by,
        reduction_reason=reduction_reason,
        note=note,
        decision_number=number,
    )
    key = f"decision-{case.application_number}"
    work.publish(
        DECISION_TOPIC,
        key,
        events_pb2.DecisionEvent(
            event_id=key,
            application_number=case.application_number,
            program_id=case.program_id,
            granted=granted,
            amount=amount,
            reasons=[common_pb2.ReasonCode.Value(r) for r in reasons],
            decided_on=on.isoformat(),
            decision_number=number,
        ),
    )
    work.audit(
        who,
        "Decide",
        "update",
        application=case.application_number,
        fields=("decision",),
        purpose="交付・不交付決定",
    )


def decide(
    review: Review,
    who: Principal,
    request_id: str,
    number: str,
    *,
    granted: bool,
    amount: int,
    reasons: Sequence[str],
    reduction_reason: str,
    note: str,
) -> Case:
    identifier("request_id", request_id)
    identifier("application_number", number)
    reduction = bounded_text("reduction_reason", reduction_reason)
    remark = bounded_text("note", note)
    checked = check_refusal(reasons) if not granted else ()
    if granted and reasons:
        raise InvalidArgument([FieldViolation("reasons", "交付の場合は理由を指定しません")])
    if granted and not 1 <= amount <= MAX_AMOUNT:  # bounded before any work
        raise InvalidArgument([FieldViolation("amount", MESSAGE_AMOUNT)])
    if not granted and amount != 0:
        raise InvalidArgument([FieldViolation("amount", "不交付の場合は金額を指定しません")])
    with review.uow() as work:
        if work.repo.command_seen(request_id, "DecideApplication", number, who.subject):
            return work.repo.case(number)
        work.lock(f"case:{number}")
        case = work.repo.case(number, for_update=True)
        program = review.program(case.program_id)
        repo = review.repo(work, case.program_id)
        work.repo = repo
        apply_decision(
            work,
            case,
            who,
            program,
            granted=granted,
            amount=amount,
            reasons=checked,
            reduction_reason=reduction,
            note=remark,
            decided_on=None,
        )
        return repo.case(number)


def approve_reduction(
    review: Review, who: Principal, request_id: str, number: str, verdict: Verdict | None
) -> Case:
    """A second ward officer approves (or sends back) a grant below the rules' amount;
    `verdict` None (the request named neither) is refused before any work."""
    identifier("request_id", request_id)
    identifier("application_number", number)
    if verdict is None:
        raise InvalidArgument([FieldViolation("verdict", MESSAGE_VERDICT)])
    with review.uow() as work:
        if work.repo.command_seen(request_id, "ApproveReducedGrant", number, who.subject):
            return work.repo.case(number)
        work.lock(f"case:{number}")
        case = work.repo.case(number, for_update=True)
        if CaseState(case.state) != CaseState.PENDING_APPROVAL or case.pending_amount is None:
            raise Conflict("この申請は減額承認待ちではありません")
        if case.pending_by == who.subject:
            raise Conflict("減額の承認は決定者とは別の職員が行ってください")
        program = review.program(case.program_id)
        repo = review.repo(work, case.program_id)
        work.repo = repo
        if verdict is Verdict.REJECT:
            move(
                work,
                case,
                Command.REJECT_REDUCTION,
                note="減額差戻し",
                who=who,
                pending_amount=None,
                pending_by=None,
                pending_reduction_ct=None,
            )
            return repo.case(number)
        on = today()
        check_date(case, on)
        check_amount(program, case, case.pending_amount, on)
        reduction = repo.pending_reduction(number)
        move(work, case, Command.APPROVE_REDUCTION, note="交付決定（減額）", who=who)
        _record(
            work,
            case,
            who,
            True,
            case.pending_amount,
            (),
            reduction,
            "",
            on,
            who.subject,
            decision_prefix(program),
            decided_by=case.pending_by,
        )
        return repo.case(number)
