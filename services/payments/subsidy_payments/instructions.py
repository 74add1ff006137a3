"""Payment instructions from review's decisions and intake's changed accounts.

A granted decision (`review.decision`, applied at most once by its event id) reads the
application's account from intake first, then records, in one transaction, the grant (one
per application: the database's primary key) and one PENDING instruction with
the decided amount, checked first by the rules library's grant rule
(`subsidy_rules.grant_rule.check_grant`, the one review applies to every decision), the
program's cap and rounding unit (the database refuses an amount above the cap or not a
multiple of the unit too), and the application's bank account as intake
hands it (bank-class ciphertext, `GetPaymentAccount`). A refusal records nothing.

A changed account (`intake.bank_account`): when the grant's latest instruction is FAILED
(口座不備), a new PENDING instruction for the same grant with the new account; when it is
still PENDING (in no batch), its account is replaced; otherwise (in a batch, sent, paid)
nothing changes; for a revoked grant (revocations.py), nothing ever. Never two live
instructions: the grant's row and its instructions are locked, and a partial unique index
refuses a second live one whatever happens.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import exc as sa_exc
from subsidy.events.v1 import events_pb2

from subsidy_payments.repository import PaymentsRepository
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
        _add(work, program.id, number, event.amount, cap, unit, account)
        work.audit(who, "DecisionReceived", "create", application=number, fields=("bank_account",))


def _add(
    work: Work[PaymentsRepository],
    program_id: str,
    number: str,
    amount: int,
    cap: int,
    unit: int,
    account: Account,
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
    )


def bank_account_changed(
    payments: Payments, who: Principal, event: events_pb2.BankAccountChangedEvent
) -> str:
    """Apply a changed account (module doc); what happened: new, refreshed, kept, unknown."""
    event_id = identifier("event_id", event.event_id, limit=MAX_EVENT_ID)
    number = identifier("application_number", event.application_number, limit=32)
    program = payments.program(event.program_id)
    with payments.uow() as work:
        if work.repo.grant_amount(number) is None:
            work.repo.event_applied(event_id, program.id)
            return "unknown"  # not granted (yet): the decision will read the new account
    account = payments.account(number, "口座変更による振込指図の更新")
    with payments.uow() as work:
        if not work.repo.event_applied(event_id, program.id):
            return "replayed"
        work.lock(f"grant:{number}")
        grant = work.repo.grant_amount(number)
        assert grant is not None
        if work.repo.revoked(number):
            return "revoked"
        instructions = work.repo.instructions_of(number)
        latest = instructions[-1] if instructions else None
        if latest is not None and account.version <= latest.account_version:
            return "kept"
        if latest is None or all(i.state == "FAILED" for i in instructions):
            cap, unit = payments.limits(program, grant[2])
            try:
                with work.session.begin_nested():
                    _add(work, program.id, number, grant[1], cap, unit, account)
            except sa_exc.IntegrityError:
                raise Conflict("この申請には有効な振込指図が既にあります") from None
            work.audit(
                who, "BankAccountChanged", "create", application=number, fields=("bank_account",)
            )
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
            )
            work.audit(
                who, "BankAccountChanged", "update", application=number, fields=("bank_account",)
            )
            return "refreshed"
        return "kept"
