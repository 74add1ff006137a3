"""Payments end to end on real servers (PostgreSQL, OpenBao, gRPC over mTLS): grants become
instructions with the account intake hands over, a batch is built and released by two
people into a 全銀 file read back by an independent reader, the bank's returns fail some
transfers (口座不備 on the timeline), corrected accounts keyed at intake create new
instructions only for the failed ones, and the reconciliation balances throughout."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest
from intake_support import PROGRAM, Client
from payments_support import (
    AMOUNT,
    build_and_release,
    check_never_twice,
    deliver,
    granted_applications,
    last_note,
    staff_stub,
    statuses,
)
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy.payments.v1 import payments_pb2

from subsidy_platform.process import ServiceProcess

# review runs too: the applications submitted here reach it at once (no backlog in
# intake's outbox for later tests of this session)
pytestmark = pytest.mark.usefixtures("review")


def _returns(rows: list[tuple[int, str, int, str]]) -> bytes:
    lines = ["指図番号,口座番号,金額,返却理由", *(f"{i},{a},{m},{r}" for i, a, m, r in rows)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def _instructions(admin: Engine, numbers: list[str]) -> dict[str, list[tuple[int, str]]]:
    with admin.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT application_number, id, state FROM payments.instructions "
                "WHERE application_number = ANY(:n) ORDER BY id"
            ),
            {"n": numbers},
        ).all()
    out: dict[str, list[tuple[int, str]]] = {n: [] for n in numbers}
    for number, ident, state in rows:
        out[number].append((int(ident), str(state)))
    return out


def _fields(account: common_pb2.BankAccount) -> dict[str, str]:
    return {f.name: v for f, v in account.ListFields()}


def _reconcile(intake: Client, payments: ServiceProcess) -> payments_pb2.Reconciliation:
    with staff_stub(intake, payments) as stub:
        result: payments_pb2.Reconciliation = stub.Reconcile(
            payments_pb2.ReconcileRequest(program_id=PROGRAM), metadata=intake.staff("auditor")
        )
    return result


def test_grants_are_paid_returned_corrected_and_paid_again(
    intake: Client, payments: ServiceProcess, admin_engine: Engine
) -> None:
    numbers = granted_applications(intake, payments, 4)
    first = _instructions(admin_engine, numbers)
    assert all(len(v) == 1 and v[0][1] == "PENDING" for v in first.values())
    batch, parsed, _content = build_and_release(intake, payments)
    mine = {t.customer_code: t for t in parsed.transfers}
    ids = {n: first[n][0][0] for n in numbers}
    for number in numbers:
        transfer = mine[f"{ids[number]:010d}"]
        assert transfer.amount == AMOUNT
        assert transfer.payee == "ｼﾊﾗｲ ﾊﾅｺ".encode("shift_jis")
        assert transfer.bank_name == "ﾐｽﾞﾎ".encode("shift_jis")
    assert parsed.requester_code == "1310400001" and parsed.crlf
    deliver(intake, payments, admin_engine)
    assert "PAYMENT_SCHEDULED" in statuses(intake, numbers[0])

    # the bank returns two transfers (口座なし, 名義相違)
    failed = numbers[:2]
    with admin_engine.connect() as connection:
        accounts = dict(
            connection.execute(
                text("SELECT application_number, id FROM payments.instructions WHERE id = ANY(:i)"),
                {"i": [ids[n] for n in failed]},
            ).all()
        )
    rows = [
        (ids[n], mine[f"{ids[n]:010d}"].account_number, AMOUNT, reason)
        for n, reason in zip(failed, ("口座なし", "名義相違"), strict=True)
    ]
    assert set(accounts) == set(failed)
    with staff_stub(intake, payments) as stub:
        officer = intake.staff("payments_officer", "officer-a")
        # one row off (the amount, then an account that is not the instruction's): the whole
        # file is refused with its rows named, and nothing fails
        for bad_row, column in (
            ((ids[numbers[2]], "0000001", AMOUNT, "解約済"), "口座番号"),
            (
                (ids[numbers[2]], mine[f"{ids[numbers[2]]:010d}"].account_number, 999, "解約済"),
                "金額",
            ),
        ):
            refused = stub.ImportReturns(
                payments_pb2.ImportReturnsRequest(
                    request_id=uuid.uuid4().hex,
                    program_id=PROGRAM,
                    content=_returns([*rows, bad_row]),
                ),
                metadata=officer,
            )
            assert not refused.accepted and refused.failed == 0
            assert [(p.row, p.field) for p in refused.problems] == [(3, column)]
        assert all(s == "SENT" for v in _instructions(admin_engine, numbers).values() for _, s in v)
        imported = stub.ImportReturns(
            payments_pb2.ImportReturnsRequest(
                request_id=uuid.uuid4().hex, program_id=PROGRAM, content=_returns(rows)
            ),
            metadata=officer,
        )
        assert imported.accepted and imported.failed == 2, imported
        confirmed = stub.ConfirmBatch(
            payments_pb2.ConfirmBatchRequest(
                batch_id=batch.batch_id, confirmed_on=batch.transfer_date
            ),
            metadata=officer,
        )
        assert confirmed.state == "CONFIRMED"
    deliver(intake, payments, admin_engine)
    assert statuses(intake, failed[0])[-1] == "TRANSFER_FAILED"
    assert last_note(intake, failed[0]) == "口座不備（口座なし）"  # what the call center reads
    assert last_note(intake, failed[1]) == "口座不備（名義相違）"
    assert statuses(intake, numbers[3])[-1] == "PAID"
    result = _reconcile(intake, payments)
    assert result.balanced and result.lines[0].failed_awaiting >= 2 * AMOUNT

    # a corrected account keyed by two operators at intake: a new instruction, for the failed
    # ones only
    account = common_pb2.BankAccount(
        bank_code="0005", branch_code="001", type="ordinary", number="1112223",
        holder_kana="シハライ ハナコ",
    )  # fmt: skip
    other = common_pb2.BankAccount(**{**_fields(account), "number": "1112224"})

    def change(
        number: str, second: common_pb2.BankAccount
    ) -> intake_pb2.RecordBankAccountChangeResponse:
        changed = intake_pb2.RecordBankAccountChangeResponse()
        with intake.stub() as stub:
            for login, keyed in (("op-first", account), ("op-verify", second)):
                changed = stub.RecordBankAccountChange(
                    intake_pb2.RecordBankAccountChangeRequest(
                        request_id=uuid.uuid4().hex, application_number=number, account=keyed
                    ),
                    metadata=intake.staff("operator", login),
                )
        return changed

    differing = change(failed[0], other)
    assert not differing.applied and list(differing.differing_fields) == ["bank_account.number"]
    for number in failed:
        assert change(number, account).applied
    with pytest.raises(grpc.RpcError) as paid:
        change(numbers[3], account)
    assert paid.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    deliver(intake, payments, admin_engine)
    deliver(intake, payments, admin_engine)
    after = _instructions(admin_engine, numbers)
    for number in failed:
        assert [s for _, s in after[number]] == ["FAILED", "PENDING"]
    assert [s for _, s in after[numbers[3]]] == ["PAID"]
    _batch2, parsed2, _ = build_and_release(intake, payments, builder="officer-b")
    again = {t.customer_code for t in parsed2.transfers}
    for number in failed:
        assert f"{after[number][1][0]:010d}" in again
    assert all(t.bank_code == "0005" for t in parsed2.transfers if t.customer_code in again)
    deliver(intake, payments, admin_engine)
    assert statuses(intake, failed[0])[-2:] == ["TRANSFER_FAILED", "PAYMENT_SCHEDULED"]
    check_never_twice(admin_engine)
    assert _reconcile(intake, payments).balanced


def test_the_builder_cannot_release_and_a_released_batch_is_never_released_again(
    intake: Client, payments: ServiceProcess, admin_engine: Engine
) -> None:
    granted_applications(intake, payments, 1)
    with staff_stub(intake, payments) as stub:
        officer = intake.staff("payments_officer", "officer-c")
        batch = stub.BuildBatch(
            payments_pb2.BuildBatchRequest(
                request_id=uuid.uuid4().hex, program_id=PROGRAM, transfer_date="2030-01-04"
            ),
            metadata=officer,
        )
        assert batch.over_cap == 0 and batch.largest <= 20000
        # the builder re-roled as approver: refused (once the 5 s account cache sees the role)
        same = intake.staff("approver", "officer-c")
        deadline = time.monotonic() + 60
        while True:
            with pytest.raises(grpc.RpcError) as refused:
                stub.ReleaseBatch(
                    payments_pb2.ReleaseBatchRequest(
                        request_id=uuid.uuid4().hex,
                        batch_id=batch.batch_id,
                        file_sha256=batch.file_sha256,
                    ),
                    metadata=same,
                )
            if refused.value.code() != grpc.StatusCode.UNAUTHENTICATED:
                break
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        approver = intake.staff("approver", "approver-c")
        with pytest.raises(grpc.RpcError) as stale:
            stub.ReleaseBatch(
                payments_pb2.ReleaseBatchRequest(
                    request_id=uuid.uuid4().hex, batch_id=batch.batch_id, file_sha256="0" * 64
                ),
                metadata=approver,
            )
        assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        request_id = uuid.uuid4().hex
        release = payments_pb2.ReleaseBatchRequest(
            request_id=request_id, batch_id=batch.batch_id, file_sha256=batch.file_sha256
        )
        first = stub.ReleaseBatch(release, metadata=approver)
        retried = stub.ReleaseBatch(release, metadata=approver)
        assert retried.replayed and retried.content == first.content
        with pytest.raises(grpc.RpcError) as twice:
            stub.ReleaseBatch(
                payments_pb2.ReleaseBatchRequest(
                    request_id=uuid.uuid4().hex,
                    batch_id=batch.batch_id,
                    file_sha256=batch.file_sha256,
                ),
                metadata=approver,
            )
        assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    check_never_twice(admin_engine)


def test_the_database_refuses_a_second_live_instruction_and_an_amount_off_the_limits(
    intake: Client, payments: ServiceProcess, admin_engine: Engine
) -> None:
    [number] = granted_applications(intake, payments, 1)
    copy = (
        "INSERT INTO payments.instructions (program_id, application_number, amount, cap, unit, "
        "bank_code, branch_code, account_type, account_number_ct, account_holder_ct, "
        "account_version) SELECT program_id, application_number, {amount}, cap, {unit}, "
        "bank_code, branch_code, account_type, account_number_ct, account_holder_ct, 1 "
        "FROM payments.instructions WHERE application_number = :n"
    )
    for amount, unit in (
        (AMOUNT, "unit"),
        (AMOUNT + 1000, "unit"),
        (AMOUNT - 500, "unit"),
        (AMOUNT, "1"),
    ):
        with pytest.raises(Exception) as refused, admin_engine.begin() as connection:
            connection.execute(text(copy.format(amount=amount, unit=unit)), {"n": number})
        assert "violates" in str(refused.value)


def test_instructions_are_listed_page_by_page_without_gaps_or_repeats(
    intake: Client, payments: ServiceProcess
) -> None:
    granted_applications(intake, payments, 3)
    with staff_stub(intake, payments) as stub:
        officer = intake.staff("payments_officer", "officer-a")

        def page(after: int, limit: int) -> list[int]:
            listed = stub.ListInstructions(
                payments_pb2.ListInstructionsRequest(
                    program_id=PROGRAM, limit=limit, after_id=after
                ),
                metadata=officer,
            ).instructions
            return [i.instruction_id for i in listed]

        everything = page(0, 1000)
        assert len(everything) >= 3 and everything == sorted(everything)
        paged: list[int] = []
        while True:
            chunk = page(paged[-1] if paged else 0, 2)
            paged.extend(chunk)
            if len(chunk) < 2:
                break
        assert paged[: len(everything)] == everything
        with pytest.raises(grpc.RpcError) as refused:
            page(-1, 2)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
