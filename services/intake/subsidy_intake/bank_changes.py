"""Changed bank accounts (口座変更) keyed by two operators, and the account payments reads.

A transfer that came back 口座不備 (or an applicant's new account) is recorded by contractor
operators with a verification keying, as paper forms are (issue 15: one operator could send
both keyings in one request). Each request carries one keying (`account`); a request that
also carries `second_keying` is refused (INVALID_ARGUMENT). The first keying of an
application's change is stored as PENDING (FIRST_KEYING_STORED): its account as keyed HMACs
(intake cannot decrypt the bank class), who keyed it, its note (contact class); nothing
changes yet. The next keying, in its own request, must be by another operator
(SAME_OPERATOR otherwise, nothing stored); it is compared with the first field by field
(verification.compare_keyings over the HMACs): differing keyings close the change as MISMATCH
and return the differing fields (the next keying starts a new change), agreeing ones APPLY
it (ACCEPTED): in one transaction under the application's lock, the status check (an
application refused, withdrawn or already paid takes no new account), the account
re-encrypted (bank class) with its masked display (contact class) and its version raised,
the account's blind index replaced, a timeline step, the audit event, and an
`intake.bank_account` event for payments, which then reads the new account's ciphertext with
`payment_account`. Every keying is audited with who keyed it. Each keying is idempotent by
its request id (the same id with other content is `Conflict`); a database check refuses a
change closed by the operator who keyed it (migration intake_0006).

`account_versions` is payments' check before it builds or releases a transfer file
(service:payments only): the current version of up to 1,000 applications' accounts, no
account data (so not audited as an access to personal data).

`payment_account` is payments' read (service:payments only, by the role table): the
account of an application payments has a grant for (not of one refused or withdrawn) as bank-class ciphertext and its codes, never plaintext,
audited as an access with the purpose payments states.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from subsidy.events.v1 import events_pb2

from subsidy_intake import limits
from subsidy_intake.entry_repository import BankKeying
from subsidy_intake.lookup import require_purpose
from subsidy_intake.records import BANK_FIELDS
from subsidy_intake.repository import PaymentAccountRow, blind_indexes
from subsidy_intake.service import IntakeService
from subsidy_intake.verification import KeyingOutcome, compare_keyings, decide
from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument

RPC = "RecordBankAccountChange"
TOPIC = "intake.bank_account"
TIMELINE_NOTE = "口座変更入力"
# no new account for these: refused, withdrawn, or already paid (money moves once)
CLOSED = {"NOT_GRANTED": "不交付決定済み", "WITHDRAWN": "取下げ済み", "PAID": "振込済み"}
# payments reads the account on review's decision event, which may reach it before the
# GRANTED status reaches intake's timeline: refused only for what is never paid
NOT_PAYABLE = frozenset({"NOT_GRANTED", "WITHDRAWN"})
ACCOUNT_KEYS = ("bank_code", "branch_code", "type", "number", "holder_kana")
MAX_ACCOUNT_TEXT = 100  # the format's limit of the holder's kana; codes are shorter
MESSAGE_ONE_KEYING = "口座変更の確認入力は、別の担当者が別の要求で入力してください（1つの要求に2回分の入力は送れません）"
FIRST = "口座変更の1回目の入力（確認入力待ち）"
MISMATCH = "口座変更の確認入力が1回目の入力と一致しません"


@dataclass(frozen=True, slots=True)
class BankChangeResult:
    application_number: str
    applied: bool
    differing_fields: tuple[str, ...] = ()
    replayed: bool = False
    account_version: int = 0
    outcome: KeyingOutcome = KeyingOutcome.FIRST_KEYING_STORED


@dataclass(frozen=True, slots=True)
class PaymentAccount:
    application_number: str
    program_id: str
    status: str
    account: PaymentAccountRow


def _account(value: dict[str, Any] | None, field: str) -> dict[str, Any]:
    if not value:
        raise InvalidArgument([FieldViolation(field, "口座情報を入力してください")])
    for key in ACCOUNT_KEYS:
        text = value.get(key)
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument([FieldViolation(f"{field}.{key}", "入力してください")])
        if len(text) > MAX_ACCOUNT_TEXT or any(
            ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text
        ):
            raise InvalidArgument([FieldViolation(f"{field}.{key}", "値が正しくありません")])
    return {k: value[k] for k in ACCOUNT_KEYS}


def record_bank_account_change(
    service: IntakeService,
    who: Principal,
    request_id: str,
    number: str,
    account: dict[str, Any] | None,
    second_keying: dict[str, Any] | None,
    note: str,
) -> BankChangeResult:
    """One operator's keying of a changed account (module docstring)."""
    request_id = limits.request_id(request_id) or ""
    number = limits.application_number(number)
    note_text = limits.note(note)
    if second_keying is not None:
        raise InvalidArgument([FieldViolation("second_keying", MESSAGE_ONE_KEYING)])
    keyed = _account(account, "account")
    with service.uow() as work:
        application = work.repo.by_number(number)
        repo = service.repo(work, application.program_id)
        record = {**repo.decrypt_record(application.id), "bank_account": keyed}
        comparable = repo.entries.comparable({"bank_account": keyed})["bank_account"]
    program = service.program(application.program_id)
    [prepared] = service.prepare(program, [record])  # the account validated as format v1
    new_account = prepared.record["bank_account"]
    content = json.dumps(
        {"application_number": number, "account": new_account, "note": note_text},
        ensure_ascii=True,
        sort_keys=True,
    )
    [digest] = blind_indexes(service.cipher(program.id), [("bank-change", content)])
    with service.uow() as work:
        work.lock(f"bank-change:{request_id}")
        work.lock(f"application:{number}")
        repo = service.repo(work, program.id)
        previous = repo.entries.bank_keying_by_request(request_id)
        if previous is not None:
            return _replay(previous, request_id, digest, number)
        application = repo.by_number(number, for_update=True)
        label = CLOSED.get(application.status)
        if label is not None:
            raise Conflict(f"この申請の口座は変更できません（状態: {label}）")
        pending = repo.entries.pending_bank_keying(application)
        if pending is None:
            repo.entries.add_bank_keying(
                application, request_id, digest, who.subject, comparable, note_text or None
            )
            work.audit(who, RPC, "create", application=number, fields=BANK_FIELDS, purpose=FIRST)
            return BankChangeResult(number, False, outcome=KeyingOutcome.FIRST_KEYING_STORED)
        if decide(pending.keyed_by, who.subject, []) is KeyingOutcome.SAME_OPERATOR:
            return BankChangeResult(number, False, outcome=KeyingOutcome.SAME_OPERATOR)
        differing = tuple(
            compare_keyings({"bank_account": pending.bank_digest}, {"bank_account": comparable})
        )
        if differing:
            repo.entries.close_bank_keying(
                pending, request_id, digest, who.subject, differing=differing, note=note_text
            )
            work.audit(who, RPC, "read", application=number, fields=BANK_FIELDS, purpose=MISMATCH)
            return BankChangeResult(number, False, differing, outcome=KeyingOutcome.MISMATCH)
        version = repo.replace_bank_account(application.id, new_account)
        if "bank" in prepared.indexes:
            repo.replace_index(application.id, program.id, "bank", prepared.indexes["bank"])
        repo.entries.close_bank_keying(
            pending, request_id, digest, who.subject, account_version=version, note=note_text
        )
        change_id = f"{number}-{hashlib.sha256(pending.request_id.encode()).hexdigest()[:16]}"
        repo.timeline.add_step(application, who.subject, TIMELINE_NOTE, f"bank:{change_id}")
        work.audit(
            who,
            RPC,
            "update",
            application=number,
            fields=BANK_FIELDS,
            purpose=f"口座変更の確認入力（1回目の入力: {pending.keyed_by}）",
        )
        key = f"bank-account-{number}-v{version}"
        work.publish(
            TOPIC,
            key,
            events_pb2.BankAccountChangedEvent(
                event_id=key,
                application_number=number,
                program_id=program.id,
                account_version=version,
                changed_at=datetime.now(UTC).isoformat(),
            ),
        )
        return BankChangeResult(
            number, True, account_version=version, outcome=KeyingOutcome.ACCEPTED
        )


def _replay(keying: BankKeying, request_id: str, digest: str, number: str) -> BankChangeResult:
    """The answer a request id got the first time (its content must be the same)."""
    first = keying.request_id == request_id
    stored = keying.request_digest if first else keying.second_request_digest
    if stored != digest or keying.application_number != number:
        raise Conflict("同じリクエストIDで異なる内容の口座変更が送信されました")
    if first:
        return BankChangeResult(
            number, False, replayed=True, outcome=KeyingOutcome.FIRST_KEYING_STORED
        )
    if keying.state == "APPLIED":
        return BankChangeResult(
            number,
            True,
            replayed=True,
            account_version=keying.account_version or 0,
            outcome=KeyingOutcome.ACCEPTED,
        )
    return BankChangeResult(
        number, False, keying.differing_fields, replayed=True, outcome=KeyingOutcome.MISMATCH
    )


def payment_account(
    service: IntakeService, who: Principal, number: str, purpose: str
) -> PaymentAccount:
    """A granted application's account as bank-class ciphertext (payments' read), audited.

    Only for an application whose timeline's latest decision is a grant: intake learns of
    it from review's status report, which may arrive after review's decision reached
    payments, so the refusal is FAILED_PRECONDITION, which payments retries until intake
    has it (an application never granted is never handed)."""
    number = limits.application_number(number)
    reason = require_purpose(purpose)
    with service.uow() as work:
        application = work.repo.by_number(number)
        if application.status in NOT_PAYABLE:
            raise Conflict("不交付または取下げの申請の口座は渡せません")
        if not work.repo.timeline.granted(application.id):
            raise Conflict("交付決定が受付に届いていない申請の口座は渡せません")
        found = work.repo.payment_account(application.id)
        if not found.number_ct or not found.holder_ct or not found.bank_code:
            raise Conflict("この申請には口座情報がありません")
        work.audit(
            who, "GetPaymentAccount", "read", application=number, fields=BANK_FIELDS, purpose=reason
        )
        return PaymentAccount(number, application.program_id, application.status, found)


MAX_VERSIONS = 1000


def account_versions(
    service: IntakeService, program_id: str, numbers: Sequence[str]
) -> list[tuple[str, int]]:
    """(number, current account version) of each application of the program intake holds,
    in the order asked (module doc)."""
    program = service.program(program_id)
    if len(numbers) > MAX_VERSIONS:
        raise InvalidArgument([FieldViolation("application_numbers", f"{MAX_VERSIONS}件までです")])
    checked = [limits.application_number(n, field="application_numbers") for n in numbers]
    with service.uow() as work:
        found = work.repo.account_versions(program.id, checked)
    return [(n, found[n]) for n in checked if n in found]
