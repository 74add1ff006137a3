"""What in the notices service's own data forbids erasing a program (issue 19).

A program may be purged only when every decision the ward made has reached its resident:
no notice of the program still waiting to be printed, in a batch or printed but not yet
mailed (a returned one has been mailed). The count is one sentence
(subsidy_platform.maintenance refuses the purge with it).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def erasure_blockers(session: Session, program_id: str) -> list[str]:
    """The program's notices not yet mailed, as one sentence (empty: it may go)."""
    count = int(
        session.execute(
            text(
                "SELECT count(*) FROM notices.notices "
                "WHERE program_id = :p AND state IN ('WAITING', 'BATCHED', 'PRINTED')"
            ),
            {"p": program_id},
        ).scalar_one()
    )
    return [f"発送が済んでいない通知 {count:,} 件"] if count else []
