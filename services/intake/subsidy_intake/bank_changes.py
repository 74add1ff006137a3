"""Changed bank accounts (口座変更) keyed twice, and the account payments reads.

A transfer that came back 口座不備 (or an applicant's new account) is recorded by a
contractor operator with a verification keying: the request carries the account keyed
twice (`account`, `second_keying`); two keyings that differ apply nothing and return the
differing fields (verification.compare_keyings, as for paper forms). The new account is
validated as part of the stored record (format v1 through IntakeService.prepare, which
also gives its blind index), then, in one transaction under the application's lock:
replay by request id (the same id with other content is `Conflict`), the status check
(an application refused, withdrawn or already paid takes no new account), the account
re-encrypted (bank class, which intake cannot decrypt) with its masked display (contact
class) and its version raised, the account's blind index replaced, the change recorded, a
timeline step, the audit event, and an `intake.bank_account` event for payments, which
then reads the new account's ciphertext with `payment_account`.

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
from subsidy_intake.lookup import require_purpose
from subsidy_intake.records import BANK_FIELDS
from subsidy_intake.repository import PaymentAccountRow, blind_indexes
from subsidy_intake.service import IntakeService
from subsidy_intake.verification import compare_keyings
from subsidy_platform.access import Principal
from subsidy_platform.crypto import DataClass
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


@dataclass(frozen=True, slots=True)
class BankChangeResult:
    application_number: str
    applied: bool
    differing_fields: tuple[str, ...] = ()
    replayed: bool = False
    account_version: int = 0


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
    request_id = limits.request_id(request_id) or ""
    number = limits.application_number(number)
    note_text = limits.note(note)
    first = _account(account, "account")
    second = _account(second_keying, "second_keying")
    differing = compare_keyings({"bank_account": first}, {"bank_account": second})
    with service.uow() as work:
        application = work.repo.by_number(number)
        repo = service.repo(work, application.program_id)
        record = {**repo.decrypt_record(application.id), "bank_account": first}
    if differing:
        return BankChangeResult(number, applied=False, differing_fields=tuple(differing))
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
        previous = repo.bank_change_by_request(request_id)
        if previous is not None:
            stored_digest, stored_number, version = previous
            if stored_digest != digest or stored_number != number:
                raise Conflict("同じリクエストIDで異なる内容の口座変更が送信されました")
            return BankChangeResult(number, True, replayed=True, account_version=version)
        application = repo.by_number(number, for_update=True)
        label = CLOSED.get(application.status)
        if label is not None:
            raise Conflict(f"この申請の口座は変更できません（状態: {label}）")
        version = repo.replace_bank_account(application.id, new_account)
        if "bank" in prepared.indexes:
            repo.replace_index(application.id, program.id, "bank", prepared.indexes["bank"])
        [note_ct] = repo.cipher.encrypt(DataClass.CONTACT, [note_text or None])
        repo.add_bank_change(application, request_id, digest, version, who.subject, note_ct)
        change_id = f"{number}-{hashlib.sha256(request_id.encode()).hexdigest()[:16]}"
        repo.timeline.add_step(application, who.subject, TIMELINE_NOTE, f"bank:{change_id}")
        work.audit(who, RPC, "update", application=number, fields=BANK_FIELDS)
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
        return BankChangeResult(number, True, account_version=version)


def payment_account(
    service: IntakeService, who: Principal, number: str, purpose: str
) -> PaymentAccount:
    """A granted application's account as bank-class ciphertext (payments' read), audited."""
    number = limits.application_number(number)
    reason = require_purpose(purpose)
    with service.uow() as work:
        application = work.repo.by_number(number)
        if application.status in NOT_PAYABLE:  # review's decision may precede its status
            raise Conflict("不交付または取下げの申請の口座は渡せません")
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
