"""Revocation cases (交付決定の取消): a household found with two live grants after the fact.

Granting is refused while another member of the household is granted (households.py), so
two live grants in one household arise only when the flags linking them came after both
decisions: a late application sharing a dwelling, account or LoGo answer with two granted
ones, or two groups merged by a later flag. Such a household is a revocation case for the
ward (`ListRevocationCases`: every household, from the flags not cleared, with two or more
granted members; the case id is its lowest application number). A ward officer revokes one
grant (`RevokeGrant`) with a reason: the case moves 交付決定 -> 交付決定取消 (REVOKED), the
revocation is recorded once per application with its number (`<prefix>-R-000001`), the
ward's today and the officer (the reason encrypted with the program's contact key), and a
`review.revocation` event goes through the outbox to payments (which stops the payment or
claims the money back, 返還請求) and to notices (交付決定取消通知書). Only a live grant of an
open case may be revoked, under the program's grant lock; the case closes when one live
grant is left. The event carries reason codes only, never the ward's words.
"""

from __future__ import annotations

from dataclasses import dataclass

from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2

from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict
from subsidy_platform.limits import bounded_text, identifier
from subsidy_review.households import grant_lock, household_of, households
from subsidy_review.repository import ReviewRepository, RevocationRecord
from subsidy_review.service import REVOCATION_TOPIC, Review, move, today
from subsidy_review.states import CaseState, Command
from subsidy_rules.program import Program
from subsidy_rules.reasons import Reason

REASONS = (str(Reason.DUPLICATE_HOUSEHOLD),)


@dataclass(frozen=True, slots=True)
class RevocationCase:
    case_id: str
    program_id: str
    granted: tuple[str, ...]
    members: tuple[str, ...]
    evidence: tuple[str, ...]
    open: bool


def revocation_prefix(program: Program) -> str:
    """Revocation numbers read `<program prefix>-R-000001`."""
    return f"{program.application_number_prefix or program.id}-R"


def _cases(repo: ReviewRepository, program_id: str, include_closed: bool) -> list[RevocationCase]:
    flags = repo.household_flags(program_id)
    granted = repo.granted_numbers(program_id)
    revoked = {r.case_id: r for r in repo.revocations(program_id)} if include_closed else {}
    found: list[RevocationCase] = []
    for members in households(flags):
        live = sorted(members & granted)
        case_id = min(members)
        if len(live) < 2 and case_id not in revoked:
            continue
        evidence = sorted({f.evidence for f in flags if f.first in members and f.second in members})
        found.append(
            RevocationCase(
                case_id,
                program_id,
                tuple(live),
                tuple(sorted(members)),
                tuple(evidence),
                len(live) >= 2,
            )
        )
    return found


def list_cases(review: Review, program_id: str, include_closed: bool) -> list[RevocationCase]:
    program = review.program(program_id)
    with review.uow() as work:
        return _cases(work.repo, program.id, include_closed)


def revoke(
    review: Review, who: Principal, request_id: str, number: str, reason: str
) -> tuple[RevocationRecord, bool]:
    """Revoke the grant of `number` (a live grant of an open case); (record, case still open)."""
    identifier("request_id", request_id)
    identifier("application_number", number)
    stated = bounded_text("reason", reason, required=True)
    with review.uow() as work:
        case = work.repo.case(number)
        program = review.program(case.program_id)
        repo = review.repo(work, program.id)
        work.repo = repo
        if repo.command_seen(request_id, "RevokeGrant", number, who.subject):
            done = [r for r in repo.revocations(program.id) if r.application_number == number]
            if not done:
                raise Conflict("このリクエストIDは別の操作に使われています")
            return done[0], False
        work.lock(f"case:{number}")  # case locks before the grant lock, as every use case
        work.lock(grant_lock(program.id))
        case = repo.case(number, for_update=True)
        if CaseState(case.state) != CaseState.GRANTED:
            raise Conflict("交付決定の状態にない申請は取り消せません")
        members = household_of(repo, number)
        live = sorted(c.application_number for c in repo.cases(members) if c.state == "GRANTED")
        if len(live) < 2:
            raise Conflict(
                "この申請の世帯には他に交付決定がないため、取消の対象（取消案件）ではありません"
            )
        decision = repo.decision(number)
        if decision is None or not decision.granted:
            raise Conflict("この申請の交付決定が見つかりません")
        record = RevocationRecord(
            application_number=number,
            program_id=program.id,
            revocation_number=repo.next_revocation_number(revocation_prefix(program)),
            case_id=min(members),
            members=tuple(sorted(members)),
            decision_number=decision.decision_number,
            amount=decision.amount,
            revoked_on=today(),
            revoked_by=who.subject,
        )
        move(work, case, Command.REVOKE_GRANT, note="交付決定取消", who=who)
        repo.add_revocation(record, stated)
        key = f"revocation-{number}"
        work.publish(
            REVOCATION_TOPIC,
            key,
            events_pb2.RevocationEvent(
                event_id=key,
                application_number=number,
                program_id=program.id,
                revoked_on=record.revoked_on.isoformat(),
                revocation_number=record.revocation_number,
                decision_number=record.decision_number,
                amount=record.amount,
                reasons=[common_pb2.ReasonCode.Value(r) for r in REASONS],
            ),
        )
        work.audit(
            who,
            "RevokeGrant",
            "update",
            application=number,
            fields=("decision", "revocation"),
            purpose=f"交付決定の取消（同一世帯の交付決定 {len(live)} 件）",
        )
        return record, len(live) - 1 >= 2
