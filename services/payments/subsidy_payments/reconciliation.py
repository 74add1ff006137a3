"""Reconciliation (照合) per program and per batch: every yen granted is accounted for.

Program: the granted total = paid + failed awaiting correction (the grant's only
instructions are FAILED) + not yet paid (pending, in a batch, or sent and not confirmed);
a grant revoked before its money left is not counted, one revoked after stays where its
money is (its repayment claim is in `payments.repayment_claims`, revocations.py).
Batch (not cancelled): its file's total = paid + failed (returned) + still on the way.
Any difference is an alarm (`balanced` false); the command `subsidy-payments-admin
reconcile` prints it, and an auditor can run it by RPC (`Reconcile`).
"""

from __future__ import annotations

from dataclasses import dataclass

from subsidy_payments.repository import Totals
from subsidy_payments.service import Payments


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
