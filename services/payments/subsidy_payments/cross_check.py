"""The reconciliation across services (照合, issue 15) as one pure function: sides in,
balance and differences out.

Per program, every yen the ward granted must be found, once, all the way to the bank:

    review's granted decisions (in force) + those revoked since whose grant payments holds
                      =  payments' grants
    payments' grants  =  instructions pending + in an unreleased batch + released (sent)
                         + paid + returned awaiting correction (the grant's only
                         instructions came back) + stopped (a revoked grant whose payment
                         was cancelled); re-transfers are counted in their state
    released 全銀 files' totals (the stored files themselves, decrypted and parsed)
                      - returns  =  sent + paid

`compare(review, payments)` checks each application and each released file and lists
every difference by application number (or batch, for a whole file) and kind (`Kind`):
a decision missing in payments (in transit, parked in review's outbox, or delivered and
lost), an amount that differs at any step, a grant or instruction without its cause, a
grant revoked in review whose money is waiting, sent or paid (payments never learnt of
the revocation), a revoked grant whose money went out and whose repayment claim (返還請求)
is still open (shown until it is settled or the transfer came back), and a released file whose
bytes no longer hash to its release record, whose trailer, records and batch disagree, or
whose records are not its instructions. The result is balanced only with no difference and
no parked event. No I/O: the service reads both sides (subsidy_payments.reconciliation)
and this module is tested with plain values (tests/unit/test_reconciliation_cross_check.py).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from subsidy_payments.zengin_read import FileProblem, ParsedFile, parse_transfer_file

LIVE = frozenset({"PENDING", "BATCHED", "SENT", "PAID"})


class DecisionState(StrEnum):
    GRANTED = "GRANTED"
    REVOKED = "REVOKED"
    UNKNOWN = "UNKNOWN"  # the case is neither granted nor revoked


class Delivery(StrEnum):
    """Where a decision's event to payments is in review's outbox."""

    MISSING = "MISSING"
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    PARKED = "PARKED"


class Kind(StrEnum):
    DECISION_NOT_IN_PAYMENTS = "DECISION_NOT_IN_PAYMENTS"
    DECISION_IN_TRANSIT = "DECISION_IN_TRANSIT"
    DECISION_PARKED = "DECISION_PARKED"
    DECISION_STATE_UNKNOWN = "DECISION_STATE_UNKNOWN"
    AMOUNT_DIFFERS = "AMOUNT_DIFFERS"
    GRANT_WITHOUT_DECISION = "GRANT_WITHOUT_DECISION"
    GRANT_WITHOUT_INSTRUCTION = "GRANT_WITHOUT_INSTRUCTION"
    INSTRUCTION_AMOUNT_DIFFERS = "INSTRUCTION_AMOUNT_DIFFERS"
    INSTRUCTION_WITHOUT_GRANT = "INSTRUCTION_WITHOUT_GRANT"
    INSTRUCTIONS_TWICE = "INSTRUCTIONS_TWICE"
    REVOKED_NOT_STOPPED = "REVOKED_NOT_STOPPED"
    RELEASED_BUT_REVOKED = "RELEASED_BUT_REVOKED"
    PAID_BUT_REVOKED = "PAID_BUT_REVOKED"
    REPAYMENT_OPEN = "REPAYMENT_OPEN"
    FILE_ALTERED = "FILE_ALTERED"
    FILE_UNREADABLE = "FILE_UNREADABLE"
    FILE_TOTAL_DIFFERS = "FILE_TOTAL_DIFFERS"
    FILE_RECORD_MISSING = "FILE_RECORD_MISSING"
    FILE_RECORD_UNKNOWN = "FILE_RECORD_UNKNOWN"
    FILE_AMOUNT_DIFFERS = "FILE_AMOUNT_DIFFERS"


# What staff read (the auditor's command); docs/OPERATIONS.md says what to do for each.
LABELS: dict[Kind, str] = {
    Kind.DECISION_NOT_IN_PAYMENTS: "交付決定が振込側にない",
    Kind.DECISION_IN_TRANSIT: "交付決定の連携待ち",
    Kind.DECISION_PARKED: "交付決定の連携停止（保留）",
    Kind.DECISION_STATE_UNKNOWN: "交付決定の状態不明",
    Kind.AMOUNT_DIFFERS: "交付決定額の不一致",
    Kind.GRANT_WITHOUT_DECISION: "交付決定のない振込対象",
    Kind.GRANT_WITHOUT_INSTRUCTION: "振込指図なし",
    Kind.INSTRUCTION_AMOUNT_DIFFERS: "振込指図の金額不一致",
    Kind.INSTRUCTION_WITHOUT_GRANT: "交付決定のない振込指図",
    Kind.INSTRUCTIONS_TWICE: "振込指図の重複",
    Kind.REVOKED_NOT_STOPPED: "取消済み・振込未停止",
    Kind.RELEASED_BUT_REVOKED: "取消済み・振込送信済",
    Kind.PAID_BUT_REVOKED: "取消済み・振込済（返還請求）",
    Kind.REPAYMENT_OPEN: "取消済み・返還待ち（返還請求中）",
    Kind.FILE_ALTERED: "振込ファイルの改変",
    Kind.FILE_UNREADABLE: "振込ファイルを読めない",
    Kind.FILE_TOTAL_DIFFERS: "振込ファイルの合計不一致",
    Kind.FILE_RECORD_MISSING: "振込ファイルに明細がない",
    Kind.FILE_RECORD_UNKNOWN: "振込ファイルに不明な明細",
    Kind.FILE_AMOUNT_DIFFERS: "振込ファイルの金額不一致",
}


# --- the two sides ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """Review: one granted decision (revoked or not)."""

    application_number: str
    amount: int
    state: DecisionState
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class ReviewSide:
    decisions: tuple[Decision, ...]
    parked_events: int  # events to payments parked in review's outbox (the program's)


@dataclass(frozen=True, slots=True)
class Grant:
    application_number: str
    amount: int


@dataclass(frozen=True, slots=True)
class Instruction:
    id: int
    application_number: str
    amount: int
    state: str  # PENDING | BATCHED | SENT | PAID | FAILED
    batch_id: int | None


@dataclass(frozen=True, slots=True)
class Revoked:
    """Payments' record of a revocation it received: its repayment claim's state (None: the
    payment was stopped before release, no claim) and amount."""

    application_number: str
    claim_state: str | None  # OPEN | SETTLED | RETURNED
    claim_amount: int = 0


@dataclass(frozen=True, slots=True)
class ReleasedFile:
    """A released batch: its record (count, total, SHA-256 at build), the release record's
    SHA-256, and the stored file as decrypted (None: deleted after retention; `unreadable`:
    it could not be decrypted)."""

    batch_id: int
    count: int
    total: int
    built_sha256: str
    released_sha256: str | None
    content: bytes | None
    unreadable: bool = False


@dataclass(frozen=True, slots=True)
class PaymentsSide:
    grants: tuple[Grant, ...]
    instructions: tuple[Instruction, ...]
    files: tuple[ReleasedFile, ...]
    revoked: tuple[Revoked, ...] = ()


# --- the result ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Amount:
    count: int = 0
    yen: int = 0

    def plus(self, yen: int) -> Amount:
        return Amount(self.count + 1, self.yen + yen)


@dataclass(frozen=True, slots=True)
class Difference:
    application_number: str  # "" for a whole file
    kind: Kind
    batch_id: int = 0
    expected: int = 0
    found: int = 0

    @property
    def label(self) -> str:
        return LABELS[self.kind]


@dataclass(frozen=True, slots=True)
class Balance:
    review_granted: Amount = Amount()
    review_revoked: Amount = Amount()
    revoked_in_payments: Amount = Amount()
    grants: Amount = Amount()
    pending: Amount = Amount()
    batched: Amount = Amount()
    sent: Amount = Amount()
    paid: Amount = Amount()
    returned_awaiting: Amount = Amount()
    stopped: Amount = Amount()
    retransferred: Amount = Amount()
    released_files: Amount = Amount()
    returned: Amount = Amount()
    files_unverified: int = 0

    @property
    def instructions_yen(self) -> int:
        return sum(
            a.yen
            for a in (
                self.pending,
                self.batched,
                self.sent,
                self.paid,
                self.returned_awaiting,
                self.stopped,
            )
        )


@dataclass(frozen=True, slots=True)
class CrossCheck:
    balance: Balance
    differences: tuple[Difference, ...]
    parked_events: int

    @property
    def balanced(self) -> bool:
        """No difference, no parked event, and every line of the balance equal."""
        return (
            not self.differences
            and self.parked_events == 0
            and all(left == right for _, left, right in lines(self.balance))
        )


# --- the comparison -----------------------------------------------------------------------


@dataclass
class _Tally:
    differences: list[Difference] = field(default_factory=list)

    def add(self, number: str, kind: Kind, **values: int) -> None:
        self.differences.append(Difference(number, kind, **values))


def _revoked_kind(live: Sequence[Instruction]) -> Kind:
    states = {i.state for i in live}
    if "PAID" in states:
        return Kind.PAID_BUT_REVOKED
    if "SENT" in states:
        return Kind.RELEASED_BUT_REVOKED
    return Kind.REVOKED_NOT_STOPPED  # waiting, or returned and awaiting a correction


def _applications(review: ReviewSide, payments: PaymentsSide, tally: _Tally) -> dict[str, Amount]:
    """Per application: decision against grant against instructions; the instructions'
    totals by state (and the revoked decisions')."""
    decisions = {d.application_number: d for d in review.decisions}
    grants = {g.application_number: g for g in payments.grants}
    known_revoked = {r.application_number: r for r in payments.revoked}
    instructions: dict[str, list[Instruction]] = defaultdict(list)
    for i in sorted(payments.instructions, key=lambda i: i.id):
        instructions[i.application_number].append(i)
    sums: dict[str, Amount] = defaultdict(Amount)
    for number in sorted(decisions.keys() | grants.keys() | instructions.keys()):
        decision, grant, own = decisions.get(number), grants.get(number), instructions[number]
        live = [i for i in own if i.state in LIVE]
        if decision is not None:
            key = "review_revoked" if decision.state == DecisionState.REVOKED else "review_granted"
            if decision.state == DecisionState.UNKNOWN:
                tally.add(number, Kind.DECISION_STATE_UNKNOWN, expected=decision.amount)
            sums[key] = sums[key].plus(decision.amount)
        if decision is not None and grant is None:
            if decision.state != DecisionState.REVOKED:
                kind = {
                    Delivery.PARKED: Kind.DECISION_PARKED,
                    Delivery.PENDING: Kind.DECISION_IN_TRANSIT,
                }.get(decision.delivery, Kind.DECISION_NOT_IN_PAYMENTS)
                tally.add(number, kind, expected=decision.amount)
        elif decision is None and grant is not None:
            tally.add(number, Kind.GRANT_WITHOUT_DECISION, found=grant.amount)
        elif decision is not None and grant is not None:
            if decision.amount != grant.amount:
                tally.add(number, Kind.AMOUNT_DIFFERS, expected=decision.amount, found=grant.amount)
            if decision.state == DecisionState.REVOKED:
                sums["revoked_in_payments"] = sums["revoked_in_payments"].plus(grant.amount)
                _revoked(number, live, known_revoked.get(number), tally)
        if grant is None:
            for i in own:
                tally.add(number, Kind.INSTRUCTION_WITHOUT_GRANT, found=i.amount)
            continue
        sums["grants"] = sums["grants"].plus(grant.amount)
        if not own:
            tally.add(number, Kind.GRANT_WITHOUT_INSTRUCTION, expected=grant.amount)
            continue
        if len(live) > 1 or sum(i.state == "PAID" for i in own) > 1:
            tally.add(
                number,
                Kind.INSTRUCTIONS_TWICE,
                expected=grant.amount,
                found=sum(i.amount for i in live),
            )
        for i in live:
            if i.amount != grant.amount:
                tally.add(
                    number,
                    Kind.INSTRUCTION_AMOUNT_DIFFERS,
                    batch_id=i.batch_id or 0,
                    expected=grant.amount,
                    found=i.amount,
                )
            sums[i.state] = sums[i.state].plus(i.amount)
            if any(o.state == "FAILED" and o.id < i.id for o in own):
                sums["retransferred"] = sums["retransferred"].plus(i.amount)
        if not live:
            stopped = number in known_revoked or (
                decision is not None and decision.state == DecisionState.REVOKED
            )
            bucket = "stopped" if stopped else "returned_awaiting"
            sums[bucket] = sums[bucket].plus(grant.amount)
    return sums


def _revoked(
    number: str, live: Sequence[Instruction], known: Revoked | None, tally: _Tally
) -> None:
    """A grant revoked in review: payments stopped it, or claims the money back."""
    if known is None:
        tally.add(number, _revoked_kind(live), expected=0, found=sum(i.amount for i in live))
    elif any(i.state in ("PENDING", "BATCHED") for i in live):
        tally.add(number, Kind.REVOKED_NOT_STOPPED, expected=0, found=sum(i.amount for i in live))
    elif known.claim_state == "OPEN":
        tally.add(number, Kind.REPAYMENT_OPEN, expected=0, found=known.claim_amount)


def _file(
    released: ReleasedFile, members: Sequence[Instruction], tally: _Tally
) -> ParsedFile | None:
    """One released file against its release record and its instructions."""
    batch = released.batch_id
    if released.unreadable or released.content is None:
        if released.unreadable:
            tally.add("", Kind.FILE_UNREADABLE, batch_id=batch)
        return None
    digest = hashlib.sha256(released.content).hexdigest()
    if digest != released.built_sha256 or digest != released.released_sha256:
        tally.add("", Kind.FILE_ALTERED, batch_id=batch)
    try:
        parsed = parse_transfer_file(released.content)
    except FileProblem:
        tally.add("", Kind.FILE_UNREADABLE, batch_id=batch)
        return None
    record_total = sum(r.amount for r in parsed.records)
    if (
        parsed.trailer_total != record_total
        or parsed.trailer_total != released.total
        or parsed.trailer_count != len(parsed.records)
        or parsed.trailer_count != released.count
    ):
        tally.add(
            "",
            Kind.FILE_TOTAL_DIFFERS,
            batch_id=batch,
            expected=released.total,
            found=parsed.trailer_total,
        )
    by_id = {m.id: m for m in members}
    seen: set[int] = set()
    for record in parsed.records:
        member = by_id.get(record.instruction_id)
        if member is None or record.instruction_id in seen:
            tally.add("", Kind.FILE_RECORD_UNKNOWN, batch_id=batch, found=record.amount)
            continue
        seen.add(record.instruction_id)
        if member.amount != record.amount:
            tally.add(
                member.application_number,
                Kind.FILE_AMOUNT_DIFFERS,
                batch_id=batch,
                expected=member.amount,
                found=record.amount,
            )
    for member in members:
        if member.id not in seen:
            tally.add(
                member.application_number,
                Kind.FILE_RECORD_MISSING,
                batch_id=batch,
                expected=member.amount,
            )
    return parsed


def _files(payments: PaymentsSide, tally: _Tally) -> tuple[Amount, Amount, int]:
    """(released files, returns, files not re-read) over every released batch."""
    members: dict[int, list[Instruction]] = defaultdict(list)
    for i in payments.instructions:
        if i.batch_id is not None:
            members[i.batch_id].append(i)
    released = returned = Amount()
    unverified = 0
    for file in sorted(payments.files, key=lambda f: f.batch_id):
        own = members[file.batch_id]
        parsed = _file(file, own, tally)
        if parsed is None:
            unverified += file.content is None and not file.unreadable
            released = Amount(released.count + 1, released.yen + file.total)
        else:
            released = Amount(released.count + 1, released.yen + parsed.trailer_total)
        for i in own:
            if i.state == "FAILED":
                returned = returned.plus(i.amount)
    return released, returned, unverified


def _in_released(payments: PaymentsSide, tally: _Tally) -> None:
    """A SENT or PAID instruction always belongs to a released file."""
    batches = {f.batch_id for f in payments.files}
    for i in payments.instructions:
        if i.state in ("SENT", "PAID") and i.batch_id not in batches:
            tally.add(
                i.application_number,
                Kind.FILE_RECORD_MISSING,
                batch_id=i.batch_id or 0,
                expected=i.amount,
            )


def compare(review: ReviewSide, payments: PaymentsSide) -> CrossCheck:
    """The balance and every difference (module docstring), differences sorted by
    application number, then kind."""
    tally = _Tally()
    sums = _applications(review, payments, tally)
    released, returned, unverified = _files(payments, tally)
    _in_released(payments, tally)
    balance = Balance(
        review_granted=sums["review_granted"],
        review_revoked=sums["review_revoked"],
        revoked_in_payments=sums["revoked_in_payments"],
        grants=sums["grants"],
        pending=sums["PENDING"],
        batched=sums["BATCHED"],
        sent=sums["SENT"],
        paid=sums["PAID"],
        returned_awaiting=sums["returned_awaiting"],
        stopped=sums["stopped"],
        retransferred=sums["retransferred"],
        released_files=released,
        returned=returned,
        files_unverified=unverified,
    )
    ordered = sorted(
        tally.differences,
        key=lambda d: (d.application_number, d.batch_id, list(Kind).index(d.kind)),
    )
    return CrossCheck(balance, tuple(ordered), review.parked_events)


def lines(balance: Balance) -> Iterable[tuple[str, int, int]]:
    """The three equations as (label, left, right) in yen; each must be equal."""
    yield (
        "交付決定（審査、振込側にある取消を含む）= 交付決定（振込）",
        balance.review_granted.yen + balance.revoked_in_payments.yen,
        balance.grants.yen,
    )
    yield "交付決定（振込）= 振込指図の内訳", balance.grants.yen, balance.instructions_yen
    yield (
        "送信済ファイル合計 − 返却 = 送信済 + 振込済",
        balance.released_files.yen - balance.returned.yen,
        balance.sent.yen + balance.paid.yen,
    )
