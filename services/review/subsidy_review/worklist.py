"""The checker's worklist: cases by received date (oldest first), filtered, in pages.

Filters: to check (受付), flagged duplicates, missing attachments, awaiting correction,
ready for the ward (審査済), with the ward (引渡し済・減額承認待ち); no filter lists every
case not yet decided. Pages are keyset pages: the token is the last (received date,
application number) of the previous page, so a page never shifts while cases change.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date

from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.limits import identifier
from subsidy_review.repository import MAX_NUMBER, Case
from subsidy_review.service import Review
from subsidy_review.states import CaseState

OPEN = tuple(
    str(s)
    for s in CaseState
    if s not in (CaseState.GRANTED, CaseState.NOT_GRANTED, CaseState.WITHDRAWN, CaseState.REVOKED)
)
FILTERS: dict[str, tuple[tuple[str, ...], bool | None]] = {
    "ALL": (OPEN, None),
    "TO_CHECK": ((str(CaseState.RECEIVED),), None),
    "FLAGGED_DUPLICATES": ((str(CaseState.DUPLICATE_SUSPECTED),), None),
    "MISSING_ATTACHMENTS": ((str(CaseState.RECEIVED), str(CaseState.AWAITING_CORRECTION)), True),
    "AWAITING_CORRECTION": ((str(CaseState.AWAITING_CORRECTION),), None),
    "READY_FOR_WARD": ((str(CaseState.CHECKED),), None),
    "WITH_THE_WARD": ((str(CaseState.HANDED_OVER), str(CaseState.PENDING_APPROVAL)), None),
}
MAX_PAGE = 200
DEFAULT_PAGE = 50


@dataclass(frozen=True, slots=True)
class Page:
    cases: list[Case]
    next_token: str
    total: int


def list_worklist(
    review: Review, program_id: str, filter_name: str, page_size: int, token: str
) -> Page:
    program = review.program(program_id)
    if filter_name not in FILTERS:
        raise InvalidArgument([FieldViolation("filter", "絞り込み条件が正しくありません")])
    if page_size == 0:
        page_size = DEFAULT_PAGE
    if not 1 <= page_size <= MAX_PAGE:
        raise InvalidArgument([FieldViolation("page_size", "1〜200件で指定してください")])
    states, missing = FILTERS[filter_name]
    with review.uow() as work:
        cases, total = work.repo.worklist(
            program.id, states, attachments_missing=missing, after=_decode(token), limit=page_size
        )
    last = cases[-1] if len(cases) == page_size else None
    return Page(cases, _encode(last) if last else "", total)


def _encode(case: Case) -> str:
    raw = f"{case.received_on.isoformat()}|{case.application_number}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode(token: str) -> tuple[date, str] | None:
    if not token:
        return None
    try:
        if len(token) > 200:
            raise ValueError
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        on, number = raw.decode("ascii").split("|", 1)
        identifier("page_token", number, limit=MAX_NUMBER)
        return date.fromisoformat(on), number
    except (ValueError, UnicodeError, InvalidArgument):
        raise InvalidArgument(
            [FieldViolation("page_token", "ページトークンが正しくありません")]
        ) from None
