"""The reconciliation across services as one pure function (subsidy_payments.cross_check):
review's granted decisions = payments' grants = instructions by state = the released 全銀
files less returns, and every difference listed by application number and kind. Plain
values stand for both services; the files are written by the service's own writer."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date

import pytest
from subsidy_payments.cross_check import (
    Amount,
    Decision,
    DecisionState,
    Delivery,
    Grant,
    Instruction,
    Kind,
    PaymentsSide,
    ReleasedFile,
    ReviewSide,
    Revoked,
    compare,
    lines,
)
from subsidy_payments.zengin import Payee, Requester, transfer_file
from subsidy_payments.zengin_read import FileProblem, parse_transfer_file

WARD = Requester("1310400001", "ｼﾝｼﾞﾕｸｸ", "0005", "001", "current", "1234567")
AMOUNT = 20_000


def number(n: int) -> str:
    return f"S2025-{n:06d}"


def decision(n: int, amount: int = AMOUNT, **changes: object) -> Decision:
    made = Decision(number(n), amount, DecisionState.GRANTED, Delivery.DELIVERED)
    return replace(made, **changes)  # type: ignore[arg-type]


def zengin(members: list[Instruction], *, crlf: bool = True) -> bytes:
    payees = [
        Payee(i.id, i.application_number, "0001", "001", "ordinary", "1234567", "ｼﾝｼﾞﾕｸ", i.amount)
        for i in members
    ]
    return transfer_file(WARD, date(2025, 7, 10), payees, crlf=crlf)


def released(
    batch_id: int, members: list[Instruction], content: bytes | None = None
) -> ReleasedFile:
    data = zengin(members) if content is None else content
    digest = hashlib.sha256(zengin(members)).hexdigest()
    total = sum(i.amount for i in members)
    return ReleasedFile(batch_id, len(members), total, digest, digest, data)


def world() -> tuple[ReviewSide, PaymentsSide]:
    """Six grants: pending, batched, sent, paid, returned awaiting, returned and re-sent."""
    review = ReviewSide(tuple(decision(n) for n in range(1, 7)), parked_events=0)
    sent_batch = [
        Instruction(3, number(3), AMOUNT, "SENT", 10),
        Instruction(4, number(4), AMOUNT, "PAID", 10),
        Instruction(5, number(5), AMOUNT, "FAILED", 10),
        Instruction(6, number(6), AMOUNT, "FAILED", 10),
    ]
    instructions = (
        Instruction(1, number(1), AMOUNT, "PENDING", None),
        Instruction(2, number(2), AMOUNT, "BATCHED", 11),
        *sent_batch,
        Instruction(7, number(6), AMOUNT, "PENDING", None),
    )
    payments = PaymentsSide(
        tuple(Grant(number(n), AMOUNT) for n in range(1, 7)),
        instructions,
        (released(10, sent_batch),),
    )
    return review, payments


def kinds(review: ReviewSide, payments: PaymentsSide) -> list[tuple[str, Kind]]:
    return [(d.application_number, d.kind) for d in compare(review, payments).differences]


def test_every_yen_found_once_is_balanced_and_each_state_is_counted() -> None:
    result = compare(*world())
    assert result.balanced and result.differences == ()
    b = result.balance
    assert b.review_granted == b.grants == Amount(6, 120_000)
    assert (b.pending, b.batched, b.sent, b.paid) == (
        Amount(2, 40_000),
        Amount(1, 20_000),
        Amount(1, 20_000),
        Amount(1, 20_000),
    )
    assert b.returned_awaiting == Amount(1, 20_000)
    assert b.retransferred == Amount(1, 20_000)  # number 6, pending again after its return
    assert b.released_files == Amount(1, 80_000) and b.returned == Amount(2, 40_000)
    assert all(left == right for _, left, right in lines(b))


def test_a_decision_missing_in_payments_is_named_by_where_its_event_is() -> None:
    review, payments = world()
    extra = (
        decision(7, delivery=Delivery.DELIVERED),
        decision(8, delivery=Delivery.PARKED),
        decision(9, delivery=Delivery.PENDING),
        decision(10, delivery=Delivery.MISSING),
    )
    result = compare(replace(review, decisions=review.decisions + extra, parked_events=1), payments)
    assert [(d.application_number, d.kind, d.expected) for d in result.differences] == [
        (number(7), Kind.DECISION_NOT_IN_PAYMENTS, AMOUNT),
        (number(8), Kind.DECISION_PARKED, AMOUNT),
        (number(9), Kind.DECISION_IN_TRANSIT, AMOUNT),
        (number(10), Kind.DECISION_NOT_IN_PAYMENTS, AMOUNT),
    ]
    assert not result.balanced and result.parked_events == 1


def test_a_parked_event_alone_unbalances_the_reconciliation() -> None:
    review, payments = world()
    result = compare(replace(review, parked_events=2), payments)
    assert result.differences == () and not result.balanced


def test_amounts_that_differ_between_review_grant_and_instruction_are_each_reported() -> None:
    review, payments = world()
    decisions = (decision(1, 19_000), *review.decisions[1:])
    instructions = tuple(
        replace(i, amount=18_000) if i.id == 2 else i for i in payments.instructions
    )
    result = compare(
        replace(review, decisions=decisions), replace(payments, instructions=instructions)
    )
    assert [(d.application_number, d.kind, d.expected, d.found) for d in result.differences] == [
        (number(1), Kind.AMOUNT_DIFFERS, 19_000, AMOUNT),
        (number(2), Kind.INSTRUCTION_AMOUNT_DIFFERS, AMOUNT, 18_000),
    ]
    assert result.differences[1].batch_id == 11


def test_a_grant_or_an_instruction_without_its_cause_is_reported() -> None:
    review, payments = world()
    result = compare(
        replace(review, decisions=review.decisions[1:]),
        replace(
            payments,
            grants=(*payments.grants, Grant(number(20), AMOUNT)),
            instructions=(
                *payments.instructions,
                Instruction(30, number(21), AMOUNT, "PENDING", None),
            ),
        ),
    )
    assert kinds(review, payments) == []
    assert [(d.application_number, d.kind) for d in result.differences] == [
        (number(1), Kind.GRANT_WITHOUT_DECISION),
        (number(20), Kind.GRANT_WITHOUT_DECISION),
        (number(20), Kind.GRANT_WITHOUT_INSTRUCTION),
        (number(21), Kind.INSTRUCTION_WITHOUT_GRANT),
    ]


def test_two_live_instructions_for_one_grant_are_reported() -> None:
    review, payments = world()
    twice = replace(
        payments,
        instructions=(*payments.instructions, Instruction(40, number(1), AMOUNT, "PENDING", None)),
    )
    assert (number(1), Kind.INSTRUCTIONS_TWICE) in kinds(review, twice)


@pytest.mark.parametrize(
    ("application", "kind"),
    [
        (1, Kind.REVOKED_NOT_STOPPED),  # pending
        (2, Kind.REVOKED_NOT_STOPPED),  # in a batch not released
        (3, Kind.RELEASED_BUT_REVOKED),
        (4, Kind.PAID_BUT_REVOKED),
        (5, Kind.REVOKED_NOT_STOPPED),  # returned, awaiting a corrected account
    ],
)
def test_a_grant_revoked_in_review_is_reported_by_where_its_money_is(
    application: int, kind: Kind
) -> None:
    review, payments = world()
    decisions = tuple(
        replace(d, state=DecisionState.REVOKED)
        if d.application_number == number(application)
        else d
        for d in review.decisions
    )
    result = compare(replace(review, decisions=decisions), payments)
    assert [(d.application_number, d.kind) for d in result.differences] == [
        (number(application), kind)
    ]
    assert result.balance.review_revoked == Amount(1, AMOUNT)
    assert result.balance.review_granted == Amount(5, 100_000)


def test_a_revoked_decision_payments_never_had_is_no_difference() -> None:
    review, payments = world()
    revoked = decision(9, state=DecisionState.REVOKED, delivery=Delivery.MISSING)
    result = compare(replace(review, decisions=(*review.decisions, revoked)), payments)
    assert result.balanced


def test_a_decision_whose_case_is_neither_granted_nor_revoked_is_reported() -> None:
    review, payments = world()
    decisions = (replace(review.decisions[0], state=DecisionState.UNKNOWN), *review.decisions[1:])
    assert kinds(replace(review, decisions=decisions), payments) == [
        (number(1), Kind.DECISION_STATE_UNKNOWN)
    ]


def _with_file(payments: PaymentsSide, file: ReleasedFile) -> PaymentsSide:
    return replace(payments, files=(file,))


def test_a_released_file_whose_bytes_changed_is_altered_and_its_records_are_checked() -> None:
    review, payments = world()
    [file] = payments.files
    members = [i for i in payments.instructions if i.batch_id == 10]
    forged = zengin([replace(m, amount=90_000) if m.id == 3 else m for m in members])
    result = compare(review, _with_file(payments, replace(file, content=forged)))
    found = [(d.application_number, d.kind, d.batch_id) for d in result.differences]
    assert found == [
        ("", Kind.FILE_ALTERED, 10),
        ("", Kind.FILE_TOTAL_DIFFERS, 10),
        (number(3), Kind.FILE_AMOUNT_DIFFERS, 10),
    ]
    assert result.differences[2].expected == AMOUNT and result.differences[2].found == 90_000
    assert not result.balanced


def test_a_release_record_with_another_sha256_is_altered() -> None:
    review, payments = world()
    [file] = payments.files
    result = compare(review, _with_file(payments, replace(file, released_sha256="0" * 64)))
    assert [d.kind for d in result.differences] == [Kind.FILE_ALTERED]


def test_records_missing_from_a_file_or_naming_no_instruction_are_reported() -> None:
    review, payments = world()
    [file] = payments.files
    members = [i for i in payments.instructions if i.batch_id == 10]
    other = Instruction(99, number(99), AMOUNT, "SENT", 10)
    content = zengin([*members[1:], other])
    result = compare(review, _with_file(payments, replace(file, content=content)))
    found = [(d.application_number, d.kind) for d in result.differences]
    assert ("", Kind.FILE_RECORD_UNKNOWN) in found
    assert (number(3), Kind.FILE_RECORD_MISSING) in found


def test_a_file_that_cannot_be_decrypted_or_parsed_is_unreadable() -> None:
    review, payments = world()
    [file] = payments.files
    for broken in (
        replace(file, content=None, unreadable=True),
        replace(file, content=b"1" * 119),
    ):
        result = compare(review, _with_file(payments, broken))
        assert ("", Kind.FILE_UNREADABLE) in [
            (d.application_number, d.kind) for d in result.differences
        ]


def test_a_file_deleted_after_retention_is_counted_unverified_not_a_difference() -> None:
    review, payments = world()
    [file] = payments.files
    result = compare(review, _with_file(payments, replace(file, content=None)))
    assert result.balanced and result.balance.files_unverified == 1
    assert result.balance.released_files == Amount(1, 80_000)


def test_a_sent_instruction_in_no_released_file_is_reported() -> None:
    review, payments = world()
    result = compare(review, replace(payments, files=()))
    assert (number(3), Kind.FILE_RECORD_MISSING) in kinds(review, replace(payments, files=()))
    assert not result.balanced


def test_the_reader_takes_records_with_or_without_crlf_and_refuses_anything_else() -> None:
    members = [Instruction(n, number(n), 1000 * n, "SENT", 1) for n in (1, 2, 3)]
    for crlf in (True, False):
        parsed = parse_transfer_file(zengin(members, crlf=crlf))
        assert [(r.instruction_id, r.amount) for r in parsed.records] == [
            (1, 1000),
            (2, 2000),
            (3, 3000),
        ]
        assert (parsed.trailer_count, parsed.trailer_total) == (3, 6000)
    good = zengin(members, crlf=False)
    for bad in (good[:-1], b"2" + good[1:], good[:240] + b"X" * 120 + good[360:]):
        with pytest.raises(FileProblem):
            parse_transfer_file(bad)


def _revoke(review: ReviewSide, application: int) -> ReviewSide:
    decisions = tuple(
        replace(d, state=DecisionState.REVOKED)
        if d.application_number == number(application)
        else d
        for d in review.decisions
    )
    return replace(review, decisions=decisions)


def test_a_revocation_whose_payment_was_stopped_balances_with_the_stopped_yen_shown() -> None:
    review, payments = world()
    cancelled = tuple(
        replace(i, state="CANCELLED", batch_id=None) if i.id == 1 else i
        for i in payments.instructions
    )
    stopped = replace(payments, instructions=cancelled, revoked=(Revoked(number(1), None),))
    result = compare(_revoke(review, 1), stopped)
    assert result.balanced, result.differences
    b = result.balance
    assert b.stopped == Amount(1, AMOUNT) and b.pending == Amount(1, AMOUNT)
    assert b.review_granted.yen + b.revoked_in_payments.yen == b.grants.yen


def test_a_paid_revoked_grant_is_shown_until_its_repayment_is_settled() -> None:
    review, payments = world()
    for state, shown in (("OPEN", True), ("SETTLED", False), ("RETURNED", False)):
        claimed = replace(payments, revoked=(Revoked(number(4), state, AMOUNT),))
        result = compare(_revoke(review, 4), claimed)
        found = [(d.application_number, d.kind, d.found) for d in result.differences]
        assert found == ([(number(4), Kind.REPAYMENT_OPEN, AMOUNT)] if shown else []), state
        assert result.balanced is not shown


def test_a_revoked_grant_still_waiting_in_payments_is_not_stopped() -> None:
    review, payments = world()
    known = replace(payments, revoked=(Revoked(number(1), None),))
    assert kinds(_revoke(review, 1), known) == [(number(1), Kind.REVOKED_NOT_STOPPED)]
