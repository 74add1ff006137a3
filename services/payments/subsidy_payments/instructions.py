"""Payment instructions from review's decisions and intake's changed accounts.

A granted decision (`review.decision`, applied at most once by its event id) reads the
application's account from intake first, then records, in one transaction, the grant (one
per application: the database's primary key), its latest account (`latest_accounts`), and
one PENDING instruction with the decided amount, checked first by the rules library's
grant rule (`subsidy_rules.grant_rule.check_grant`, the one review applies to every
decision), the program's cap and rounding unit (the database refuses an amount above the
cap or not a multiple of the unit too), and the application's bank account as intake
hands it (bank-class ciphertext and intake's keyed HMAC of the account,
`GetPaymentAccount`). A refusal records nothing.

The account an instruction pays is always the grant's latest one when its file is built.
A changed account (`intake.bank_account`) first becomes the grant's latest account (only a
newer version replaces it), then, by the grant's latest instruction:
- none, or FAILED (口座不備): a new PENDING instruction with the new account ("new");
- PENDING: its account is replaced ("refreshed");
- BATCHED (in a batch not released): the batch can no longer be released (the database
  refuses to send an instruction with an older account than its grant's); cancelling it
  returns the instruction to the pool and the next build takes the new account ("rebuild");
- SENT: nothing yet; if the bank returns that transfer, the return re-transfers once to the
  new account (bank_returns.py, `retransfer`) ("after-return");
- PAID: nothing ("kept"; intake refuses a change after payment);
- a revoked grant (revocations.py): nothing, ever ("revoked").
The outbox delivers the event within seconds; so that no file is built in between with the
older account, a build first asks intake for the current versions of the waiting grants'
accounts (`GetPaymentAccountVersions`) and applies any newer one the same way
(`catch_up`); a release asks again (batches.py).
Never two live instructions: the grant's row and its instructions are locked, and a partial
unique index refuses a second live one whatever happens.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import exc as sa_exc
from subsidy.events.v1 import events_pb2

from subsidy_payments.repository import LatestAccount, PaymentsRepository
from subsidy_payments.service import Account, Payments
from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import identifier
from subsidy_platform.unit_of_work import Work
from subsidy_rules.grant_rule import check_grant

PURPOSE = "振込指図の作成"
MAX_EVENT_ID = 200


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value) if len(value) == 10 else date.fromisoformat("x")
    except ValueError:
        raise InvalidArgument([FieldViolation(field, "日付は YYYY-MM-DD です")]) from None


def decision_received(payments: Payments, who: Principal, event: events_pb2.DecisionEvent) -> None:
    event_id = identifier("event_id", event.event_id, limit=MAX_EVENT_ID)
    number = identifier("application_number", event.application_number, limit=32)
    program = payments.program(event.program_id)
    if not event.granted:
        with payments.uow() as work:
            work.repo.event_applied(event_id, program.id)
        return
    decided_on = _day(event.decided_on, "decided_on")
    decision_number = identifier("decision_number", event.decision_number)
    cap, unit = payments.limits(program, decided_on)
    allowed = check_grant(program, event.amount, decided_on)
    if not allowed.allowed:
        raise InvalidArgument([FieldViolation("amount", allowed.message)])
    with payments.uow() as work:
        if work.repo.event_seen(event_id):
            return
    # the account is read outside any transaction (intake may be slow); a failure writes
    # nothing, and the outbox's retry reads it again
    account = payments.account(number, PURPOSE)
    with payments.uow() as work:
        if not work.repo.event_applied(event_id, program.id):
            return
        work.lock(f"grant:{number}")
        existing = work.repo.grant_amount(number)
        if existing is not None:
            if existing[1] != event.amount:
                raise Conflict("この申請には既に別の金額の交付決定があります")
            return
        work.repo.add_grant(number, program.id, event.amount, decision_number, decided_on)
        work.repo.set_latest_account(program.id, number, account.latest())
        _add(work, program.id, number, event.amount, cap, unit, account.latest())
        work.audit(who, "DecisionReceived", "create", application=number, fields=("bank_account",))


def _add(
    work: Work[PaymentsRepository],
    program_id: str,
    number: str,
    amount: int,
    cap: int,
    unit: int,
    account: LatestAccount,
) -> int:
    work.repo.ensure_limits(program_id, cap, unit)
    return work.repo.add_instruction(
        program_id=program_id,
        number=number,
        amount=amount,
        cap=cap,
        unit=unit,
        bank_code=account.bank_code,
        branch_code=account.branch_code,
        account_type=account.account_type,
        number_ct=account.number_ct,
        holder_ct=account.holder_ct,
        account_version=account.version,
        account_index=account.index,
    )


def bank_account_changed(
    payments: Payments, who: Principal, event: events_pb2.BankAccountChangedEvent
) -> str:
    """Apply a changed account (module doc); what happened: new, refreshed, rebuild,
    after-return, kept, revoked, unknown or replayed."""
    event_id = identifier("event_id", event.event_id, limit=MAX_EVENT_ID)
    number = identifier("application_number", event.application_number, limit=32)
    program = payments.program(event.program_id)
    with payments.uow() as work:
        if work.repo.grant_amount(number) is None:
            work.repo.event_applied(event_id, program.id)
            return "unknown"  # not granted (yet): the decision will read the new account
        if work.repo.revoked(number):  # intake hands no account of a revoked grant
            work.repo.event_applied(event_id, program.id)
            return "revoked"
    account = payments.account(number, "口座変更による振込指図の更新")
    with payments.uow() as work:
        if not work.repo.event_applied(event_id, program.id):
            return "replayed"
        return _apply_account(work, payments, who, number, account)


def catch_up(payments: Payments, who: Principal, program_id: str) -> int:
    """Before a build: every waiting grant whose account intake holds in a newer version
    than payments knows (its `intake.bank_account` event not arrived yet) takes it now,
    read from intake as the event would; the event, when it comes, changes nothing. The
    number of grants brought up to date."""
    with payments.uow() as work:
        known = work.repo.pending_account_versions(program_id)
    if not known:
        return 0
    current = payments.account_versions(program_id, sorted(known))
    behind = sorted(n for n, v in current.items() if v > known.get(n, v))
    for number in behind:
        account = payments.account(number, "振込バッチ作成時の口座の確認")
        with payments.uow() as work:
            _apply_account(work, payments, who, number, account)
    return len(behind)


def _apply_account(
    work: Work[PaymentsRepository],
    payments: Payments,
    who: Principal,
    number: str,
    account: Account,
) -> str:
    work.lock(f"grant:{number}")
    grant = work.repo.grant_amount(number)
    assert grant is not None
    if work.repo.revoked(number):
        return "revoked"
    program = payments.program(grant[0])
    instructions = work.repo.instructions_of(number)
    if not work.repo.set_latest_account(program.id, number, account.latest()):
        return "kept"  # an older or the same version: the grant has a newer one
    work.audit(who, "BankAccountChanged", "update", application=number, fields=("bank_account",))
    latest = instructions[-1] if instructions else None
    if latest is None or all(i.state == "FAILED" for i in instructions):
        cap, unit = payments.limits(program, grant[2])
        try:
            with work.session.begin_nested():
                _add(work, program.id, number, grant[1], cap, unit, account.latest())
        except sa_exc.IntegrityError:
            raise Conflict("この申請には有効な振込指図が既にあります") from None
        return "new"
    if latest.state == "PENDING":
        work.repo.refresh_account(
            latest.id,
            account.bank_code,
            account.branch_code,
            account.account_type,
            account.number_ct,
            account.holder_ct,
            account.version,
            account.index or None,
        )
        return "refreshed"
    return {"BATCHED": "rebuild", "SENT": "after-return"}.get(latest.state, "kept")


def retransfer(work: Work[PaymentsRepository], payments: Payments, number: str) -> int | None:
    """After a return: a new PENDING instruction with the grant's latest account when it is
    newer than every failed one's and the grant has no live instruction; its id, or None.
    Called in the transaction that failed the returned instruction (at most once per
    account version: the next return of the new instruction finds no newer account)."""
    grant = work.repo.grant_amount(number)
    latest = work.repo.latest_account(number)
    if grant is None or latest is None or work.repo.revoked(number):
        return None  # a revoked grant is never paid again (its claim follows the return)
    instructions = work.repo.instructions_of(number)
    if any(i.state != "FAILED" for i in instructions):
        return None
    if instructions and latest.version <= max(i.account_version for i in instructions):
        return None
    program = payments.program(grant[0])
    cap, unit = payments.limits(program, grant[2])
    return _add(work, program.id, number, grant[1], cap, unit, latest)
