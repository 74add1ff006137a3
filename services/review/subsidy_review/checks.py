"""The checker's work on one application: claim it, see the rules' evaluation, confirm the
manual items, record the review date (審査日).

The rules library evaluates the application under its program as of its received date and
gives every reason; the checker confirms what only a person can see in the attachments
(legible, the receipt matches the items and amounts, the photo shows the installation, the
account proof matches the account). The result is the case's proposal for the ward:
granted with the rules' amount when the rules find it eligible and every manual item is
confirmed, otherwise not granted with the reasons (DOCUMENTS_DEFICIENT for an unconfirmed
item). A case is worked by one checker at a time: a claim that expires. The review date
(審査日) is the ward's today (Asia/Tokyo) and never before the application's received date.
Claims, releases and checks are audit events of the application with who made them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier
from subsidy_review.repository import Case
from subsidy_review.service import MAX_PURPOSE, Review, move, today
from subsidy_review.states import Command
from subsidy_rules.application import FormatError, parse_application
from subsidy_rules.engine import Decision, evaluate
from subsidy_rules.program import Program
from subsidy_rules.reasons import Reason

MANUAL_ITEMS: dict[str, str] = {
    "attachments_legible": "添付書類が判読できる",
    "receipt_matches": "領収書の品目・金額が申請内容と一致する",
    "photo_shows_installation": "設置後の写真で設置が確認できる",
    "account_proof_matches": "振込先口座の確認書類が申請内容と一致する",
}
DEFAULT_CLAIM_MINUTES = 30
MAX_CLAIM_MINUTES = 240
MESSAGE_CLAIMED = "この申請は他の審査担当者が作業中です"
MESSAGE_NOT_CLAIMED = "先にこの申請の担当を取得してください"


@dataclass(frozen=True, slots=True)
class CheckResult:
    case: Case
    record: dict[str, Any]
    decision: Decision | None
    format_problem: str | None
    missing_attachments: list[str]


def _claim_holder(case: Case, now: datetime) -> str | None:
    if case.claimed_by and case.claim_expires_at and case.claim_expires_at > now:
        return case.claimed_by
    return None


def claim(review: Review, who: Principal, number: str, minutes: int) -> Case:
    """Take the case for `minutes` (default 30); refused while another checker holds it."""
    identifier("application_number", number)
    if minutes == 0:
        minutes = DEFAULT_CLAIM_MINUTES
    if not 1 <= minutes <= MAX_CLAIM_MINUTES:
        raise InvalidArgument([FieldViolation("minutes", "1〜240分で指定してください")])
    now = datetime.now(UTC)
    with review.uow() as work:
        case = work.repo.case(number, for_update=True)
        holder = _claim_holder(case, now)
        if holder is not None and holder != who.subject:
            raise Conflict(MESSAGE_CLAIMED)
        work.repo.update_case(
            number, claimed_by=who.subject, claim_expires_at=now + timedelta(minutes=minutes)
        )
        work.audit(
            who,
            "ClaimApplication",
            "update",
            application=number,
            fields=("claim",),
            purpose=f"審査の担当取得（{minutes}分）",
        )
        return work.repo.case(number)


def release(review: Review, who: Principal, number: str) -> Case:
    identifier("application_number", number)
    with review.uow() as work:
        case = work.repo.case(number, for_update=True)
        if _claim_holder(case, datetime.now(UTC)) not in (None, who.subject):
            raise Conflict(MESSAGE_CLAIMED)
        work.repo.update_case(number, claimed_by=None, claim_expires_at=None)
        work.audit(
            who,
            "ReleaseClaim",
            "update",
            application=number,
            fields=("claim",),
            purpose="審査の担当解除",
        )
        return work.repo.case(number)


def evaluate_record(program: Program, number: str, record: dict[str, Any]) -> Decision:
    """The rules' decision for a record as intake returned it (bank details masked)."""
    usable = {**record, "application_id": number}
    usable.pop("bank_account", None)
    return evaluate(program, parse_application(usable))


def get_check(review: Review, who: Principal, number: str, purpose: str) -> CheckResult:
    identifier("application_number", number)
    stated = bounded_text("purpose", purpose, MAX_PURPOSE, required=True)
    with review.uow() as work:
        case = work.repo.case(number)
    program = review.program(case.program_id)
    record = review.read_application(number, who, stated)
    try:
        decision: Decision | None = evaluate_record(program, number, record)
        problem = None
    except FormatError as error:
        decision, problem = None, f"{error.field}: {error.message}"
    missing = review.missing_attachments(number)
    with review.uow() as work:
        work.repo.note_attachments(number, not missing)
        work.audit(
            who,
            "GetCheck",
            "read",
            application=number,
            fields=("applicant",),
            purpose=stated,
        )
    return CheckResult(case, record, decision, problem, missing)


def record_check(
    review: Review,
    who: Principal,
    request_id: str,
    number: str,
    confirmed: list[str],
    note: str,
) -> Case:
    """Record the checker's confirmation and the proposal for the ward."""
    identifier("request_id", request_id)
    identifier("application_number", number)
    bounded_text("note", note)
    unknown = [c for c in confirmed if c not in MANUAL_ITEMS]
    if unknown:
        raise InvalidArgument([FieldViolation("confirmed", "確認項目が正しくありません")])
    with review.uow() as work:
        case = work.repo.case(number)
    program = review.program(case.program_id)
    record = review.read_application(number, who, "審査結果の記録")
    try:
        decision = evaluate_record(program, number, record)
    except FormatError:
        raise Conflict("申請内容に形式の誤りがあります。補正依頼をしてください") from None
    missing = review.missing_attachments(number)
    if missing:
        with review.uow() as work:
            work.repo.note_attachments(number, False)
        raise Conflict("必要な添付書類がそろっていません。補正依頼をしてください")
    with review.uow() as work:
        if work.repo.command_seen(request_id, "RecordCheck", number, who.subject):
            return work.repo.case(number)
        work.lock(f"case:{number}")
        case = work.repo.case(number, for_update=True)
        if _claim_holder(case, datetime.now(UTC)) != who.subject:
            raise Conflict(MESSAGE_NOT_CLAIMED)
        checked_on = today()
        if checked_on < case.received_on:
            raise Conflict(
                f"審査日（今日 {checked_on.isoformat()}）が申請の受付日"
                f"（{case.received_on.isoformat()}）より前になります"
            )
        reasons = [str(r) for r in decision.reasons if not r.informational]
        complete = set(confirmed) >= set(MANUAL_ITEMS)
        if not complete:
            reasons.append(str(Reason.DOCUMENTS_DEFICIENT))
        granted = decision.eligible and complete and decision.amount > 0
        move(
            work,
            case,
            Command.RECORD_CHECK,
            who=who,
            checked_on=checked_on,
            checked_by=who.subject,
            confirmed_items=sorted(set(confirmed)),
            attachments_complete=True,
            rules_amount=decision.amount if decision.eligible else 0,
            proposal_granted=granted,
            proposal_reasons=[] if granted else reasons,
            claimed_by=None,
            claim_expires_at=None,
        )
        work.audit(
            who,
            "RecordCheck",
            "update",
            application=number,
            fields=("applicant",),
            purpose="審査結果の記録",
        )
        return work.repo.case(number)
