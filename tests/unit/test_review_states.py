"""The review state machine: every allowed transition, refusals, and random command runs.

One household, one live grant: a duplicate refusal applies in every state before the
ward's decision, and a grant accepts only its revocation (交付決定の取消)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from subsidy_review.states import (
    COMMAND_LABELS,
    DECIDED,
    DECISION_COMMANDS,
    LABELS,
    PRE_DECISION,
    PROPOSED_REFUSALS,
    TERMINAL,
    TRANSITIONS,
    CaseState,
    Command,
    TransitionRefused,
    allowed_commands,
    is_terminal,
    next_state,
    timeline_status,
)

from subsidy_rules.reasons import Reason

S = CaseState
C = Command
NON_TERMINAL = [state for state in S if state not in TERMINAL]
BEFORE_DECISION = [state for state in S if state not in DECIDED]

ALLOWED: list[tuple[CaseState | None, Command, CaseState]] = [
    (None, C.RECEIVE_CLEAN, S.RECEIVED),
    (None, C.RECEIVE_FLAGGED, S.DUPLICATE_SUSPECTED),
    (S.RECEIVED, C.FLAG_DUPLICATE, S.DUPLICATE_SUSPECTED),
    (S.CHECKED, C.FLAG_DUPLICATE, S.DUPLICATE_SUSPECTED),
    (S.AWAITING_CORRECTION, C.FLAG_DUPLICATE, S.DUPLICATE_SUSPECTED),
    (S.DUPLICATE_SUSPECTED, C.KEEP_IN_GROUP, S.RECEIVED),
    (S.DUPLICATE_SUSPECTED, C.CLEAR_FLAG, S.RECEIVED),
    (S.DUPLICATE_SUSPECTED, C.REFUSE_AS_DUPLICATE, S.CHECKED),
    (S.RECEIVED, C.REFUSE_AS_DUPLICATE, S.CHECKED),
    (S.AWAITING_CORRECTION, C.REFUSE_AS_DUPLICATE, S.CHECKED),
    (S.CHECKED, C.REFUSE_AS_DUPLICATE, S.CHECKED),
    (S.HANDED_OVER, C.REFUSE_AS_DUPLICATE, S.HANDED_OVER),
    (S.PENDING_APPROVAL, C.REFUSE_AS_DUPLICATE, S.HANDED_OVER),
    (S.RECEIVED, C.RECORD_CHECK, S.CHECKED),
    (S.RECEIVED, C.REQUEST_CORRECTION, S.AWAITING_CORRECTION),
    (S.CHECKED, C.REQUEST_CORRECTION, S.AWAITING_CORRECTION),
    (S.AWAITING_CORRECTION, C.EXTEND_DEADLINE, S.AWAITING_CORRECTION),
    (S.AWAITING_CORRECTION, C.CORRECTION_RECEIVED, S.RECEIVED),
    (S.AWAITING_CORRECTION, C.CORRECTION_EXPIRED, S.CHECKED),
    (S.CHECKED, C.HAND_OVER, S.HANDED_OVER),
    (S.CHECKED, C.DECIDE_GRANT, S.GRANTED),
    (S.HANDED_OVER, C.DECIDE_GRANT, S.GRANTED),
    (S.CHECKED, C.DECIDE_REDUCED_GRANT, S.PENDING_APPROVAL),
    (S.HANDED_OVER, C.DECIDE_REDUCED_GRANT, S.PENDING_APPROVAL),
    (S.PENDING_APPROVAL, C.APPROVE_REDUCTION, S.GRANTED),
    (S.PENDING_APPROVAL, C.REJECT_REDUCTION, S.HANDED_OVER),
    (S.CHECKED, C.DECIDE_NOT_GRANT, S.NOT_GRANTED),
    (S.HANDED_OVER, C.DECIDE_NOT_GRANT, S.NOT_GRANTED),
    (S.GRANTED, C.REVOKE_GRANT, S.REVOKED),
    *[(state, C.WITHDRAW, S.WITHDRAWN) for state in BEFORE_DECISION],
]

REFUSED: list[tuple[CaseState | None, Command]] = [
    (None, C.RECORD_CHECK),
    (None, C.WITHDRAW),
    (None, C.DECIDE_GRANT),
    (S.RECEIVED, C.RECEIVE_CLEAN),
    (S.RECEIVED, C.HAND_OVER),
    (S.RECEIVED, C.DECIDE_GRANT),
    (S.DUPLICATE_SUSPECTED, C.RECORD_CHECK),
    (S.DUPLICATE_SUSPECTED, C.HAND_OVER),
    (S.DUPLICATE_SUSPECTED, C.FLAG_DUPLICATE),
    (S.AWAITING_CORRECTION, C.RECORD_CHECK),
    (S.AWAITING_CORRECTION, C.DECIDE_NOT_GRANT),
    (S.CHECKED, C.CORRECTION_RECEIVED),
    (S.CHECKED, C.APPROVE_REDUCTION),
    (S.HANDED_OVER, C.HAND_OVER),
    (S.HANDED_OVER, C.REQUEST_CORRECTION),
    (S.HANDED_OVER, C.FLAG_DUPLICATE),
    (S.PENDING_APPROVAL, C.DECIDE_GRANT),
    (S.PENDING_APPROVAL, C.DECIDE_REDUCED_GRANT),
    (S.GRANTED, C.WITHDRAW),
    (S.GRANTED, C.DECIDE_NOT_GRANT),
    (S.NOT_GRANTED, C.DECIDE_GRANT),
    (S.WITHDRAWN, C.RECEIVE_CLEAN),
    (S.GRANTED, C.REFUSE_AS_DUPLICATE),
    (S.NOT_GRANTED, C.REVOKE_GRANT),
    (S.REVOKED, C.REVOKE_GRANT),
    (S.REVOKED, C.DECIDE_GRANT),
    (S.HANDED_OVER, C.REVOKE_GRANT),
]


@pytest.mark.parametrize(("state", "command", "target"), ALLOWED)
def test_each_allowed_transition_reaches_its_state(
    state: CaseState | None, command: Command, target: CaseState
) -> None:
    assert next_state(state, command) is target


def test_the_table_holds_exactly_the_allowed_transitions() -> None:
    assert dict(TRANSITIONS) == {(state, command): target for state, command, target in ALLOWED}


@pytest.mark.parametrize(("state", "command"), REFUSED)
def test_a_command_outside_the_table_is_refused(state: CaseState | None, command: Command) -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_state(state, command)
    assert refused.value.state is state
    assert refused.value.command is command


def test_the_refusal_names_the_current_state_in_japanese() -> None:
    with pytest.raises(TransitionRefused) as refused:
        next_state(S.AWAITING_CORRECTION, C.HAND_OVER)
    assert str(refused.value).startswith("この申請は現在の状態（補正依頼中）ではこの操作")
    assert "区への引渡し" in refused.value.message


def test_a_command_before_any_case_exists_says_so() -> None:
    with pytest.raises(TransitionRefused, match="まだ受け付けられていない"):
        next_state(None, C.RECORD_CHECK)


def test_a_case_starts_only_by_being_received() -> None:
    assert allowed_commands(None) == {C.RECEIVE_CLEAN, C.RECEIVE_FLAGGED}


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_a_terminal_state_accepts_no_command(state: CaseState) -> None:
    assert is_terminal(state)
    assert allowed_commands(state) == frozenset()
    for command in C:
        with pytest.raises(TransitionRefused):
            next_state(state, command)


def test_only_not_granted_withdrawn_and_revoked_are_terminal() -> None:
    assert {state for state in S if is_terminal(state)} == {S.NOT_GRANTED, S.WITHDRAWN, S.REVOKED}
    assert not is_terminal(None)


def test_a_grant_accepts_only_its_revocation() -> None:
    assert allowed_commands(S.GRANTED) == {C.REVOKE_GRANT}
    assert next_state(S.GRANTED, C.REVOKE_GRANT) is S.REVOKED


@pytest.mark.parametrize("state", sorted(PRE_DECISION))
def test_keeping_another_member_refuses_a_case_in_every_state_before_the_decision(
    state: CaseState,
) -> None:
    after = next_state(state, C.REFUSE_AS_DUPLICATE)
    assert after in {S.CHECKED, S.HANDED_OVER}
    assert after not in DECIDED


def test_a_case_with_the_ward_stays_with_the_ward_when_refused_as_a_duplicate() -> None:
    assert next_state(S.HANDED_OVER, C.REFUSE_AS_DUPLICATE) is S.HANDED_OVER
    assert next_state(S.PENDING_APPROVAL, C.REFUSE_AS_DUPLICATE) is S.HANDED_OVER


@pytest.mark.parametrize("state", sorted(DECIDED))
def test_a_decided_case_is_never_refused_as_a_duplicate(state: CaseState) -> None:
    with pytest.raises(TransitionRefused):
        next_state(state, C.REFUSE_AS_DUPLICATE)


def test_allowed_commands_agree_with_the_table() -> None:
    for state in [None, *S]:
        expected = {command for (origin, command) in TRANSITIONS if origin is state}
        assert allowed_commands(state) == expected


def test_decision_commands_are_those_that_reach_a_decision() -> None:
    deciding = {
        command
        for (_, command), target in TRANSITIONS.items()
        if target in {S.GRANTED, S.NOT_GRANTED}
    }
    assert deciding == DECISION_COMMANDS
    assert C.DECIDE_REDUCED_GRANT not in DECISION_COMMANDS


def test_duplicate_refusal_and_expired_correction_carry_a_not_granted_proposal() -> None:
    assert PROPOSED_REFUSALS == {
        C.REFUSE_AS_DUPLICATE: Reason.DUPLICATE_HOUSEHOLD,
        C.CORRECTION_EXPIRED: Reason.CORRECTION_NOT_SUBMITTED,
    }
    assert next_state(S.DUPLICATE_SUSPECTED, C.REFUSE_AS_DUPLICATE) is S.CHECKED
    assert next_state(S.AWAITING_CORRECTION, C.CORRECTION_EXPIRED) is S.CHECKED


def test_every_state_and_command_has_a_japanese_label() -> None:
    assert LABELS == {
        S.RECEIVED: "受付",
        S.DUPLICATE_SUSPECTED: "重複確認待ち",
        S.AWAITING_CORRECTION: "補正依頼中",
        S.CHECKED: "審査済",
        S.HANDED_OVER: "区へ引渡し済",
        S.PENDING_APPROVAL: "減額承認待ち",
        S.GRANTED: "交付決定",
        S.NOT_GRANTED: "不交付決定",
        S.WITHDRAWN: "取下げ",
        S.REVOKED: "交付決定取消",
    }
    assert set(COMMAND_LABELS) == set(C)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (S.RECEIVED, "UNDER_REVIEW"),
        (S.DUPLICATE_SUSPECTED, "DUPLICATE_SUSPECTED"),
        (S.AWAITING_CORRECTION, "CORRECTION_REQUESTED"),
        (S.CHECKED, "UNDER_REVIEW"),
        (S.HANDED_OVER, "UNDER_REVIEW"),
        (S.PENDING_APPROVAL, "UNDER_REVIEW"),
        (S.GRANTED, "GRANTED"),
        (S.NOT_GRANTED, "NOT_GRANTED"),
        (S.WITHDRAWN, "WITHDRAWN"),
        (S.REVOKED, "GRANT_REVOKED"),
    ],
)
def test_each_state_reports_its_intake_timeline_status(state: CaseState, status: str) -> None:
    assert timeline_status(state) == status


def test_timeline_statuses_are_application_statuses_of_the_common_proto() -> None:
    proto = (
        Path(__file__).resolve().parents[2] / "proto/subsidy/common/v1/common.proto"
    ).read_text()
    block = re.search(r"enum ApplicationStatus \{(.*?)\}", proto, re.S)
    assert block is not None
    names = set(re.findall(r"^\s*([A-Z_]+) = \d+;", block.group(1), re.M))
    assert {timeline_status(state) for state in S} <= names


COMMANDS = sorted(C)
# Each step: (follow the table?, index). Following the table half of the time reaches the
# deep states (減額承認待ち, decisions) that uniformly random commands seldom reach.
STEPS = st.lists(st.tuples(st.booleans(), st.integers(0, 10_000)), max_size=60)


def pick(state: CaseState | None, follow: bool, index: int) -> Command:
    """A command allowed in ``state`` when following the table, else any command."""
    allowed = sorted(allowed_commands(state))
    pool = allowed if follow and allowed else COMMANDS
    return pool[index % len(pool)]


@settings(max_examples=500)
@given(STEPS)
def test_random_command_runs_never_leave_the_table_and_decide_at_most_once(
    steps: list[tuple[bool, int]],
) -> None:
    state: CaseState | None = None
    decisions: list[CaseState] = []
    for follow, index in steps:
        command = pick(state, follow, index)
        before = state
        try:
            after = next_state(state, command)
        except TransitionRefused as refused:
            assert (before, command) not in TRANSITIONS
            assert command not in allowed_commands(before)
            assert refused.state is before
            assert refused.command is command
            continue
        assert TRANSITIONS[(before, command)] is after
        assert not is_terminal(before)
        if after in {S.GRANTED, S.NOT_GRANTED}:
            assert command in DECISION_COMMANDS
            decisions.append(after)
        state = after
    assert len(decisions) <= 1
    if is_terminal(state):
        assert allowed_commands(state) == frozenset()
