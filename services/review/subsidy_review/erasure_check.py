"""What in review's own data forbids erasing a program (issue 19).

A program may be purged only when the ward has decided every application of it: no case
still received, checked, awaiting a correction or the ward's decision or approval
(granted, not granted, withdrawn and revoked are final). The count is one sentence
(subsidy_platform.maintenance refuses the purge with it).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from subsidy_review.states import CaseState

FINAL = (CaseState.GRANTED, CaseState.NOT_GRANTED, CaseState.WITHDRAWN, CaseState.REVOKED)


def erasure_blockers(session: Session, program_id: str) -> list[str]:
    """The program's cases not yet decided, as one sentence (empty: it may go)."""
    count = int(
        session.execute(
            text(
                "SELECT count(*) FROM review.cases "
                "WHERE program_id = :p AND NOT (state = ANY(:final))"
            ),
            {"p": program_id, "final": [str(state) for state in FINAL]},
        ).scalar_one()
    )
    return [f"決定が済んでいない申請 {count:,} 件"] if count else []
