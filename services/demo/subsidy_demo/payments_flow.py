"""The demo's payments part (振込): a simulated payments officer, approver, bank and auditor.

After the ward's decisions, every grant reaches the payments service (review's outbox) with
the account intake hands over. The payments officer builds a batch for the next bank
business day; where a granted application's bank or branch code is unknown (the synthetic
program plants some), the build is refused naming the applications, and their accounts are
corrected at intake (keyed twice) before the batch is built again. A second person
(approver) sees the batch's count, total, largest amount and amounts over the cap and
releases it: the 全銀 file is written under `out/payments/`. A second release of the same
batch is refused. The simulated bank returns a few transfers (口座なし, 名義相違, 解約済): a
return file with a bad row is rejected whole first, then the good one is imported. The
bank confirms the rest (paid). The returned applicants' accounts are corrected at intake;
payments makes a new instruction for each (its previous one FAILED), which a second batch
pays. The cross-service reconciliation (review's decisions against payments' grants,
instructions and the released files less returns) is printed after every step that moves
money; the last one goes into the demo's summary, which fails the run unless it balances.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc
from subsidy_payments import cross_report
from subsidy_payments.calendar_jp import next_bank_business_day
from subsidy_payments.cli import show_batch

from subsidy_demo.review_flow import ReviewDemo, step
from subsidy_demo.staff import Metadata, bearer
from subsidy_platform.errors import field_violations
from subsidy_platform.private_files import write_private
from subsidy_platform.tls import Pki, channel_credentials, client_identity
from subsidy_platform.ward_clock import ward_today

RETURN_REASONS = ("口座なし", "名義相違", "解約済")
CORRECTED_BANK = ("0005", "001")  # a bank and branch zengin-code knows


class PaymentsDemo:
    def __init__(
        self,
        review: ReviewDemo,
        stub: payments_pb2_grpc.PaymentsServiceStub,
        staff: dict[str, Metadata],
    ) -> None:
        self.review = review
        self.stub = stub
        self.staff = staff
        self.out = review.out.parent / "payments"
        self.program_id = review.program_id

    def reconcile(self) -> payments_pb2.Reconciliation:
        result: payments_pb2.Reconciliation = self.stub.Reconcile(
            payments_pb2.ReconcileRequest(program_id=self.program_id),
            metadata=self.staff["auditor"],
        )
        return result

    def wait_for_grants(self, timeout: float = 600.0, quiet: float = 15.0) -> int:
        """Until review's decisions have stopped arriving (no new grant for `quiet` seconds)
        and every grant has its instruction (intake's account read)."""
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            line = self.reconcile().lines[0]
            if line.grants != seen:
                seen, since = line.grants, time.monotonic()
            elif seen > 0 and line.awaiting_account == 0 and time.monotonic() - since > quiet:
                return seen
            time.sleep(1.0)
        raise TimeoutError("review's decisions did not reach payments in time")

    def pending(self) -> list[payments_pb2.Instruction]:
        """Every PENDING instruction of the program, page by page."""
        found: list[payments_pb2.Instruction] = []
        while True:
            page = self.stub.ListInstructions(
                payments_pb2.ListInstructionsRequest(
                    program_id=self.program_id,
                    state="PENDING",
                    limit=1000,
                    after_id=found[-1].instruction_id if found else 0,
                ),
                metadata=self.staff["officer"],
            ).instructions
            found.extend(page)
            if len(page) < 1000:
                return found

    def correct_account(self, number: str, tag: int) -> None:
        """The applicant's corrected account, keyed by two of the contractor's operators at
        intake (the first keying, then the verification keying by the other)."""
        record = self.review.intake.GetApplication(
            intake_pb2.GetApplicationRequest(
                application_number=number, unmask=True, purpose="口座訂正の入力"
            ),
            metadata=self.review.staff["operator"],
        ).application
        account = common_pb2.BankAccount(
            bank_code=CORRECTED_BANK[0],
            branch_code=CORRECTED_BANK[1],
            type="ordinary",
            number=f"{(tag * 7919) % 10_000_000:07d}",
            holder_kana=record.applicant.name_kana,
        )
        for who in ("operator", "operator2"):
            changed = self.review.intake.RecordBankAccountChange(
                intake_pb2.RecordBankAccountChangeRequest(
                    request_id=uuid.uuid4().hex,
                    application_number=number,
                    account=account,
                    note="口座訂正（デモ）",
                ),
                metadata=self.review.staff[who],
            )
        assert changed.applied

    def build(self, transfer_date: str) -> payments_pb2.Batch:
        """Build a batch; accounts the 全銀 file cannot carry are corrected first."""
        for attempt in range(3):
            try:
                batch: payments_pb2.Batch = self.stub.BuildBatch(
                    payments_pb2.BuildBatchRequest(
                        request_id=uuid.uuid4().hex,
                        program_id=self.program_id,
                        transfer_date=transfer_date,
                    ),
                    metadata=self.staff["officer"],
                )
                return batch
            except grpc.RpcError as error:
                bad = [
                    v.field.removeprefix("application:")
                    for v in field_violations(error)
                    if v.field.startswith("application:")
                ]
                if not bad or attempt == 2:
                    raise
                print(
                    f"    refused: {len(bad)} accounts the 全銀 file cannot carry: {', '.join(bad[:5])}…"
                )
                for n, number in enumerate(bad):
                    self.correct_account(number, n + 1)
                self.wait_until(functools.partial(self._accounts_fixed, set(bad)))
                print(
                    f"    corrected at intake (keyed twice); payments refreshed {len(bad)} instructions"
                )
        raise AssertionError("unreachable")

    def _accounts_fixed(self, numbers: set[str]) -> bool:
        fixed = {
            i.application_number
            for i in self.pending()
            if i.application_number in numbers and i.bank_code == CORRECTED_BANK[0]
        }
        return fixed == numbers

    def wait_until(self, done: Callable[[], bool], timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("the outbox did not deliver in time")
            time.sleep(1.0)

    def release(self, batch: payments_pb2.Batch) -> tuple[payments_pb2.Batch, bytes]:
        seen: payments_pb2.Batch = self.stub.GetBatch(
            payments_pb2.GetBatchRequest(batch_id=batch.batch_id), metadata=self.staff["approver"]
        )
        print("    approver sees: " + show_batch(seen).replace("\n", "\n    "))
        released = self.stub.ReleaseBatch(
            payments_pb2.ReleaseBatchRequest(
                request_id=uuid.uuid4().hex, batch_id=seen.batch_id, file_sha256=seen.file_sha256
            ),
            metadata=self.staff["approver"],
        )
        path = write_private(self.out / released.batch.file_name, released.content)
        print(f"    released: {path} ({len(released.content):,} bytes)")
        try:
            self.stub.ReleaseBatch(
                payments_pb2.ReleaseBatchRequest(
                    request_id=uuid.uuid4().hex,
                    batch_id=seen.batch_id,
                    file_sha256=seen.file_sha256,
                ),
                metadata=self.staff["approver"],
            )
            raise AssertionError("a batch was released twice")
        except grpc.RpcError as error:
            print(f"    released again: refused ({error.code().name}: {error.details()})")
        return released.batch, released.content

    def confirm(self, batch: payments_pb2.Batch) -> None:
        """The bank's confirmation, which comes on or after the transfer date: before it,
        payments refuses it (the transfers stay SENT, on their way)."""
        if ward_today().isoformat() < batch.transfer_date:
            print(
                f"    batch {batch.batch_id}: confirmation waits for the transfer date "
                f"{batch.transfer_date} (payments refuses it before)"
            )
            return
        confirmed = self.stub.ConfirmBatch(
            payments_pb2.ConfirmBatchRequest(
                batch_id=batch.batch_id, confirmed_on=batch.transfer_date
            ),
            metadata=self.staff["officer"],
        )
        print(f"    bank confirmed batch {confirmed.batch_id}: {confirmed.state}")

    def returns(self, content: bytes, count: int) -> list[str]:
        """The simulated bank's return file for `count` transfers of a released file."""
        records = [r for r in content.split(b"\r\n") if r[:1] == b"2"][:count]
        rows = [
            f"{int(r[91:101])},{r[43:50].decode()},{int(r[80:90])},{RETURN_REASONS[n % 3]}"
            for n, r in enumerate(records)
        ]
        bad = [*rows, "12x,1234567,5000,不明な理由"]
        for name, lines, expect in (("returns-bad.csv", bad, False), ("returns.csv", rows, True)):
            data = ("\r\n".join(["指図番号,口座番号,金額,返却理由", *lines]) + "\r\n").encode(
                "utf-8-sig"
            )
            write_private(self.out / name, data)
            result = self.stub.ImportReturns(
                payments_pb2.ImportReturnsRequest(
                    request_id=uuid.uuid4().hex, program_id=self.program_id, file_name=name,
                    content=data,
                ),
                metadata=self.staff["officer"],
            )  # fmt: skip
            verdict = "imported" if result.accepted else "rejected whole"
            print(f"    {name}: {verdict}, rows {result.rows}, failed {result.failed}")
            for problem in result.problems[:3]:
                print(f"        {problem.row}行目 {problem.field}: {problem.problem}")
            assert result.accepted == expect
        return [r.split(",")[0] for r in rows]


def print_reconciliation(demo: PaymentsDemo) -> payments_pb2.CrossReconciliation:
    """The cross-service reconciliation as the auditor runs it (review's decisions, payments'
    grants and instructions, the released files less returns)."""
    result: payments_pb2.CrossReconciliation = demo.stub.ReconcileAcross(
        payments_pb2.ReconcileAcrossRequest(program_id=demo.program_id),
        metadata=demo.staff["auditor"],
        timeout=600,
    )
    print("    " + cross_report.render(result).replace("\n", "\n    "))
    return result


def run_payments(
    review: ReviewDemo, address: str, auth: grpc.Channel, passwords: Mapping[str, str], pki: Pki
) -> dict[str, Any]:
    """Pay the program's grants, returns and re-transfer included (module docstring); the
    final reconciliation as the summary records it."""
    staff: dict[str, Metadata] = {}

    def sign_in_again() -> None:
        """Fresh tokens (they live 15 minutes; waiting for the outboxes can take longer)."""
        for key, login in (
            ("officer", "demo-payments"),
            ("approver", "demo-approver"),
            ("auditor", "demo-auditor"),
        ):
            staff[key] = bearer(auth, login, passwords[login])
        for key, login in (("operator", "demo-operator"), ("operator2", "demo-operator2")):
            review.staff[key] = bearer(auth, login, passwords[login])

    sign_in_again()
    credentials = channel_credentials(pki, client_identity("console"))
    with grpc.secure_channel(address, credentials) as channel:
        demo = PaymentsDemo(review, payments_pb2_grpc.PaymentsServiceStub(channel), staff)
        step("payments: every grant from review's outbox, with the account intake hands over")
        started = time.perf_counter()
        grants = demo.wait_for_grants()
        print(
            f"    {grants:,} grants with their instructions after {time.perf_counter() - started:.1f} s"
        )
        print_reconciliation(demo)
        sign_in_again()

        transfer = next_bank_business_day(ward_today() + timedelta(days=3))
        step(f"payments officer builds the transfer batch for {transfer} (a bank business day)")
        batch = demo.build(transfer.isoformat())
        print("    " + show_batch(batch).replace("\n", "\n    "))
        step("approver (a second person) checks and releases it: the 全銀 file")
        released, content = demo.release(batch)

        step("the bank returns a few transfers (口座不備); the rest are confirmed paid")
        returned = demo.returns(content, 3)
        demo.confirm(released)
        print_reconciliation(demo)

        sign_in_again()
        step("the returned applicants' accounts are corrected at intake (keyed twice)")
        numbers = {
            i.application_number
            for i in demo.stub.ListInstructions(
                payments_pb2.ListInstructionsRequest(
                    program_id=demo.program_id, state="FAILED", limit=1000
                ),
                metadata=staff["officer"],
            ).instructions
            if str(i.instruction_id) in returned
        }
        for n, number in enumerate(sorted(numbers)):
            demo.correct_account(number, 100 + n)
        demo.wait_until(lambda: {i.application_number for i in demo.pending()} >= numbers)
        print(f"    new instructions for {len(numbers)} grants (their previous ones FAILED)")

        again = next_bank_business_day(transfer + timedelta(days=1))
        step(f"re-transfer: a second batch for {again}")
        second = demo.build(again.isoformat())
        released2, _ = demo.release(second)
        demo.confirm(released2)

        step("reconciliation (照合) across review and payments, the released files read back")
        final = print_reconciliation(demo)
        held = demo.stub.ListHeldFiles(
            payments_pb2.ListHeldFilesRequest(program_id=demo.program_id),
            metadata=staff["auditor"],
        )
        print(f"    transfer files still held (encrypted): {len(held.files)}")
        print(f"    files under {Path(demo.out)}: {sorted(p.name for p in demo.out.iterdir())}")
    return cross_report.as_json(final)
