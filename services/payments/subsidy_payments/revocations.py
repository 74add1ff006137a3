"""A revoked grant (交付決定の取消, review's `review.revocation` event) in payments.

Applied at most once by its event id, under the grant's advisory lock, in one transaction:
- the grant's instruction is still in the pool (PENDING): it is CANCELLED, never paid;
- it is in a built batch that no approver has released yet (BATCHED): that whole batch is
  cancelled (its file deleted; the other instructions go back to the pool for the officer
  to build again, so the approver never releases a file that pays a revoked grant), and the
  instruction is CANCELLED. The batch row is locked before the instruction rows, the order
  a release and a cancel take them, so a release and a revocation wait for each other
  instead of deadlocking; an instruction that moved meanwhile makes the event retry;
- its transfer was released (SENT) or confirmed (PAID): the money has left, so a repayment
  claim (返還請求) for the instruction's amount is opened; it stays OPEN (and is listed by
  `ListRepaymentClaims`, which the reconciliation reads) until a payments officer records
  the repayment of the whole amount (`RecordRepayment`: date not before the claim nor
  after today, idempotent by request id), or the bank returns the transfer itself
  (RETURNED, by the database's trigger);
- no live instruction (only failed transfers awaiting a corrected account): nothing to
  stop; no new instruction will ever be made.
Every revocation is recorded (`payments.revocations`); the database refuses any new or
re-batched instruction of a revoked grant. A revocation for a grant payments has not
received is FAILED_PRECONDITION (review's outbox delivers the decision first; if that
decision was parked, the revocation parks behind it and is requeued after it).
"""

from __future__ import annotations

from datetime import date

from subsidy.events.v1 import events_pb2

from subsidy_payments.batches import parse_day
from subsidy_payments.repository import RepaymentClaim
from subsidy_payments.service import Payments
from subsidy_platform.access import Principal
from subsidy_platform.errors import (
    Conflict,
    DependencyUnavailable,
    FieldViolation,
    InvalidArgument,
)
from subsidy_platform.limits import identifier
from subsidy_platform.ward_clock import ward_today

MAX_EVENT_ID = 200
MAX_AMOUNT = 100_000_000


def revocation_received(
    payments: Payments, who: Principal, event: events_pb2.RevocationEvent
) -> str:
    """Apply one revocation (module doc): STOPPED, CLAIMED or replayed."""
    event_id = identifier("event_id", event.event_id, limit=MAX_EVENT_ID)
    number = identifier("application_number", event.application_number, limit=32)
    program = payments.program(event.program_id)
    revoked_on = parse_day(event.revoked_on, "revoked_on")
    revocation_number = identifier("revocation_number", event.revocation_number)
    if not 0 < event.amount <= MAX_AMOUNT:
        raise InvalidArgument([FieldViolation("amount", "取消された交付額が正しくありません")])
    with payments.uow() as work:
        if work.repo.event_seen(event_id):
            return "replayed"
        work.lock(f"grant:{number}")
        grant = work.repo.grant_amount(number)
        if grant is None:
            raise Conflict(
                "取り消された交付決定をまだ受け取っていません（交付決定の受信後に再送してください）"
            )
        if grant[0] != program.id or grant[1] != event.amount:
            raise Conflict("取消の制度または金額が交付決定と一致しません")
        if not work.repo.event_applied(event_id, program.id):
            return "replayed"
        live = work.repo.live_instruction(number)
        if live is not None and live.batch_id is not None:
            work.repo.batch(live.batch_id, for_update=True)
        instructions = work.repo.instructions_of(number)
        now_live = [i for i in instructions if i.state not in ("FAILED", "CANCELLED")]
        current = now_live[0] if now_live else None
        if (current is None) != (live is None) or (
            current is not None and live is not None and current.batch_id != live.batch_id
        ):
            raise DependencyUnavailable("振込指図が処理中のため、取消を後で再試行します")
        outcome, cancelled = "STOPPED", None
        if current is not None and current.state == "BATCHED":
            assert current.batch_id is not None
            cancelled = current.batch_id
            work.repo.cancel(
                current.batch_id, who.subject, f"交付決定の取消（{revocation_number}）"
            )
            work.repo.cancel_instruction(current.id)
        elif current is not None and current.state == "PENDING":
            work.repo.cancel_instruction(current.id)
        elif current is not None:  # SENT or PAID: the money has left
            outcome = "CLAIMED"
        work.repo.add_revocation(
            number=number,
            program_id=program.id,
            revocation_number=revocation_number,
            revoked_on=revoked_on,
            outcome=outcome,
            batch_cancelled=cancelled,
            event_id=event_id,
        )
        if outcome == "CLAIMED":
            assert current is not None
            work.repo.add_claim(
                number=number,
                program_id=program.id,
                instruction_id=current.id,
                amount=current.amount,
                opened_on=ward_today(),
            )
        purpose = {
            "STOPPED": "交付決定取消による振込の停止",
            "CLAIMED": "交付決定取消による返還請求",
        }[outcome]
        if cancelled is not None:
            purpose += f"（振込バッチ {cancelled} を取消）"
        work.audit(
            who, "RevocationReceived", "update", application=number, fields=(), purpose=purpose
        )
        return outcome


def list_claims(payments: Payments, program_id: str, open_only: bool) -> list[RepaymentClaim]:
    program = payments.program(program_id)
    with payments.uow() as work:
        return work.repo.claims(program.id, open_only)


def record_repayment(
    payments: Payments,
    who: Principal,
    request_id: str,
    number: str,
    repaid_on: str,
    amount: int,
) -> RepaymentClaim:
    """The repayment of a claim's whole amount, recorded by a payments officer."""
    request_id = identifier("request_id", request_id)
    number = identifier("application_number", number, limit=32)
    day: date = parse_day(repaid_on, "repaid_on")
    if not 0 < amount <= MAX_AMOUNT:
        raise InvalidArgument([FieldViolation("amount", "返還額が正しくありません")])
    with payments.uow() as work:
        work.lock(f"grant:{number}")
        claim = work.repo.claim(number, for_update=True)
        if claim.state == "SETTLED" and claim.settle_request_id == request_id:
            return claim
        if claim.state != "OPEN":
            raise Conflict("この返還請求は既に完了しています")
        if amount != claim.amount:
            raise InvalidArgument(
                [FieldViolation("amount", "返還額が請求額と一致しません（全額を記録してください）")]
            )
        if not claim.opened_on <= day <= ward_today():
            raise InvalidArgument(
                [FieldViolation("repaid_on", "返還日は請求日から今日までの日付です")]
            )
        work.repo.settle_claim(number, day, amount, who.subject, request_id)
        work.audit(
            who,
            "RecordRepayment",
            "update",
            application=number,
            fields=(),
            purpose="返還金の収納の記録",
        )
        return work.repo.claim(number)
