"""Review's side of the reconciliation across services (照合, issue 15): its granted decisions.

Payments compares what review granted with its grants, instructions and released files
(subsidy_payments.cross_check). Review answers, per program and a page at a time (keyset
by application number, at most 1,000 a page), every granted decision with:
- its amount, decision number and date;
- its state now: granted (the case is 交付決定), revoked (交付決定の取消: the case is REVOKED),
  or neither (unspecified: a granted decision whose case moved elsewhere, reported);
- where its event to payments is in review's outbox (the row keyed `decision-<number>`):
  missing, pending, delivered or parked;
and the count of events to payments parked in review's outbox for the program (refused for
good after a few attempts: an alarm, never silence). Decisions are not personal data fields
but are about a person: each page read is audited with the caller's stated purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError
from subsidy.events.v1 import events_pb2

from subsidy_platform.access import Principal
from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier
from subsidy_review.repository import GrantedDecisionRow
from subsidy_review.service import DECISION_TOPIC, Review

MAX_PAGE = 1000
DEFAULT_PAGE = 500
MAX_PURPOSE = 200
MAX_PARKED_READ = 100_000
EVENT_KEY_PREFIX = "decision-"  # decisions.py keys each decision's event `decision-<number>`
GRANTED_STATE = "GRANTED"
REVOKED_STATE = "REVOKED"


@dataclass(frozen=True, slots=True)
class GrantedPage:
    decisions: tuple[GrantedDecisionRow, ...]
    next_after: str  # "" when this page is the last
    parked_events: int


def decision_state(case_state: str) -> str:
    """GRANTED, REVOKED, or "" when the case is in neither state."""
    return case_state if case_state in (GRANTED_STATE, REVOKED_STATE) else ""


def parked_of_program(rows: list[tuple[str, bytes]], program_id: str) -> int:
    """Parked events of the program; an event whose program cannot be read counts too."""
    count = 0
    for topic, payload in rows:
        if topic != DECISION_TOPIC:
            count += 1
            continue
        try:
            event = events_pb2.DecisionEvent.FromString(payload)
        except DecodeError:
            count += 1
            continue
        count += event.program_id == program_id
    return count


def list_granted_decisions(
    review: Review, who: Principal, program_id: str, after: str, limit: int, purpose: str
) -> GrantedPage:
    program = review.program(program_id)
    after = identifier("after_application_number", after, required=False, limit=32)
    if not 0 <= limit <= MAX_PAGE:
        raise InvalidArgument([FieldViolation("limit", f"1〜{MAX_PAGE}件で指定してください")])
    stated = bounded_text("purpose", purpose, MAX_PURPOSE, required=True)
    size = limit or DEFAULT_PAGE
    with review.uow() as work:
        rows = work.repo.granted_decisions(program.id, after, size + 1, EVENT_KEY_PREFIX)
        parked = parked_of_program(work.repo.parked_to_payments(MAX_PARKED_READ), program.id)
        work.audit(
            who,
            "ListGrantedDecisions",
            "read",
            application=None,
            fields=("decision",),
            purpose=f"照合: {stated}"[:MAX_PURPOSE],
        )
    page = tuple(rows[:size])
    more = len(rows) > size
    return GrantedPage(page, page[-1].application_number if more else "", parked)
