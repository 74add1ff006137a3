"""Correction requests (補正依頼): what to correct or supply, and by when.

The checker names the fields or documents and what is wrong (Japanese, for the letter),
and a deadline (default 14 days). The case waits as 補正依頼中; the request goes to the
notices service (`review.correction` event) and the timeline shows 補正依頼中. The
correction itself comes back through intake, whose event reopens the case. Past the
deadline, `expire` sends the case to the ward proposed as not granted
(CORRECTION_NOT_SUBMITTED) unless the deadline was extended. 補正依頼日 and 補正の内容 are
kept (the items encrypted) and shown to the call center with the case. The event carries
the items only as that ciphertext (`items_ciphertext`), never in plaintext: a checker's
free text may hold personal data, and the outbox row is in WAL and backups.

Dates are the ward's (Asia/Tokyo, `ward_clock.ward_today`): a deadline is after today and
at most 120 days on; an extension moves the deadline later, never earlier; `expire`'s
`as_of` is today or a past day, never a future one, so that no correction expires before
its deadline has passed. Every request, extension and expiry is an audit event of the
application with who made it (`service.move`).
"""

from __future__ import annotations

from datetime import date, timedelta

from subsidy.events.v1 import events_pb2

from subsidy_platform.access import Principal
from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier
from subsidy_review.repository import Case
from subsidy_review.service import CORRECTION_TOPIC, Review, move, today
from subsidy_review.states import Command
from subsidy_rules.reasons import Reason

DEFAULT_DAYS = 14
MAX_ITEMS = 20
MAX_DAYS = 120


def _deadline(value: str, field: str = "deadline") -> date:
    if not value:
        return today() + timedelta(days=DEFAULT_DAYS)
    try:
        deadline = date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            [FieldViolation(field, "日付は YYYY-MM-DD で入力してください")]
        ) from None
    if not today() < deadline <= today() + timedelta(days=MAX_DAYS):
        raise InvalidArgument([FieldViolation(field, "期限は明日から120日以内で指定してください")])
    return deadline


def request_correction(
    review: Review,
    who: Principal,
    request_id: str,
    number: str,
    items: list[tuple[str, str]],
    deadline_text: str,
) -> Case:
    identifier("request_id", request_id)
    identifier("application_number", number)
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidArgument([FieldViolation("items", "補正の内容を1〜20件で指定してください")])
    checked = [
        (identifier(f"items[{i}].field", f), bounded_text(f"items[{i}].problem", p, required=True))
        for i, (f, p) in enumerate(items)
    ]
    deadline = _deadline(deadline_text)
    with review.uow() as work:
        if work.repo.command_seen(request_id, "RequestCorrection", number, who.subject):
            return work.repo.case(number)
        work.lock(f"case:{number}")
        case = work.repo.case(number, for_update=True)
        repo = review.repo(work, case.program_id)
        sealed = repo.add_correction(
            case.program_id, number, today(), deadline, checked, who.subject
        )
        move(
            work,
            case,
            Command.REQUEST_CORRECTION,
            note="補正依頼",
            who=who,
            claimed_by=None,
            claim_expires_at=None,
        )
        work.publish(
            CORRECTION_TOPIC,
            f"correction-{request_id}",
            events_pb2.CorrectionRequestEvent(
                event_id=f"correction-{request_id}",
                application_number=number,
                program_id=case.program_id,
                items_ciphertext=sealed,
                requested_on=today().isoformat(),
                deadline=deadline.isoformat(),
            ),
        )
        work.audit(
            who,
            "RequestCorrection",
            "update",
            application=number,
            fields=("correction",),
            purpose="補正依頼",
        )
        return work.repo.case(number)


def extend_deadline(
    review: Review, who: Principal, request_id: str, number: str, deadline_text: str
) -> Case:
    identifier("request_id", request_id)
    identifier("application_number", number)
    deadline = _deadline(deadline_text)
    with review.uow() as work:
        if work.repo.command_seen(request_id, "ExtendCorrectionDeadline", number, who.subject):
            return work.repo.case(number)
        work.lock(f"case:{number}")
        case = work.repo.case(number, for_update=True)
        move(work, case, Command.EXTEND_DEADLINE, who=who)
        current = work.repo.open_deadline(number)
        if current is not None and deadline <= current:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "deadline",
                        f"延長後の期限は現在の期限（{current.isoformat()}）より後の日付にしてください",
                    )
                ]
            )
        work.repo.extend_correction(number, deadline)
        return work.repo.case(number)


def expire(review: Review, who: Principal, program_id: str, as_of_text: str) -> list[str]:
    """Cases whose deadline passed without a correction go to the ward as not granted."""
    program = review.program(program_id)
    as_of = _as_of(as_of_text)
    with review.uow() as work:
        work.lock(f"corrections:{program.id}")
        overdue = work.repo.overdue(program.id, as_of)
        for number in overdue:
            case = work.repo.case(number, for_update=True)
            work.repo.close_correction(number, corrected_on=None, expired=True)
            move(
                work,
                case,
                Command.CORRECTION_EXPIRED,
                note="補正期限切れ",
                who=who,
                proposal_granted=False,
                rules_amount=0,
                proposal_reasons=[str(Reason.CORRECTION_NOT_SUBMITTED)],
            )
        return overdue


def _as_of(value: str) -> date:
    """The day on which deadlines are judged: today by default, never a future day."""
    if not value:
        return today()
    try:
        as_of = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        as_of = None
    if as_of is None:
        raise InvalidArgument([FieldViolation("as_of", "日付は YYYY-MM-DD で入力してください")])
    if as_of > today():
        raise InvalidArgument(
            [
                FieldViolation(
                    "as_of",
                    f"基準日に未来の日付は指定できません（今日は{today().isoformat()}です）。"
                    "期限が来ていない補正依頼は期限切れにできません",
                )
            ]
        )
    return as_of
