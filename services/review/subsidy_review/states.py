"""The review state machine: where a case is between intake and the ward's decision.

It follows the flow of the Shinjuku FY2025 program (DOMAIN.md, 資料4-1): a case arrives
from intake (step 3), is checked by the contractor, possibly after a correction request
(補正依頼) or a duplicate check (1世帯につき1回限り), is handed over to the ward (step 5) and
ends in the ward's decision (steps 6 and 7: 交付決定 / 不交付決定) or a withdrawal (取下げ).
A grant lower than the rules' amount needs a second ward officer (減額承認待ち).

One household, one live grant: keeping one member of a duplicate group refuses the others
(REFUSE_AS_DUPLICATE) in every state before the ward's decision; a case already with the
ward stays with it, proposed as not granted (a pending reduction goes back to the ward). A
grant found to be a household's second after the fact is revoked by the ward
(交付決定の取消: GRANTED -> REVOKED), the only command a grant accepts.

One table, ``TRANSITIONS``, lists every allowed ``(state, command) -> state``; ``None``
is the state before a case exists. Nothing else moves a case: ``next_state`` looks the
pair up and raises ``TransitionRefused`` (with a Japanese message for staff) otherwise.
The terminal states (不交付決定, 取下げ, 交付決定取消) accept no command and 交付決定
accepts only its revocation, so a case is decided at most once. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from subsidy_rules.reasons import Reason


class CaseState(StrEnum):
    """Where a case is in review."""

    RECEIVED = "RECEIVED"
    DUPLICATE_SUSPECTED = "DUPLICATE_SUSPECTED"
    AWAITING_CORRECTION = "AWAITING_CORRECTION"
    CHECKED = "CHECKED"
    HANDED_OVER = "HANDED_OVER"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    GRANTED = "GRANTED"
    NOT_GRANTED = "NOT_GRANTED"
    WITHDRAWN = "WITHDRAWN"
    REVOKED = "REVOKED"


class Command(StrEnum):
    """What staff (or intake, for the two RECEIVE commands) do to a case."""

    RECEIVE_CLEAN = "RECEIVE_CLEAN"
    RECEIVE_FLAGGED = "RECEIVE_FLAGGED"
    FLAG_DUPLICATE = "FLAG_DUPLICATE"
    KEEP_IN_GROUP = "KEEP_IN_GROUP"
    CLEAR_FLAG = "CLEAR_FLAG"
    REFUSE_AS_DUPLICATE = "REFUSE_AS_DUPLICATE"
    RECORD_CHECK = "RECORD_CHECK"
    REQUEST_CORRECTION = "REQUEST_CORRECTION"
    EXTEND_DEADLINE = "EXTEND_DEADLINE"
    CORRECTION_RECEIVED = "CORRECTION_RECEIVED"
    CORRECTION_EXPIRED = "CORRECTION_EXPIRED"
    HAND_OVER = "HAND_OVER"
    DECIDE_GRANT = "DECIDE_GRANT"
    DECIDE_REDUCED_GRANT = "DECIDE_REDUCED_GRANT"
    APPROVE_REDUCTION = "APPROVE_REDUCTION"
    REJECT_REDUCTION = "REJECT_REDUCTION"
    DECIDE_NOT_GRANT = "DECIDE_NOT_GRANT"
    WITHDRAW = "WITHDRAW"
    REVOKE_GRANT = "REVOKE_GRANT"


_S = CaseState
_C = Command

DECIDED: frozenset[CaseState] = frozenset({_S.GRANTED, _S.NOT_GRANTED, _S.WITHDRAWN, _S.REVOKED})
"""The ward has decided (or the applicant withdrew): no state before the ward's decision."""

TERMINAL: frozenset[CaseState] = frozenset({_S.NOT_GRANTED, _S.WITHDRAWN, _S.REVOKED})
"""States that accept no command at all."""

PRE_DECISION: frozenset[CaseState] = frozenset(s for s in _S if s not in DECIDED)
"""Every state before the ward's decision: where keeping another member refuses a case."""

_TABLE: dict[tuple[CaseState | None, Command], CaseState] = {
    (None, _C.RECEIVE_CLEAN): _S.RECEIVED,
    (None, _C.RECEIVE_FLAGGED): _S.DUPLICATE_SUSPECTED,
    (_S.RECEIVED, _C.FLAG_DUPLICATE): _S.DUPLICATE_SUSPECTED,
    (_S.CHECKED, _C.FLAG_DUPLICATE): _S.DUPLICATE_SUSPECTED,
    (_S.AWAITING_CORRECTION, _C.FLAG_DUPLICATE): _S.DUPLICATE_SUSPECTED,
    (_S.DUPLICATE_SUSPECTED, _C.KEEP_IN_GROUP): _S.RECEIVED,
    (_S.DUPLICATE_SUSPECTED, _C.CLEAR_FLAG): _S.RECEIVED,
    (_S.DUPLICATE_SUSPECTED, _C.REFUSE_AS_DUPLICATE): _S.CHECKED,
    (_S.RECEIVED, _C.REFUSE_AS_DUPLICATE): _S.CHECKED,
    (_S.AWAITING_CORRECTION, _C.REFUSE_AS_DUPLICATE): _S.CHECKED,
    (_S.CHECKED, _C.REFUSE_AS_DUPLICATE): _S.CHECKED,
    (_S.HANDED_OVER, _C.REFUSE_AS_DUPLICATE): _S.HANDED_OVER,
    (_S.PENDING_APPROVAL, _C.REFUSE_AS_DUPLICATE): _S.HANDED_OVER,
    (_S.RECEIVED, _C.RECORD_CHECK): _S.CHECKED,
    (_S.RECEIVED, _C.REQUEST_CORRECTION): _S.AWAITING_CORRECTION,
    (_S.CHECKED, _C.REQUEST_CORRECTION): _S.AWAITING_CORRECTION,
    (_S.AWAITING_CORRECTION, _C.EXTEND_DEADLINE): _S.AWAITING_CORRECTION,
    (_S.AWAITING_CORRECTION, _C.CORRECTION_RECEIVED): _S.RECEIVED,
    (_S.AWAITING_CORRECTION, _C.CORRECTION_EXPIRED): _S.CHECKED,
    (_S.CHECKED, _C.HAND_OVER): _S.HANDED_OVER,
    (_S.CHECKED, _C.DECIDE_GRANT): _S.GRANTED,
    (_S.HANDED_OVER, _C.DECIDE_GRANT): _S.GRANTED,
    (_S.CHECKED, _C.DECIDE_REDUCED_GRANT): _S.PENDING_APPROVAL,
    (_S.HANDED_OVER, _C.DECIDE_REDUCED_GRANT): _S.PENDING_APPROVAL,
    (_S.PENDING_APPROVAL, _C.APPROVE_REDUCTION): _S.GRANTED,
    (_S.PENDING_APPROVAL, _C.REJECT_REDUCTION): _S.HANDED_OVER,
    (_S.CHECKED, _C.DECIDE_NOT_GRANT): _S.NOT_GRANTED,
    (_S.HANDED_OVER, _C.DECIDE_NOT_GRANT): _S.NOT_GRANTED,
    (_S.GRANTED, _C.REVOKE_GRANT): _S.REVOKED,
}
_TABLE.update({(state, _C.WITHDRAW): _S.WITHDRAWN for state in PRE_DECISION})

TRANSITIONS: Mapping[tuple[CaseState | None, Command], CaseState] = MappingProxyType(_TABLE)
"""Every allowed transition; a pair that is not here is refused."""

DECISION_COMMANDS: frozenset[Command] = frozenset(
    {_C.DECIDE_GRANT, _C.APPROVE_REDUCTION, _C.DECIDE_NOT_GRANT}
)
"""The commands that end in the ward's decision (交付決定 or 不交付決定)."""

PROPOSED_REFUSALS: Mapping[Command, Reason] = MappingProxyType(
    {
        _C.REFUSE_AS_DUPLICATE: Reason.DUPLICATE_HOUSEHOLD,
        _C.CORRECTION_EXPIRED: Reason.CORRECTION_NOT_SUBMITTED,
    }
)
"""Commands after which the case carries the proposal "not granted" with this reason."""

LABELS: Mapping[CaseState, str] = MappingProxyType(
    {
        _S.RECEIVED: "受付",
        _S.DUPLICATE_SUSPECTED: "重複確認待ち",
        _S.AWAITING_CORRECTION: "補正依頼中",
        _S.CHECKED: "審査済",
        _S.HANDED_OVER: "区へ引渡し済",
        _S.PENDING_APPROVAL: "減額承認待ち",
        _S.GRANTED: "交付決定",
        _S.NOT_GRANTED: "不交付決定",
        _S.WITHDRAWN: "取下げ",
        _S.REVOKED: "交付決定取消",
    }
)
"""The Japanese name of each state, as staff read it."""

COMMAND_LABELS: Mapping[Command, str] = MappingProxyType(
    {
        _C.RECEIVE_CLEAN: "受付",
        _C.RECEIVE_FLAGGED: "受付（重複の疑いあり）",
        _C.FLAG_DUPLICATE: "重複の疑いの登録",
        _C.KEEP_IN_GROUP: "重複確認（同一世帯として保留）",
        _C.CLEAR_FLAG: "重複の疑いの解除",
        _C.REFUSE_AS_DUPLICATE: "重複申請として不交付案",
        _C.RECORD_CHECK: "審査結果の記録",
        _C.REQUEST_CORRECTION: "補正依頼",
        _C.EXTEND_DEADLINE: "補正期限の延長",
        _C.CORRECTION_RECEIVED: "補正の受付",
        _C.CORRECTION_EXPIRED: "補正期限切れ",
        _C.HAND_OVER: "区への引渡し",
        _C.DECIDE_GRANT: "交付決定",
        _C.DECIDE_REDUCED_GRANT: "減額交付決定",
        _C.APPROVE_REDUCTION: "減額の承認",
        _C.REJECT_REDUCTION: "減額の差戻し",
        _C.DECIDE_NOT_GRANT: "不交付決定",
        _C.WITHDRAW: "取下げ",
        _C.REVOKE_GRANT: "交付決定の取消",
    }
)
"""The Japanese name of each command, for messages and audit screens."""

_TIMELINE: Mapping[CaseState, str] = MappingProxyType(
    {
        _S.RECEIVED: "UNDER_REVIEW",
        _S.DUPLICATE_SUSPECTED: "DUPLICATE_SUSPECTED",
        _S.AWAITING_CORRECTION: "CORRECTION_REQUESTED",
        _S.CHECKED: "UNDER_REVIEW",
        _S.HANDED_OVER: "UNDER_REVIEW",
        _S.PENDING_APPROVAL: "UNDER_REVIEW",
        _S.GRANTED: "GRANTED",
        _S.NOT_GRANTED: "NOT_GRANTED",
        _S.WITHDRAWN: "WITHDRAWN",
        _S.REVOKED: "GRANT_REVOKED",
    }
)


class TransitionRefused(ValueError):
    """A command that the case's current state does not allow; the message is Japanese."""

    def __init__(self, state: CaseState | None, command: Command) -> None:
        self.state = state
        self.command = command
        action = COMMAND_LABELS[command]
        if state is None:
            message = f"この申請はまだ受け付けられていないため、この操作（{action}）を行えません"
        else:
            message = f"この申請は現在の状態（{LABELS[state]}）ではこの操作（{action}）を行えません"
        self.message = message
        super().__init__(message)


def next_state(state: CaseState | None, command: Command) -> CaseState:
    """The state after ``command``; raises ``TransitionRefused`` if the table has no entry."""
    try:
        return TRANSITIONS[(state, command)]
    except KeyError:
        raise TransitionRefused(state, command) from None


def allowed_commands(state: CaseState | None) -> frozenset[Command]:
    """The commands ``state`` accepts (empty for a terminal state)."""
    return _ALLOWED.get(state, frozenset())


def is_terminal(state: CaseState | None) -> bool:
    """True for 不交付決定, 取下げ and 交付決定取消: the case accepts no further command."""
    return state in TERMINAL


def timeline_status(state: CaseState) -> str:
    """The intake timeline status (common.v1 ApplicationStatus name) that ``state`` reports."""
    return _TIMELINE[state]


def _allowed() -> dict[CaseState | None, frozenset[Command]]:
    grouped: dict[CaseState | None, set[Command]] = {}
    for state, command in TRANSITIONS:
        grouped.setdefault(state, set()).add(command)
    return {state: frozenset(commands) for state, commands in grouped.items()}


_ALLOWED = _allowed()
