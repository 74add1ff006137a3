"""Transfer batches: built by a payments officer, released by a second person, confirmed.

Build (`BuildBatch`, idempotent by request id): the transfer date must be a bank business
day (calendar_jp) and not in the past; the pending instructions of the program that no
other builder holds are claimed into the batch by one statement with `FOR UPDATE SKIP
LOCKED` (two builders at once never share one), each taking its grant's latest account
(instructions.py) and none held back: an instruction whose account (intake's keyed HMAC,
never plaintext) is also another grant's live or paid instruction in the program stays out
until two people cleared that pair (shared_accounts.py; the database refuses it too). Their
accounts are decrypted (bank class: payments alone may) and written as
a 全銀 file (zengin.py), which fails naming every application whose bank or branch code is
unknown or whose payee name cannot be written, before any batch exists. The file is
stored encrypted (bank class) with its SHA-256, count, total, largest amount and the count
of amounts above the cap (the database refuses such an amount, so it is 0).

Release (`ReleaseBatch`): by an approver who is not the builder, naming the SHA-256 they
saw; the stored file is decrypted and hashed again and must match it, and its members
must still be the batch's count and total, and every member must pay its grant's latest
account, and intake must hold no newer one (`GetPaymentAccountVersions`, asked just
before): a correction recorded after the build makes the batch unreleasable; cancel and
rebuild. Before claiming, a build brings every waiting grant's account up to intake's
current version (instructions.catch_up), even when its event has not arrived yet. A SHA-256 is released once, whatever batch
carries it (the database's primary key); a batch once. Released instructions are SENT and
reported PAYMENT_SCHEDULED; the file is returned to be handed to the bank. A retried
release by the same request id returns the same file. Before release, `CancelBatch` (with
its reason, kept on the batch and in the audit log) returns the instructions to the pool
and deletes the file. The approver's check (`GetBatch`) lists, beside the count, total,
largest amount, amounts over the cap and the builder, every member whose account another
grant's instruction shares, with who cleared the pair.

Confirm (`ConfirmBatch`): the bank's confirmation; what was sent and not returned is PAID.
The date confirmed (default: the ward's today, `ward_clock`) is neither in the future nor
before the transfer date (the database refuses that too) nor before the release.
Files are deleted `retention_days` after confirmation by `PurgeFiles`; `ListHeldFiles`
lists what is still held.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import exc as sa_exc

from subsidy_payments import instructions
from subsidy_payments.calendar_jp import is_bank_business_day
from subsidy_payments.repository import Batch, Instruction, SharedPair
from subsidy_payments.service import Payments, report_status
from subsidy_payments.zengin import Payee, TransferFileError, transfer_file
from subsidy_platform.access import Principal
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import (
    Conflict,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
)
from subsidy_platform.limits import bounded_text, identifier
from subsidy_platform.maintenance import RETENTION_ACTION
from subsidy_platform.ward_clock import ward_date, ward_today

MAX_BATCH = 200_000
ACCOUNT_RACE = "同時に口座が訂正されました。もう一度実行してください"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Released:
    batch: Batch
    content: bytes
    replayed: bool


def parse_day(value: str, field: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            [FieldViolation(field, "日付は YYYY-MM-DD で指定してください")]
        ) from None


def file_name(batch: Batch) -> str:
    return f"zengin-{batch.program_id}-{batch.id:06d}-{batch.transfer_date:%Y%m%d}.txt"


def _payees(payments: Payments, program_id: str, rows: list[Instruction]) -> list[Payee]:
    cipher = payments.cipher_for(program_id)
    plain = cipher.decrypt(
        DataClass.BANK, [r.number_ct for r in rows] + [r.holder_ct for r in rows]
    )
    numbers, holders = plain[: len(rows)], plain[len(rows) :]
    return [
        Payee(
            r.id,
            r.application_number,
            r.bank_code,
            r.branch_code,
            r.account_type,
            n or "",
            h or "",
            r.amount,
        )
        for r, n, h in zip(rows, numbers, holders, strict=True)
    ]


def build_batch(
    payments: Payments,
    who: Principal,
    request_id: str,
    program_id: str,
    transfer_date: str,
    max_instructions: int,
) -> Batch:
    request_id = identifier("request_id", request_id)
    program = payments.program(program_id)
    day = parse_day(transfer_date, "transfer_date")
    if not is_bank_business_day(day):
        raise InvalidArgument(
            [FieldViolation("transfer_date", "振込日は銀行営業日を指定してください")]
        )
    if day < ward_today():
        raise InvalidArgument([FieldViolation("transfer_date", "振込日が過去の日付です")])
    if not 0 <= max_instructions <= MAX_BATCH:
        raise InvalidArgument([FieldViolation("max_instructions", f"0〜{MAX_BATCH}件です")])
    instructions.catch_up(payments, who, program.id)
    with payments.uow() as work:
        work.lock(f"build:{request_id}")
        previous = work.repo.batch_by_request(request_id)
        if previous is not None:
            if previous.program_id != program.id or previous.built_by != who.subject:
                raise Conflict("同じリクエストIDで別の振込バッチが作成されています")
            return previous
        batch_id = work.repo.open_batch(program.id, request_id, day, who.subject)
        try:
            claimed = work.repo.claim_pool(program.id, batch_id, max_instructions or None)
        except sa_exc.IntegrityError:  # an account corrected in the same instant (trigger)
            raise Conflict(ACCOUNT_RACE) from None
        if not claimed:
            held = work.repo.held_back_count(program.id)
            raise Conflict(
                "振込待ちの指図がありません"
                + (f"（共用口座の確認待ちで保留中 {held}件）" if held else "")
            )
        rows = [instruction for instruction, _ in claimed]
        payees = _payees(payments, program.id, rows)
        try:
            content = transfer_file(
                payments.settings.requester, day, payees, crlf=payments.settings.crlf
            )
        except TransferFileError as error:
            raise InvalidArgument(
                [
                    FieldViolation(
                        f"application:{n}",
                        "銀行・支店コード、口座または受取人名を全銀形式で書けません",
                    )
                    for n in error.numbers[:100]
                ]
                or [FieldViolation("instructions", str(error))]
            ) from None
        [sealed] = payments.cipher_for(program.id).encrypt(
            DataClass.BANK, [base64.b64encode(content).decode("ascii")]
        )
        assert sealed is not None
        work.repo.complete_batch(
            batch_id,
            count=len(rows),
            total=sum(r.amount for r in rows),
            largest=max(r.amount for r in rows),
            over_cap=sum(1 for r, cap in claimed if r.amount > cap),
            file_sha256=hashlib.sha256(content).hexdigest(),
            file_ct=sealed,
        )
        work.audit(
            who,
            "BuildBatch",
            "read",
            application=None,
            fields=("bank_account",),
            purpose=f"振込バッチ {batch_id} の作成（{len(rows)}件）",
        )
        return work.repo.batch(batch_id)


def get_batch(payments: Payments, batch_id: int) -> Batch:
    _batch_id(batch_id)
    with payments.uow() as work:
        return work.repo.batch(batch_id)


def _batch_id(batch_id: int) -> int:
    if not 1 <= batch_id <= 2**62:
        raise InvalidArgument([FieldViolation("batch_id", "振込バッチ番号が正しくありません")])
    return batch_id


def release_batch(
    payments: Payments, who: Principal, request_id: str, batch_id: int, sha256: str
) -> Released:
    request_id = identifier("request_id", request_id)
    _batch_id(batch_id)
    if not _SHA256.fullmatch(sha256):
        raise InvalidArgument([FieldViolation("file_sha256", "SHA-256 は16進数64桁です")])
    _accounts_still_current(payments, batch_id)
    with payments.uow() as work:
        batch = work.repo.batch(batch_id, for_update=True)
        if batch.state in ("RELEASED", "CONFIRMED"):
            if batch.release_request_id == request_id and batch.released_by == who.subject:
                return Released(
                    batch, _content(payments, batch, work.repo.batch_file(batch.id)), True
                )
            raise Conflict("この振込バッチは既に承認・送信されています")
        if batch.state != "BUILT":
            raise Conflict("この振込バッチは取り消されています")
        if batch.built_by == who.subject:
            raise PermissionDenied("作成した職員は承認できません（別の職員が承認してください）")
        if sha256 != batch.file_sha256:
            raise Conflict("承認者が確認したファイルと現在のファイルが一致しません")
        stale = work.repo.stale_members(batch.id)
        if stale:
            raise Conflict(
                f"作成後に口座が訂正された申請があります（{'、'.join(stale[:10])}）。"
                "このバッチを取り消して作り直してください"
            )
        content = _content(payments, batch, work.repo.batch_file(batch.id))
        members = work.repo.batch_members(batch.id)
        if (
            len(members) != batch.count
            or sum(m.amount for m in members) != batch.total
            or any(m.state != "BATCHED" for m in members)
        ):
            raise Conflict("振込バッチの内容が作成時と一致しません")
        if work.repo.file_released(batch.file_sha256) is not None:
            raise Conflict("同じ内容の振込ファイルは既に送信されています")
        try:
            work.repo.release(batch, who.subject, request_id)
        except sa_exc.IntegrityError:  # an account corrected in the same instant (trigger)
            raise Conflict(ACCOUNT_RACE) from None
        for member in members:
            report_status(
                work, batch.program_id, member.application_number, "PAYMENT_SCHEDULED", "振込予定"
            )
        work.audit(
            who,
            "ReleaseBatch",
            "read",
            application=None,
            fields=("bank_account",),
            purpose=f"振込バッチ {batch.id} の承認・送信",
        )
        return Released(work.repo.batch(batch.id), content, False)


def _accounts_still_current(payments: Payments, batch_id: int) -> None:
    """Intake holds no newer account for any member of a batch not yet released (asked
    before the release's transaction; a correction whose event has not arrived yet)."""
    with payments.uow() as work:
        batch = work.repo.batch(batch_id)
        members = work.repo.batch_members(batch.id) if batch.state == "BUILT" else []
    if not members:
        return
    current = payments.account_versions(batch.program_id, [m.application_number for m in members])
    behind = sorted(
        m.application_number
        for m in members
        if current.get(m.application_number, m.account_version) > m.account_version
    )
    if behind:
        raise Conflict(
            f"受付で口座が訂正された申請があります（{'、'.join(behind[:10])}）。"
            "このバッチを取り消して作り直してください"
        )


def _content(payments: Payments, batch: Batch, sealed: str | None) -> bytes:
    if sealed is None:
        raise Conflict("振込ファイルは削除済みです")
    [plain] = payments.cipher_for(batch.program_id).decrypt(DataClass.BANK, [sealed])
    content = base64.b64decode(plain or "")
    if hashlib.sha256(content).hexdigest() != batch.file_sha256:
        raise Conflict("保存された振込ファイルが作成時のものと一致しません")
    return content


def shared_pairs(payments: Payments, batch_id: int) -> list[SharedPair]:
    """The batch's members whose account another grant's instruction shares (approver)."""
    _batch_id(batch_id)
    with payments.uow() as work:
        return work.repo.shared_pairs(batch_id)


def cancel_batch(payments: Payments, who: Principal, batch_id: int, reason: str) -> Batch:
    _batch_id(batch_id)
    why = bounded_text("reason", reason, required=True)
    with payments.uow() as work:
        batch = work.repo.batch(batch_id, for_update=True)
        if batch.state != "BUILT":
            raise Conflict("承認前の振込バッチだけ取り消せます")
        work.repo.cancel(batch.id, who.subject, why)
        work.audit(
            who,
            "CancelBatch",
            "update",
            application=None,
            fields=(),
            purpose=f"振込バッチ {batch.id} の取消（理由: {why}）",
        )
        return work.repo.batch(batch.id)


def confirm_batch(payments: Payments, who: Principal, batch_id: int, confirmed_on: str) -> Batch:
    _batch_id(batch_id)
    today = ward_today()
    on = parse_day(confirmed_on, "confirmed_on") if confirmed_on else today
    if on > today:
        raise InvalidArgument([FieldViolation("confirmed_on", "着金確認日が未来の日付です")])
    with payments.uow() as work:
        batch = work.repo.batch(batch_id, for_update=True)
        if batch.state == "CONFIRMED":
            return batch
        if batch.state != "RELEASED":
            raise Conflict("送信済みの振込バッチだけ着金確認できます")
        if on < batch.transfer_date:
            raise Conflict(
                f"振込日（{batch.transfer_date.isoformat()}）より前には着金確認できません"
            )
        if batch.released_at is not None and on < ward_date(batch.released_at):
            raise Conflict("承認・送信より前の日付では着金確認できません")
        for number in work.repo.confirm(batch.id, on):
            report_status(work, batch.program_id, number, "PAID", "振込済")
        work.audit(
            who,
            "ConfirmBatch",
            "update",
            application=None,
            fields=(),
            purpose=f"振込バッチ {batch.id} の着金確認",
        )
        return work.repo.batch(batch.id)


def held_files(payments: Payments, program_id: str) -> list[tuple[Batch, date | None]]:
    """Every batch whose file is still held, with the day it may be deleted after."""
    program = payments.program(program_id)
    days = timedelta(days=payments.settings.retention_days)
    with payments.uow() as work:
        return [
            (b, b.confirmed_on + days if b.confirmed_on else None)
            for b in work.repo.held_files(program.id)
        ]


def purge_files(
    payments: Payments, who: Principal, program_id: str, today: date | None = None
) -> int:
    program = payments.program(program_id)
    cutoff = (today or ward_today()) - timedelta(days=payments.settings.retention_days)
    with payments.uow() as work:
        deleted = work.repo.purge_files(program.id, cutoff)
        work.audit(  # counts as fields `table=rows` (the access-audit dashboard sums them)
            who,
            "PurgeFiles",
            RETENTION_ACTION,
            application=None,
            fields=(f"payments.transfer_files={deleted}",),
            purpose=f"{deleted}件の振込ファイル削除",
        )
        return deleted
