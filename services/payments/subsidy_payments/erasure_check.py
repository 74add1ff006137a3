"""What in payments' own data forbids erasing a program (issue 19: destructive calls check
their own preconditions in the service, not only the caller).

A program may be purged only when no money of it is still moving: no instruction waiting
or in a batch, no transfer sent whose arrival the bank has not confirmed, no repayment
claim of a revoked grant still open. Each kind still there is one sentence with its count
(subsidy_platform.maintenance refuses the purge with them).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

CHECKS = (
    (
        "SELECT count(*) FROM payments.instructions "
        "WHERE program_id = :p AND state IN ('PENDING', 'BATCHED')",
        "振込が済んでいない振込指図 {n} 件",
    ),
    (
        "SELECT count(*) FROM payments.instructions WHERE program_id = :p AND state = 'SENT'",
        "着金確認が済んでいない振込 {n} 件",
    ),
    (
        "SELECT count(*) FROM payments.repayment_claims WHERE program_id = :p AND state = 'OPEN'",
        "返還が済んでいない返還請求 {n} 件",
    ),
)


def erasure_blockers(session: Session, program_id: str) -> list[str]:
    """One sentence per kind of the program's money still moving (empty: it may go)."""
    found = []
    for query, sentence in CHECKS:
        count = int(session.execute(text(query), {"p": program_id}).scalar_one())
        if count:
            found.append(sentence.format(n=f"{count:,}"))
    return found
