"""Duplicate resolution (1世帯につき1回限り): the checker looks at each group intake flagged.

A group is every case linked by flags, open or resolved. The evidence is shown side by
side: which facts agree and how strongly. A shared dwelling, bank account or LoGo answer is
strong evidence of one household; name kana + birth date alone is weak (usually a
namesake). The checker either keeps one member (the others go to the ward proposed as not
granted, DUPLICATE_HOUSEHOLD) or clears the flags with a reason. Nothing is refused as a
duplicate without this step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier
from subsidy_review.repository import Case, Flag
from subsidy_review.service import MAX_PURPOSE, Review, move
from subsidy_review.states import CaseState, Command
from subsidy_rules.reasons import Reason

STRONG = frozenset({"SAME_HOUSEHOLD", "SAME_BANK_ACCOUNT", "SAME_LOGO_ANSWER"})
MAX_GROUP = 50


def strength(evidence: str) -> str:
    return "strong" if evidence in STRONG else "weak"


@dataclass(frozen=True, slots=True)
class Group:
    cases: list[Case]
    flags: list[Flag]
    records: dict[str, dict[str, Any]]

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
        for case in cases:
            work.audit(
                who,
                "GetDuplicateGroup",
                "read",
                application=case.application_number,
                fields=("name", "address", "birth_date"),
                purpose=stated,
            )
    return Group(cases, flags, records)


def resolve(
    review: Review,
    who: Principal,
    request_id: str,
    number: str,
    keep: str | None,
    clear_reason: str | None,
) -> Group:
    identifier("request_id", request_id)
    identifier("application_number", number)
    if keep is not None:
        identifier("keep", keep)
    if (keep is None) == (clear_reason is None):
        raise InvalidArgument(
            [FieldViolation("resolution", "採用する申請か解除理由のどちらかを指定してください")]
        )
    reason = (
        bounded_text("clear_reason", clear_reason, required=True)
        if clear_reason is not None
        else None
    )
    cases, _ = _members(review, number)
    numbers = [c.application_number for c in cases]
    if keep is not None and keep not in numbers:
        raise InvalidArgument([FieldViolation("keep", "採用する申請がこのグループにありません")])
    program_id = cases[0].program_id
    with review.uow() as work:
        if work.repo.command_seen(request_id, "ResolveDuplicates", number, who.subject):
            return Group(*_members(review, number), records={})
        for n in sorted(numbers):
            work.lock(f"case:{n}")
        repo = review.repo(work, program_id)
        current = repo.cases(numbers, for_update=True)
        closed = repo.close_flags(
            program_id,
            numbers,
            "kept" if keep else "cleared",
            who.subject,
            reason or f"採用: {keep}",
        )
        if closed == 0:
            raise Conflict("このグループの重複の疑いは既に解消されています")
        for case in current:
            if CaseState(case.state) != CaseState.DUPLICATE_SUSPECTED:
                continue
            if keep is None or case.application_number == keep:
                command = Command.CLEAR_FLAG if keep is None else Command.KEEP_IN_GROUP
                move(work, case, command, note="重複の疑いを解消")
            else:
                move(
                    work,
                    case,
                    Command.REFUSE_AS_DUPLICATE,
                    note="重複のため不交付案",
                    proposal_granted=False,
                    rules_amount=0,
                    proposal_reasons=[str(Reason.DUPLICATE_HOUSEHOLD)],
                )
    return Group(*_members(review, number), records={})
