"""The bank's returns imported: each returned transfer's instruction becomes FAILED.

The file is parsed whole first (returns.py); then every row is checked against the stored
instructions of the program: it exists, was sent (SENT or PAID), its account number (the
one decrypted from the instruction) and its amount are the ones the bank reports. Any
problem rejects the whole file with the per-row report and writes nothing. Otherwise, in
one transaction: the import recorded (by request id and by the file's SHA-256: the same
file twice is a replay), each instruction FAILED with its reason, and 口座不備 reported to
intake's timeline (TRANSFER_FAILED with the reason), where the call center sees it. When
intake's corrected account reached payments while the transfer was on its way (the
grant's latest account is newer than the returned one), the same transaction makes one new
PENDING instruction with it (instructions.retransfer): a return after a correction is
re-transferred once, to the new account, by the next batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from subsidy_payments.instructions import retransfer
from subsidy_payments.returns import Problem, parse_returns
from subsidy_payments.service import Payments, report_status
from subsidy_platform.access import Principal
from subsidy_platform.crypto import DataClass
from subsidy_platform.errors import Conflict
from subsidy_platform.limits import identifier


@dataclass(frozen=True, slots=True)
class ReturnsResult:
    accepted: bool
    rows: int
    failed: int
    problems: tuple[Problem, ...]
    replayed: bool = False


def import_returns(
    payments: Payments, who: Principal, request_id: str, program_id: str, content: bytes
) -> ReturnsResult:
    request_id = identifier("request_id", request_id)
    program = payments.program(program_id)
    digest = hashlib.sha256(content).hexdigest()
    rows, problems = parse_returns(content)
    if problems:
        return ReturnsResult(False, len(rows), 0, tuple(problems))
    with payments.uow() as work:
        work.lock(f"returns:{program.id}")
        previous = work.repo.return_import(request_id)
        if previous is not None:
            if previous[0] != digest:
                raise Conflict("同じリクエストIDで別の返却ファイルが取り込まれています")
            return ReturnsResult(True, previous[1], previous[1], (), replayed=True)
        if work.repo.file_imported(program.id, digest):
            return ReturnsResult(True, len(rows), 0, (), replayed=True)
        stored = work.repo.instructions_by_id(program.id, [r.instruction_id for r in rows])
        known = [stored[r.instruction_id] for r in rows if r.instruction_id in stored]
        numbers = payments.cipher_for(program.id).decrypt(
            DataClass.BANK, [i.number_ct for i in known]
        )
        account_of = {i.id: n for i, n in zip(known, numbers, strict=True)}
        for row in rows:
            found = stored.get(row.instruction_id)
            if found is None:
                problems.append(Problem(row.row, "指図番号", "この制度の振込指図にありません"))
                continue
            if found.state not in ("SENT", "PAID"):
                problems.append(Problem(row.row, "指図番号", "送信済みの振込指図ではありません"))
            stored_number = account_of.get(found.id) or ""
            if stored_number.rjust(7, "0") != row.account_number.rjust(7, "0"):
                problems.append(Problem(row.row, "口座番号", "振込指図の口座番号と一致しません"))
            if found.amount != row.amount:
                problems.append(Problem(row.row, "金額", "振込指図の金額と一致しません"))
        if problems:
            return ReturnsResult(False, len(rows), 0, tuple(problems))
        work.repo.add_return_import(program.id, request_id, digest, len(rows), who.subject)
        for row in rows:
            instruction = stored[row.instruction_id]
            work.repo.fail(instruction.id, row.reason)
            report_status(
                work,
                program.id,
                instruction.application_number,
                "TRANSFER_FAILED",
                f"口座不備（{row.reason}）",
            )
            if retransfer(work, payments, instruction.application_number) is not None:
                work.audit(
                    who,
                    "ImportReturns",
                    "create",
                    application=instruction.application_number,
                    fields=("bank_account",),
                    purpose="訂正済み口座への再振込",
                )
            work.audit(
                who,
                "ImportReturns",
                "update",
                application=instruction.application_number,
                fields=("bank_account",),
                purpose="振込不能の取込",
            )
        return ReturnsResult(True, len(rows), len(rows), ())
