"""Intake's events arriving at review: a new case, or a correction that reopens one.

Applied at most once per event id (review.processed_events). A RECEIVED event opens the
case as 受付, or as 重複確認待ち when intake found probable duplicates; each flag is stored
once per pair and evidence, and the earlier application of the pair is flagged too when
its state allows (a case already with the ward or decided keeps its state: the checker
sees the flag on the newer one). A CORRECTED event closes the open correction request and
puts the case back to be checked (flagged again when the correction matches another).
"""

from __future__ import annotations

from datetime import date

from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2

from subsidy_platform.application_proto import CHANNELS
from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.limits import identifier
from subsidy_review.repository import MAX_NUMBER
from subsidy_review.service import Review, move, report_status, today
from subsidy_review.states import CaseState, Command, allowed_commands
from subsidy_rules.reasons import EVIDENCE

EVENT_PREFIX = "intake:"
# events.proto allows 200 characters; review.processed_events keeps 200 with the prefix.
MAX_EVENT_ID = 200 - len(EVENT_PREFIX)
KINDS = (events_pb2.ApplicationEvent.RECEIVED, events_pb2.ApplicationEvent.CORRECTED)


def _evidence(value: common_pb2.ReasonCode.ValueType) -> str:
    """A duplicate flag's evidence: one of the evidence codes (SAME_HOUSEHOLD, ...) only."""
    try:
        name = common_pb2.ReasonCode.Name(value)
    except ValueError:
        name = ""
    if name not in EVIDENCE_CODES:
        raise InvalidArgument(
            [FieldViolation("duplicates.evidence", "重複の根拠コードが正しくありません")]
        )
    return name


EVIDENCE_CODES = frozenset(str(reason) for reason in EVIDENCE)


def apply_application_event(review: Review, event: events_pb2.ApplicationEvent) -> bool:
    """Apply one event from intake; False when it had been applied already.

    The whole event is checked before anything is read or written."""
    key = identifier("event_id", event.event_id, limit=MAX_EVENT_ID)
    if event.kind not in KINDS:
        raise InvalidArgument([FieldViolation("kind", "イベントの種類が正しくありません")])
    number = identifier("application_number", event.application_number, limit=MAX_NUMBER)
    program = review.program(event.program_id)
    try:
        received_on = date.fromisoformat(event.received_on)
    except ValueError:
        raise InvalidArgument(
            [FieldViolation("received_on", "日付の形式が正しくありません")]
        ) from None
    channel = CHANNELS.get(event.channel)
    if channel is None:
        raise InvalidArgument([FieldViolation("channel", "受付経路が正しくありません")])
    flags = [
        (
            identifier(
                "duplicates.other_application_number", f.other_application_number, limit=MAX_NUMBER
            ),
            _evidence(f.evidence),
        )
        for f in event.duplicates
    ]
    with review.uow() as work:
        if not work.repo.first_time(f"{EVENT_PREFIX}{key}", program.id):
            return False
        work.lock(f"case:{number}")
        repo = review.repo(work, program.id)
        if event.kind == events_pb2.ApplicationEvent.RECEIVED:
            state = CaseState.DUPLICATE_SUSPECTED if flags else CaseState.RECEIVED
            repo.add_case(number, program.id, received_on, channel, str(state))
            report_status(work, program.id, number, state)
        elif event.kind == events_pb2.ApplicationEvent.CORRECTED:
            case = repo.case(number, for_update=True)
            if Command.CORRECTION_RECEIVED in allowed_commands(CaseState(case.state)):
                repo.close_correction(number, corrected_on=today(), expired=False)
                move(work, repo.case(number), Command.CORRECTION_RECEIVED, note="補正受付")
        else:
            raise InvalidArgument([FieldViolation("kind", "イベントの種類が正しくありません")])
        for other, evidence in flags:
            if repo.add_flag(program.id, number, other, evidence):
                for flagged in repo.cases([number, other], for_update=True):
                    if Command.FLAG_DUPLICATE in allowed_commands(CaseState(flagged.state)):
                        move(work, flagged, Command.FLAG_DUPLICATE, note="重複の疑い")
    return True
