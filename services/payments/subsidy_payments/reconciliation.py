"""Reconciliation (照合) per program and per batch: every yen granted is accounted for.

Program: the granted total = paid + failed awaiting correction (the grant's only
instructions are FAILED) + not yet paid (pending, in a batch, or sent and not confirmed);
a grant revoked before its money left is not counted, one revoked after stays where its
money is (its repayment claim is in `payments.repayment_claims`, revocations.py).
Batch (not cancelled): its file's total = paid + failed (returned) + still on the way.
Any difference is an alarm (`balanced` false); the command `subsidy-payments-admin
reconcile` prints it, and an auditor can run it by RPC (`Reconcile`).

Across services (`reconcile_across`, RPC `ReconcileAcross`, `reconcile --across`): review's
granted decisions (read from review a page at a time under payments' identity, review's
`ListGrantedDecisions`) against payments' grants, instructions and released 全銀 files, the
files read back from storage (decrypted, hashed, parsed), all of payments' side read in one
snapshot; the comparison itself is pure (subsidy_payments.cross_check). Decrypting the
files (bank class) is audited.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import grpc
from subsidy.review.v1 import review_pb2, review_pb2_grpc

from subsidy_payments import cross_check
from subsidy_payments.cross_check import (
    CrossCheck,
    Decision,
    DecisionState,
    Delivery,
    Grant,
    Instruction,
    PaymentsSide,
    ReleasedFile,
    ReviewSide,
    Revoked,
)
from subsidy_payments.repository import Totals
from subsidy_payments.service import Payments
from subsidy_platform.access import Principal
from subsidy_platform.crypto import CiphertextUnreadable, DataClass
from subsidy_platform.errors import Conflict, DependencyUnavailable

PAGE = 1000
# Review could not answer now (down, slow, failing): UNAVAILABLE, worth running again.
REVIEW_FAILING = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)
MAX_PAGES = 10_000  # ten million decisions: a loop that never ends is refused, not run
STATES = {
    review_pb2.DECISION_GRANTED: DecisionState.GRANTED,
    review_pb2.DECISION_REVOKED: DecisionState.REVOKED,
}
DELIVERIES = {
    review_pb2.EVENT_PENDING: Delivery.PENDING,
    review_pb2.EVENT_DELIVERED: Delivery.DELIVERED,
    review_pb2.EVENT_PARKED: Delivery.PARKED,
}


@dataclass(frozen=True, slots=True)
class Line:
    scope: str
    totals: Totals

    @property
    def difference(self) -> int:
        t = self.totals
        return t.granted - (t.paid + t.failed_awaiting + t.not_yet_paid)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    program_id: str
    lines: tuple[Line, ...]

    @property
    def balanced(self) -> bool:
        return all(line.difference == 0 for line in self.lines)


def reconcile(payments: Payments, program_id: str) -> Reconciliation:
    program = payments.program(program_id)
    with payments.uow() as work:
        lines = [Line("program", work.repo.program_totals(program.id))]
        lines += [
            Line(f"batch {batch_id} ({state})", totals)
            for batch_id, state, totals in work.repo.batch_totals(program.id)
        ]
    return Reconciliation(program.id, tuple(lines))


def render(result: Reconciliation) -> str:
    """The reconciliation as staff read it (yen with thousands separators)."""
    out = [f"照合 {result.program_id}: {'一致' if result.balanced else '不一致（要確認）'}"]
    out.append(
        "範囲 | 交付決定額 | 振込済 | 振込不能（口座訂正待ち） | 未振込 | 差額 | 件数 | 口座未取得"
    )
    for line in result.lines:
        t = line.totals
        out.append(
            f"{line.scope} | {t.granted:,} | {t.paid:,} | {t.failed_awaiting:,} | "
            f"{t.not_yet_paid:,} | {line.difference:,} | {t.grants} | {t.awaiting_account}"
        )
    return "\n".join(out)


def review_side(payments: Payments, who: Principal, program_id: str) -> ReviewSide:
    """Review's granted decisions of the program, every page, under payments' identity."""
    stub = payments.clients.stub("review", review_pb2_grpc.ReviewServiceStub)
    decisions: list[Decision] = []
    after, parked = "", 0
    for _ in range(MAX_PAGES):
        try:
            page: review_pb2.ListGrantedDecisionsResponse = payments.clients.call(
                stub.ListGrantedDecisions,
                review_pb2.ListGrantedDecisionsRequest(
                    program_id=program_id,
                    after_application_number=after,
                    limit=PAGE,
                    purpose=f"振込との照合 {who.subject}"[:200],
                ),
                idempotent=True,
                timeout=60,
            )
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
            if code in REVIEW_FAILING:
                raise DependencyUnavailable("審査サービスから交付決定を読み出せません") from error
            raise Conflict(
                f"審査サービスが交付決定の読み出しを拒否しました（{code.name}）"
            ) from error
        decisions += [
            Decision(
                d.application_number,
                d.amount,
                STATES.get(d.state, DecisionState.UNKNOWN),
                DELIVERIES.get(d.delivery, Delivery.MISSING),
            )
            for d in page.decisions
        ]
        parked = page.parked_events
        if not page.next_after:
            return ReviewSide(tuple(decisions), parked)
        after = page.next_after
    raise Conflict("交付決定が多すぎて照合できません")


def _opened(payments: Payments, program_id: str, sealed: str | None) -> tuple[bytes | None, bool]:
    """(the stored file's bytes, unreadable): None once deleted after retention."""
    if sealed is None:
        return None, False
    try:
        [plain] = payments.cipher_for(program_id).decrypt(DataClass.BANK, [sealed])
        return base64.b64decode(plain or "", validate=True), False
    except (CiphertextUnreadable, binascii.Error, ValueError):
        return None, True


def payments_side(payments: Payments, program_id: str) -> PaymentsSide:
    """Grants, instructions and released batches in one snapshot; the files decrypted."""
    with payments.uow() as work:
        work.repo.snapshot()
        grants = tuple(Grant(n, a) for n, a in work.repo.grant_amounts(program_id))
        instructions = tuple(Instruction(*row) for row in work.repo.instruction_states(program_id))
        batches = work.repo.released_batches(program_id)
        revoked = tuple(Revoked(*row) for row in work.repo.revocation_states(program_id))
    files = []
    for batch_id, count, total, built, released, sealed in batches:
        content, unreadable = _opened(payments, program_id, sealed)
        files.append(ReleasedFile(batch_id, count, total, built, released, content, unreadable))
    return PaymentsSide(grants, instructions, tuple(files), revoked)


def reconcile_across(payments: Payments, who: Principal, program_id: str) -> CrossCheck:
    """Review's granted decisions = payments' grants = instructions = released files less
    returns, with every difference (subsidy_payments.cross_check)."""
    program = payments.program(program_id)
    review = review_side(payments, who, program.id)
    mine = payments_side(payments, program.id)
    with payments.uow() as work:
        work.audit(
            who,
            "ReconcileAcross",
            "read",
            application=None,
            fields=("bank_account",),
            purpose=f"照合（送信済振込ファイル {len(mine.files)}件の検算）",
        )
    return cross_check.compare(review, mine)
