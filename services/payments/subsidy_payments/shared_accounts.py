"""One account, two grants: held back until two people say both are to be paid.

An account is compared by intake's keyed HMAC of its bank, branch and number (the
duplicate check's blind index, handed over with the account by `GetPaymentAccount`),
never by plaintext. When a pending instruction's account is also another grant's live
(PENDING, BATCHED, SENT) or PAID instruction in the program, building a batch leaves it out
(`ListHeldInstructions` gives each with its reason and the other grants) until the pair is
cleared by two people, as a reduced grant is approved by a second ward officer:

1. `ClearSharedAccount` (ward_officer or payments_officer): the two applications and the
   reason both are to be paid (not one household: the ward has settled the household
   question; when they are one household, the ward revokes one grant instead, and nothing
   is cleared). Recorded, audited with the reason; nothing is paid yet.
2. `ApproveSharedAccountClearance` (approver): someone other than the recorder (the
   database refuses the same person too) approves; audited. The next build takes both.

A clearance is for that pair and that account: a later correction to another shared
account is a new question. Idempotent: the same pair recorded again returns the first
record; a request id names one clearance (another pair under it is Conflict).
"""

from __future__ import annotations

from subsidy_payments.repository import Clearance, HeldBack
from subsidy_payments.service import Payments
from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument, PermissionDenied
from subsidy_platform.limits import bounded_text, identifier, shown

REASON = "同じ振込先口座が他の交付決定（振込待ち・振込中・振込済）にもあります。世帯の確認待ちです"


def held_instructions(payments: Payments, program_id: str) -> list[HeldBack]:
    program = payments.program(program_id)
    with payments.uow() as work:
        return work.repo.held_instructions(program.id)


def _pair(number: str, other: str) -> tuple[str, str]:
    first = identifier("application_number", number, limit=32)
    second = identifier("other_application_number", other, limit=32)
    if first == second:
        raise InvalidArgument(
            [FieldViolation("other_application_number", "別の申請番号を指定してください")]
        )
    return (first, second) if first < second else (second, first)


def clear_shared_account(
    payments: Payments,
    who: Principal,
    request_id: str,
    program_id: str,
    number: str,
    other: str,
    reason: str,
) -> tuple[Clearance, bool]:
    """Record that both grants are to be paid (step 1); (the clearance, replayed)."""
    request_id = identifier("request_id", request_id)
    program = payments.program(program_id)
    first, second = _pair(number, other)
    why = bounded_text("reason", reason, required=True)
    with payments.uow() as work:
        work.lock(f"shared-account:{first}:{second}")
        previous = work.repo.clearance_by_request(request_id)
        if previous is not None:
            if (previous.application_number, previous.other_application_number) != (first, second):
                raise Conflict("同じリクエストIDで別の申請の組が記録されています")
            return previous, True
        for n in (first, second):
            grant = work.repo.grant_amount(n)
            if grant is None or grant[0] != program.id:
                raise Conflict(f"この制度の交付決定がありません（{shown(n)}）")
        index = work.repo.common_account(first, second)
        if index is None:
            raise Conflict("2件の申請の振込先口座は同じではありません")
        existing = work.repo.clearance(first, second, index)
        if existing is not None:
            return existing, True
        work.repo.record_clearance(program.id, first, second, index, why, request_id, who.subject)
        for n in (first, second):
            work.audit(
                who,
                "ClearSharedAccount",
                "create",
                application=n,
                fields=(),
                purpose=f"共用口座の確認（{first}・{second}）記録: {why}",
            )
        found = work.repo.clearance(first, second, index)
        assert found is not None
        return found, False


def approve_clearance(
    payments: Payments, who: Principal, request_id: str, program_id: str, number: str, other: str
) -> tuple[Clearance, bool]:
    """Approve a recorded clearance (step 2) as a second person; (the clearance, replayed)."""
    request_id = identifier("request_id", request_id)
    program = payments.program(program_id)
    first, second = _pair(number, other)
    with payments.uow() as work:
        work.lock(f"shared-account:{first}:{second}")
        index = work.repo.common_account(first, second)
        found = work.repo.clearance(first, second, index) if index is not None else None
        if found is None or found.program_id != program.id:
            raise Conflict("この2件の共用口座の確認は記録されていません")
        if found.approved_by is not None:
            if found.approve_request_id == request_id and found.approved_by == who.subject:
                return found, True
            raise Conflict("この共用口座の確認は既に承認されています")
        if found.recorded_by == who.subject:
            raise PermissionDenied("記録した職員は承認できません（別の職員が承認してください）")
        work.repo.approve_clearance(found.id, request_id, who.subject)
        for n in (first, second):
            work.audit(
                who,
                "ApproveSharedAccountClearance",
                "update",
                application=n,
                fields=(),
                purpose=f"共用口座の確認（{first}・{second}）承認: {found.reason}",
            )
        approved = work.repo.clearance(first, second, found.account_index)
        assert approved is not None
        return approved, False
