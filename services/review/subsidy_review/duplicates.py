"""Duplicate resolution (1世帯につき1回限り): the checker looks at each group intake flagged.

A group is every case linked by flags, open or resolved. The evidence is shown side by
side: which facts agree and how strongly. A shared dwelling, bank account or LoGo answer is
strong evidence of one household; name kana + birth date alone is weak (usually a
namesake). Nothing is refused as a duplicate without this step.

Keeping one member refuses every other member in any state before the ward's decision
(受付, 重複確認待ち, 補正依頼中, 審査済: proposed to the ward as not granted,
DUPLICATE_HOUSEHOLD; 区へ引渡し済 and 減額承認待ち: back with the ward, proposed as not
granted) and remembers on each whom the group kept, so that none of them can be granted
(households.py). Where a member is granted already, only that member may be kept: keeping
another is refused (FAILED_PRECONDITION, the granted member named); two granted members are
the ward's revocation case (revocations.py), not a checker's choice.

Clearing the flags ("not one household") with a reason: weak evidence by the checker alone;
strong evidence needs a second person, like a reduced grant. The request waits
(`ListPendingClearings`) until another checker or ward officer confirms or rejects it
(`ConfirmClearing`, an explicit verdict); the requester can never confirm their own (the
database refuses it too). Each step is audited per application with who and why (the reason
itself is stored encrypted with the program's contact key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier
from subsidy_platform.unit_of_work import Work
from subsidy_review.households import grant_lock
from subsidy_review.repository import Case, Clearing, Flag, ReviewRepository
from subsidy_review.service import MAX_PURPOSE, Review, move
from subsidy_review.states import LABELS, PRE_DECISION, CaseState, Command
from subsidy_rules.reasons import Reason

STRONG = frozenset({"SAME_HOUSEHOLD", "SAME_BANK_ACCOUNT", "SAME_LOGO_ANSWER"})
MAX_GROUP = 50


def strength(evidence: str) -> str:
    return "strong" if evidence in STRONG else "weak"


VERDICTS = ("CLEARING_VERDICT_CONFIRM", "CLEARING_VERDICT_REJECT")
MESSAGE_KEEP_GRANTED = (
    "この世帯の申請（{granted}）は既に交付決定されているため、別の申請を採用できません"
    "（採用できるのは交付決定済みの申請だけです）"
)
MESSAGE_TWO_GRANTS = (
    "この世帯には交付決定が2件以上あります。区の交付決定取消の手続で1件を残してください"
)


@dataclass(frozen=True, slots=True)
class Group:
    cases: list[Case]
    flags: list[Flag]
    records: dict[str, dict[str, Any]]
    pending_clearing: str | None = None

    @property
    def strength(self) -> str:
        return "strong" if any(strength(f.evidence) == "strong" for f in self.flags) else "weak"

    @property
    def resolved(self) -> bool:
        return not any(f.open for f in self.flags)


def _members(review: Review, number: str) -> tuple[list[Case], list[Flag]]:
    """The group of `number` (NotFound when review has no such case)."""
    with review.uow() as work:
        work.repo.case(number)
        seen, frontier, flags = {number}, [number], []
        while frontier and len(seen) <= MAX_GROUP:
            found = work.repo.flags_touching(frontier)
            frontier = []
            for flag in found:
                if flag not in flags:
                    flags.append(flag)
                for n in (flag.first, flag.second):
                    if n not in seen:
                        seen.add(n)
                        frontier.append(n)
        cases = sorted(work.repo.cases(seen), key=lambda c: (c.received_on, c.application_number))
    return cases, flags


def get_group(review: Review, who: Principal, number: str, purpose: str) -> Group:
    identifier("application_number", number)
    stated = bounded_text("purpose", purpose, MAX_PURPOSE, required=True)
    cases, flags = _members(review, number)
    records = {
        c.application_number: review.read_application(c.application_number, who, stated)
        for c in cases
    }
    with review.uow() as work:
        pending = work.repo.pending_clearing_of(c.application_number for c in cases)
        for case in cases:
            work.audit(
                who,
                "GetDuplicateGroup",
                "read",
                application=case.application_number,
                fields=("name", "address", "birth_date"),
                purpose=stated,
            )
    return Group(cases, flags, records, pending)


def _request(
    request_id: str, number: str, keep: str | None, clear_reason: str | None
) -> str | None:
    identifier("request_id", request_id)
    identifier("application_number", number)
    if keep is not None:
        identifier("keep", keep)
    if (keep is None) == (clear_reason is None):
        raise InvalidArgument(
            [FieldViolation("resolution", "採用する申請か解除理由のどちらかを指定してください")]
        )
    return (
        bounded_text("clear_reason", clear_reason, required=True)
        if clear_reason is not None
        else None
    )


def _audit(
    work: Work[ReviewRepository], who: Principal, rpc: str, numbers: list[str], purpose: str
) -> None:
    for n in numbers:
        work.audit(who, rpc, "update", application=n, fields=("duplicate_flags",), purpose=purpose)


def _result(review: Review, number: str) -> Group:
    cases, flags = _members(review, number)
    with review.uow() as work:
        pending = work.repo.pending_clearing_of(c.application_number for c in cases)
    return Group(cases, flags, {}, pending)


def resolve(
    review: Review,
    who: Principal,
    request_id: str,
    number: str,
    keep: str | None,
    clear_reason: str | None,
) -> Group:
    reason = _request(request_id, number, keep, clear_reason)
    cases, _ = _members(review, number)
    numbers = [c.application_number for c in cases]
    if keep is not None and keep not in numbers:
        raise InvalidArgument([FieldViolation("keep", "採用する申請がこのグループにありません")])
    program_id = cases[0].program_id
    with review.uow() as work:
        if work.repo.command_seen(request_id, "ResolveDuplicates", number, who.subject):
            return _result(review, number)
        for n in sorted(numbers):
            work.lock(f"case:{n}")
        if keep is not None:
            work.lock(grant_lock(program_id))
        repo = review.repo(work, program_id)
        work.repo = repo
        current = repo.cases(numbers, for_update=True)
        open_flags = [f for f in repo.flags_touching(numbers) if f.open]
        if not open_flags:
            raise Conflict("このグループの重複の疑いは既に解消されています")
        if keep is None:
            assert reason is not None
            strong = sorted({f.evidence for f in open_flags if strength(f.evidence) == "strong"})
            if strong:
                _request_clearing(work, who, program_id, numbers, strong, reason)
            else:
                _clear(work, who, program_id, current, numbers, who.subject, reason)
        else:
            _keep(work, who, program_id, current, numbers, keep)
    return _result(review, number)


def _keep(
    work: Work[ReviewRepository],
    who: Principal,
    program_id: str,
    current: list[Case],
    numbers: list[str],
    keep: str,
) -> None:
    kept = next(c for c in current if c.application_number == keep)
    if CaseState(kept.state) not in PRE_DECISION | {CaseState.GRANTED}:
        raise Conflict(
            f"採用する申請は現在の状態（{LABELS[CaseState(kept.state)]}）のため採用できません"
        )
    granted = sorted(c.application_number for c in current if c.state == CaseState.GRANTED)
    if len(granted) > 1:
        raise Conflict(MESSAGE_TWO_GRANTS)
    if granted and granted[0] != keep:
        raise Conflict(MESSAGE_KEEP_GRANTED.format(granted=granted[0]))
    work.repo.close_flags(program_id, numbers, "kept", who.subject, f"採用: {keep}")
    for case in current:
        state = CaseState(case.state)
        if case.application_number == keep:
            work.repo.update_case(keep, duplicate_of=None)
            if state == CaseState.DUPLICATE_SUSPECTED:
                move(work, case, Command.KEEP_IN_GROUP, note="重複の疑いを解消", who=who)
        elif state in PRE_DECISION:
            extra: dict[str, Any] = {}
            if state == CaseState.PENDING_APPROVAL:
                extra = {"pending_amount": None, "pending_by": None, "pending_reduction_ct": None}
            move(
                work,
                case,
                Command.REFUSE_AS_DUPLICATE,
                note="重複のため不交付案",
                who=who,
                proposal_granted=False,
                proposal_reasons=[str(Reason.DUPLICATE_HOUSEHOLD)],
                duplicate_of=keep,
                **extra,
            )
    _audit(work, who, "ResolveDuplicates", numbers, f"重複の確認（同一世帯として {keep} を採用）")


def _clear(
    work: Work[ReviewRepository],
    who: Principal,
    program_id: str,
    current: list[Case],
    numbers: list[str],
    requested_by: str,
    reason: str,
    *,
    audited: bool = True,
) -> None:
    work.repo.close_flags_within(program_id, numbers, "cleared", requested_by, reason)
    for case in current:
        if CaseState(case.state) == CaseState.DUPLICATE_SUSPECTED and not work.repo.open_flag_count(
            case.application_number
        ):
            move(work, case, Command.CLEAR_FLAG, note="重複の疑いを解消", who=who)
    if audited:
        _audit(work, who, "ResolveDuplicates", numbers, "重複の疑いの解除（別世帯）")


def _request_clearing(
    work: Work[ReviewRepository],
    who: Principal,
    program_id: str,
    numbers: list[str],
    evidence: list[str],
    reason: str,
) -> None:
    if work.repo.add_clearing(program_id, numbers, evidence, who.subject, reason) is None:
        raise Conflict("このグループの重複の解除は既に別の職員の確認待ちです")
    _audit(
        work,
        who,
        "ResolveDuplicates",
        numbers,
        f"強い根拠（{'・'.join(evidence)}）の重複の解除を申請（2人目の確認待ち）",
    )


def pending_clearings(review: Review, program_id: str) -> list[Clearing]:
    program = review.program(program_id)
    with review.uow() as work:
        return review.repo(work, program.id).pending_clearings(program.id)


def confirm_clearing(
    review: Review, who: Principal, request_id: str, clearing_id: str, verdict: str, note: str
) -> Group:
    """A second person confirms (the flags are cleared) or rejects a pending clearing."""
    identifier("request_id", request_id)
    identifier("clearing_id", clearing_id)
    if verdict not in VERDICTS:
        raise InvalidArgument(
            [FieldViolation("verdict", "確認の結果（解除する・解除しない）を指定してください")]
        )
    remark = bounded_text("note", note)
    with review.uow() as work:
        program_id = work.repo.clearing_program(clearing_id)
    with review.uow() as work:
        repo = review.repo(work, program_id)
        work.repo = repo
        pending = repo.clearing(clearing_id)
        if work.repo.command_seen(
            request_id, "ConfirmClearing", None, who.subject, program_id=program_id
        ):
            return _result(review, pending.numbers[0])
        for n in sorted(pending.numbers):
            work.lock(f"case:{n}")
        clearing = repo.clearing(clearing_id, for_update=True)
        if clearing.state != "PENDING":
            raise Conflict("この重複の解除は既に確認されています")
        if clearing.requested_by == who.subject:
            raise Conflict("重複の解除の確認は申請した職員とは別の職員が行ってください")
        numbers = list(clearing.numbers)
        if verdict == "CLEARING_VERDICT_REJECT":
            repo.decide_clearing(clearing_id, "REJECTED", who.subject, remark or None)
            _audit(
                work,
                who,
                "ConfirmClearing",
                numbers,
                "重複の解除を承認せず（同一世帯の疑いを維持）",
            )
        else:
            repo.decide_clearing(clearing_id, "CONFIRMED", who.subject, remark or None)
            current = repo.cases(numbers, for_update=True)
            _clear(
                work,
                who,
                program_id,
                current,
                numbers,
                clearing.requested_by,
                clearing.reason,
                audited=False,
            )
            _audit(
                work,
                who,
                "ConfirmClearing",
                numbers,
                f"重複の解除を確認（申請者 {clearing.requested_by}、確認者 {who.subject}）",
            )
    return _result(review, numbers[0])
