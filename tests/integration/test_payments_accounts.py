"""The account a transfer pays, over the real services (intake, review, payments and notices
running together; every grant follows a checker's check and the ward's decision, every
corrected account is keyed at intake, no event is made by hand):

- the account an instruction pays is the latest one intake holds when its file is built,
  whether the correction arrives while it waits, sits in an unreleased batch (that batch can
  no longer be released; cancelled, with its reason kept, and rebuilt, the new file pays the
  new account), or is on its way to the bank (a return re-transfers once, to the new
  account);
- no account is paid for two grants without two people saying so: an instruction whose
  account another grant has is held back, with its reason, until one officer records and a
  different approver approves the pair, and the approver's check lists the pair;
- a batch is confirmed paid only on or after its transfer date (the ward's today)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client
from payments_support import (
    AMOUNT,
    backdate,
    check_never_twice,
    clear_as_namesakes,
    grant_in_review,
    next_business_day,
    settle_outbox,
    staff_stub,
    submit_for_review,
)
from sqlalchemy import Engine, exc, text
from sqlalchemy.orm import Session
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy.payments.v1 import payments_pb2
from zengin_reader import ZenginFile, read_zengin

from subsidy_platform.process import ServiceProcess
from subsidy_platform.users import create_user

pytestmark = pytest.mark.usefixtures("notices")

OFFICER = ("payments_officer", "officer-accounts")
APPROVER = ("approver", "approver-accounts")
CLI_PASSWORD = "accounts passphrase 1"


def _change_account(intake: Client, number: str, account_number: str) -> None:
    """A corrected account keyed at intake by two operators (RecordBankAccountChange:
    the first keying, then the verification keying that applies it)."""
    account = common_pb2.BankAccount(
        bank_code="0001",
        branch_code="001",
        type="ordinary",
        number=account_number,
        holder_kana="シハライ ハナコ",
    )
    with intake.stub() as stub:
        for login in ("op-first-accounts", "op-verify-accounts"):
            changed = stub.RecordBankAccountChange(
                intake_pb2.RecordBankAccountChangeRequest(
                    request_id=uuid.uuid4().hex,
                    application_number=number,
                    account=account,
                    note="口座訂正",
                ),
                metadata=intake.staff("operator", login),
            )
    assert changed.applied


def _to_payments(intake: Client, admin: Engine) -> None:
    settle_outbox(intake.process, admin, "intake", "payments")


def _instructions(admin: Engine, number: str) -> list[tuple[int, str, int]]:
    """(id, state, account version) of the application's instructions, oldest first."""
    with admin.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, state, account_version FROM payments.instructions "
                "WHERE application_number = :n ORDER BY id"
            ),
            {"n": number},
        ).all()
    return [(int(i), str(s), int(v)) for i, s, v in rows]


def _build(intake: Client, payments: ServiceProcess) -> payments_pb2.Batch:
    with staff_stub(intake, payments) as stub:
        batch: payments_pb2.Batch = stub.BuildBatch(
            payments_pb2.BuildBatchRequest(
                request_id=uuid.uuid4().hex, program_id=PROGRAM, transfer_date=next_business_day()
            ),
            metadata=intake.staff(*OFFICER),
        )
    return batch


def _release(
    intake: Client, payments: ServiceProcess, batch_id: int
) -> tuple[payments_pb2.Batch, ZenginFile]:
    with staff_stub(intake, payments) as stub:
        seen = stub.GetBatch(
            payments_pb2.GetBatchRequest(batch_id=batch_id), metadata=intake.staff(*APPROVER)
        )
        released = stub.ReleaseBatch(
            payments_pb2.ReleaseBatchRequest(
                request_id=uuid.uuid4().hex, batch_id=batch_id, file_sha256=seen.file_sha256
            ),
            metadata=intake.staff(*APPROVER),
        )
    return seen, read_zengin(released.content)


def _paid_account(parsed: ZenginFile, instruction_id: int) -> str:
    [transfer] = [t for t in parsed.transfers if t.customer_code == f"{instruction_id:010d}"]
    assert transfer.amount == AMOUNT
    return str(transfer.account_number)


def _returns(rows: list[tuple[int, str]]) -> bytes:
    lines = ["指図番号,口座番号,金額,返却理由", *(f"{i},{a},{AMOUNT},口座なし" for i, a in rows)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _cancel(intake: Client, payments: ServiceProcess, batch_id: int) -> payments_pb2.Batch:
    with staff_stub(intake, payments) as stub:
        cancelled: payments_pb2.Batch = stub.CancelBatch(
            payments_pb2.CancelBatchRequest(batch_id=batch_id, reason="口座訂正のため作り直し"),
            metadata=intake.staff(*OFFICER),
        )
    return cancelled


def test_an_account_corrected_while_pending_is_the_one_the_file_pays(
    intake: Client, review: ServiceProcess, payments: ServiceProcess, admin_engine: Engine
) -> None:
    number = submit_for_review(intake, **{"bank_account.number": "1000001"})
    grant_in_review(intake, review, payments, admin_engine, [number])
    [(ident, state, version)] = _instructions(admin_engine, number)
    assert (state, version) == ("PENDING", 1)
    _change_account(intake, number, "2000002")
    _to_payments(intake, admin_engine)
    assert _instructions(admin_engine, number) == [(ident, "PENDING", 2)]
    batch = _build(intake, payments)
    _seen, parsed = _release(intake, payments, batch.batch_id)
    assert _paid_account(parsed, ident) == "2000002"
    check_never_twice(admin_engine)


def test_a_correction_while_batched_stops_the_release_and_the_rebuilt_file_pays_the_new_account(
    intake: Client, review: ServiceProcess, payments: ServiceProcess, admin_engine: Engine
) -> None:
    number = submit_for_review(intake, **{"bank_account.number": "3000003"})
    grant_in_review(intake, review, payments, admin_engine, [number])
    batch = _build(intake, payments)
    [(ident, state, _)] = _instructions(admin_engine, number)
    assert state == "BATCHED"

    _change_account(intake, number, "4000004")
    _to_payments(intake, admin_engine)
    with staff_stub(intake, payments) as stub:
        seen = stub.GetBatch(
            payments_pb2.GetBatchRequest(batch_id=batch.batch_id), metadata=intake.staff(*APPROVER)
        )
        with pytest.raises(grpc.RpcError) as stale:
            stub.ReleaseBatch(
                payments_pb2.ReleaseBatchRequest(
                    request_id=uuid.uuid4().hex,
                    batch_id=batch.batch_id,
                    file_sha256=seen.file_sha256,
                ),
                metadata=intake.staff(*APPROVER),
            )
        assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert number in (stale.value.details() or "")
        with pytest.raises(grpc.RpcError) as no_reason:
            stub.CancelBatch(
                payments_pb2.CancelBatchRequest(batch_id=batch.batch_id),
                metadata=intake.staff(*OFFICER),
            )
        assert no_reason.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # the database refuses to send it too, whatever the code does
    with pytest.raises(exc.IntegrityError), admin_engine.begin() as connection:
        connection.execute(
            text("UPDATE payments.instructions SET state = 'SENT' WHERE id = :i"), {"i": ident}
        )

    cancelled = _cancel(intake, payments, batch.batch_id)
    assert cancelled.state == "CANCELLED" and cancelled.cancel_reason == "口座訂正のため作り直し"
    with admin_engine.connect() as connection:
        audited = connection.execute(
            text("SELECT count(*) FROM audit.events WHERE rpc = 'CancelBatch' AND purpose = :p"),
            {"p": f"振込バッチ {batch.batch_id} の取消（理由: 口座訂正のため作り直し）"},
        ).scalar_one()
    assert audited == 1
    assert _instructions(admin_engine, number) == [(ident, "PENDING", 1)]

    rebuilt = _build(intake, payments)
    assert _instructions(admin_engine, number) == [(ident, "BATCHED", 2)]
    _seen, parsed = _release(intake, payments, rebuilt.batch_id)
    assert _paid_account(parsed, ident) == "4000004"
    check_never_twice(admin_engine)


def test_a_return_after_a_correction_while_sent_is_re_transferred_once_to_the_new_account(
    intake: Client, review: ServiceProcess, payments: ServiceProcess, admin_engine: Engine
) -> None:
    number = submit_for_review(intake, **{"bank_account.number": "5000005"})
    grant_in_review(intake, review, payments, admin_engine, [number])
    batch = _build(intake, payments)
    _seen, parsed = _release(intake, payments, batch.batch_id)
    [(sent, state, _)] = _instructions(admin_engine, number)
    assert state == "SENT" and _paid_account(parsed, sent) == "5000005"

    _change_account(intake, number, "6000006")
    _to_payments(intake, admin_engine)
    assert _instructions(admin_engine, number) == [(sent, "SENT", 1)]  # on its way: kept

    officer = intake.staff(*OFFICER)
    with staff_stub(intake, payments) as stub:
        imported = stub.ImportReturns(
            payments_pb2.ImportReturnsRequest(
                request_id=uuid.uuid4().hex,
                program_id=PROGRAM,
                content=_returns([(sent, "5000005")]),
            ),
            metadata=officer,
        )
    assert imported.accepted and imported.failed == 1
    [failed, (again, state, version)] = _instructions(admin_engine, number)
    assert failed == (sent, "FAILED", 1) and (state, version) == ("PENDING", 2)
    _to_payments(intake, admin_engine)  # nothing more arrives: one re-transfer
    assert len(_instructions(admin_engine, number)) == 2

    second = _build(intake, payments)
    _seen, parsed = _release(intake, payments, second.batch_id)
    assert _paid_account(parsed, again) == "6000006"
    # the re-transfer returned too (no newer account): failed, and no third instruction
    with staff_stub(intake, payments) as stub:
        stub.ImportReturns(
            payments_pb2.ImportReturnsRequest(
                request_id=uuid.uuid4().hex,
                program_id=PROGRAM,
                content=_returns([(again, "6000006")]),
            ),
            metadata=officer,
        )
    assert [s for _, s, _ in _instructions(admin_engine, number)] == ["FAILED", "FAILED"]
    check_never_twice(admin_engine)


def test_two_grants_sharing_one_account_wait_for_two_people_and_the_approver_sees_the_pair(
    intake: Client, review: ServiceProcess, payments: ServiceProcess, admin_engine: Engine
) -> None:
    shared = f"{uuid.uuid4().int % 10_000_000:07d}"
    first = submit_for_review(intake, **{"bank_account.number": shared})
    second = submit_for_review(intake, **{"bank_account.number": shared})
    settle_outbox(intake.process, admin_engine, "intake", "review")
    clear_as_namesakes(intake, review, first)
    alone = submit_for_review(intake)  # an account of its own: built at once
    grant_in_review(intake, review, payments, admin_engine, [first, second, alone])

    built = _build(intake, payments)  # other tests' instructions may be waiting too
    assert built.held_back >= 2
    assert all(_instructions(admin_engine, n)[0][1] == "PENDING" for n in (first, second))
    assert _instructions(admin_engine, alone)[0][1] == "BATCHED"
    _cancel(intake, payments, built.batch_id)
    ward = intake.staff("ward_officer", "ward-shared")
    with staff_stub(intake, payments) as stub:
        held = stub.ListHeldInstructions(
            payments_pb2.ListHeldInstructionsRequest(program_id=PROGRAM), metadata=ward
        )
        mine = {h.application_number: h for h in held.instructions}
        assert list(mine[first].other_application_numbers) == [second]
        assert list(mine[second].other_application_numbers) == [first]
        assert "同じ振込先口座" in mine[first].reason
        assert alone not in mine
        with pytest.raises(grpc.RpcError) as unrelated:  # two accounts: nothing to clear
            stub.ClearSharedAccount(
                payments_pb2.ClearSharedAccountRequest(
                    request_id=uuid.uuid4().hex,
                    program_id=PROGRAM,
                    application_number=first,
                    other_application_number=alone,
                    reason="別世帯",
                ),
                metadata=ward,
            )
        assert unrelated.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        recorded = stub.ClearSharedAccount(
            payments_pb2.ClearSharedAccountRequest(
                request_id=uuid.uuid4().hex,
                program_id=PROGRAM,
                application_number=second,
                other_application_number=first,
                reason="別世帯の親子（区で確認済み）",
            ),
            metadata=ward,
        )
        assert recorded.recorded_by == "ward-shared" and not recorded.approved_by
        waiting = stub.ListHeldInstructions(
            payments_pb2.ListHeldInstructionsRequest(program_id=PROGRAM), metadata=ward
        )
        still = {h.application_number: h for h in waiting.instructions}
        assert list(still[first].awaiting_approval) == [second]  # one person is not enough

        approved = stub.ApproveSharedAccountClearance(
            payments_pb2.ApproveSharedAccountClearanceRequest(
                request_id=uuid.uuid4().hex,
                program_id=PROGRAM,
                application_number=first,
                other_application_number=second,
            ),
            metadata=intake.staff(*APPROVER),
        )
        assert approved.approved_by == APPROVER[1]
        after = stub.ListHeldInstructions(
            payments_pb2.ListHeldInstructionsRequest(program_id=PROGRAM), metadata=ward
        )
        assert not {first, second} & {h.application_number for h in after.instructions}

    batch = _build(intake, payments)
    seen, parsed = _release(intake, payments, batch.batch_id)
    pairs = {(p.application_number, p.other_application_number) for p in seen.shared_accounts}
    assert {(first, second), (second, first)} <= pairs
    assert all(
        p.recorded_by == "ward-shared" and p.approved_by == APPROVER[1]
        for p in seen.shared_accounts
        if p.application_number in (first, second)
    )
    ids = [_instructions(admin_engine, n)[0][0] for n in (first, second)]
    assert [_paid_account(parsed, i) for i in ids] == [shared, shared]
    with admin_engine.connect() as connection:
        audited = connection.execute(
            text(
                "SELECT rpc, count(*) FROM audit.events WHERE rpc IN ('ClearSharedAccount', "
                "'ApproveSharedAccountClearance') AND application_id = ANY(:n) GROUP BY rpc"
            ),
            {"n": [first, second]},
        ).all()
    assert dict(audited) == {"ClearSharedAccount": 2, "ApproveSharedAccountClearance": 2}
    check_never_twice(admin_engine)


def test_the_database_refuses_a_clearance_approved_by_the_one_who_recorded_it(
    intake: Client, review: ServiceProcess, payments: ServiceProcess, admin_engine: Engine
) -> None:
    numbers = sorted(submit_for_review(intake) for _ in range(2))
    grant_in_review(intake, review, payments, admin_engine, numbers)
    with pytest.raises(exc.IntegrityError), admin_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO payments.shared_account_clearances (program_id, application_number, "
                "other_application_number, account_index, reason, request_id, recorded_by, "
                "approved_by, approved_at) VALUES (:p, :a, :b, 'x', '確認', :r, 'same', 'same', "
                "now())"
            ),
            {"p": PROGRAM, "a": numbers[0], "b": numbers[1], "r": uuid.uuid4().hex},
        )


def test_a_batch_is_confirmed_paid_only_from_its_transfer_date(
    intake: Client, review: ServiceProcess, payments: ServiceProcess, admin_engine: Engine
) -> None:
    number = submit_for_review(intake)
    grant_in_review(intake, review, payments, admin_engine, [number])
    batch = _build(intake, payments)
    _release(intake, payments, batch.batch_id)
    officer = intake.staff(*OFFICER)
    with staff_stub(intake, payments) as stub:
        for on, code in (
            (batch.transfer_date, grpc.StatusCode.INVALID_ARGUMENT),  # a future date
            ("", grpc.StatusCode.FAILED_PRECONDITION),  # today, before the transfer date
        ):
            with pytest.raises(grpc.RpcError) as early:
                stub.ConfirmBatch(
                    payments_pb2.ConfirmBatchRequest(batch_id=batch.batch_id, confirmed_on=on),
                    metadata=officer,
                )
            assert early.value.code() == code
        assert [s for _, s, _ in _instructions(admin_engine, number)] == ["SENT"]
        transfer_date = backdate(admin_engine, batch.batch_id)  # two weeks later
        confirmed = stub.ConfirmBatch(
            payments_pb2.ConfirmBatchRequest(batch_id=batch.batch_id, confirmed_on=transfer_date),
            metadata=officer,
        )
    assert confirmed.state == "CONFIRMED"
    assert [s for _, s, _ in _instructions(admin_engine, number)] == ["PAID"]
    with pytest.raises(exc.IntegrityError), admin_engine.begin() as connection:
        connection.execute(
            text("UPDATE payments.batches SET confirmed_on = transfer_date - 1 WHERE id = :b"),
            {"b": batch.batch_id},
        )


@contextmanager
def _account_events_held(admin: Engine) -> Iterator[None]:
    """intake's `intake.bank_account` events to payments wait (a slow relay): written with
    a retry time an hour ahead, then made due and delivered when the block ends."""
    with admin.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION intake.test_hold_account_events() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN NEW.next_attempt_at = now() + interval '1 hour'; "
                "RETURN NEW; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER test_hold_account_events BEFORE INSERT ON intake.outbox "
                "FOR EACH ROW WHEN (NEW.topic = 'intake.bank_account' "
                "AND NEW.destination = 'payments') "
                "EXECUTE FUNCTION intake.test_hold_account_events()"
            )
        )
    try:
        yield
    finally:
        with admin.begin() as connection:
            connection.execute(text("DROP TRIGGER test_hold_account_events ON intake.outbox"))
            connection.execute(text("DROP FUNCTION intake.test_hold_account_events()"))


def _undelivered_account_events(admin: Engine, number: str) -> int:
    with admin.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM intake.outbox WHERE topic = 'intake.bank_account' "
                    "AND destination = 'payments' AND delivered_at IS NULL AND key LIKE :k"
                ),
                {"k": f"bank-account-{number}-%"},
            ).scalar_one()
        )


def test_a_correction_whose_event_has_not_arrived_is_still_the_account_built_and_released(
    intake: Client, review: ServiceProcess, payments: ServiceProcess, admin_engine: Engine
) -> None:
    waiting = submit_for_review(intake, **{"bank_account.number": "7000007"})
    batched = submit_for_review(intake, **{"bank_account.number": "8000008"})
    grant_in_review(intake, review, payments, admin_engine, [waiting, batched])
    with _account_events_held(admin_engine):
        # corrected while waiting, its event held: the build asks intake and takes it
        _change_account(intake, batched, "8100008")  # corrected before this build too
        first = _build(intake, payments)
        assert _undelivered_account_events(admin_engine, batched) == 1
        [(batched_id, state, version)] = _instructions(admin_engine, batched)
        assert (state, version) == ("BATCHED", 2)
        # corrected again after the build, the event still held: the release asks intake
        _change_account(intake, batched, "8200008")
        with staff_stub(intake, payments) as stub, pytest.raises(grpc.RpcError) as behind:
            stub.ReleaseBatch(
                payments_pb2.ReleaseBatchRequest(
                    request_id=uuid.uuid4().hex,
                    batch_id=first.batch_id,
                    file_sha256=first.file_sha256,
                ),
                metadata=intake.staff(*APPROVER),
            )
        assert behind.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert batched in (behind.value.details() or "")
        _cancel(intake, payments, first.batch_id)
        _change_account(intake, waiting, "7100007")
        rebuilt = _build(intake, payments)
        _seen, parsed = _release(intake, payments, rebuilt.batch_id)
        [(waiting_id, _, _)] = _instructions(admin_engine, waiting)
        assert _paid_account(parsed, batched_id) == "8200008"
        assert _paid_account(parsed, waiting_id) == "7100007"
    with admin_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE intake.outbox SET next_attempt_at = now() "
                "WHERE delivered_at IS NULL AND destination = 'payments'"
            )
        )
    _to_payments(intake, admin_engine)  # the late events change nothing
    assert _instructions(admin_engine, batched) == [(batched_id, "SENT", 3)]
    assert _instructions(admin_engine, waiting) == [(waiting_id, "SENT", 2)]
    check_never_twice(admin_engine)


def test_the_commands_list_held_instructions_clear_a_pair_by_two_people_and_show_it(
    intake: Client,
    review: ServiceProcess,
    payments: ServiceProcess,
    auth: ServiceProcess,
    admin_engine: Engine,
    environment: Any,
) -> None:
    tag = uuid.uuid4().hex[:6]
    logins = {r: f"cli-{r}-{tag}" for r in ("ward_officer", "payments_officer", "approver")}
    with Session(admin_engine) as session:
        for role, login in logins.items():
            create_user(session, login, role, CLI_PASSWORD)
        session.commit()

    def run(role: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable, "-m", "subsidy_payments.cli", "--server", payments.address,
            "--auth-server", auth.address, "--login", logins[role], "--password-stdin",
            "--pki", str(environment.settings.state_dir / "pki"), *args,
        ]  # fmt: skip
        return subprocess.run(
            command, input=CLI_PASSWORD + "\n", capture_output=True, text=True, timeout=180
        )

    shared = f"{uuid.uuid4().int % 10_000_000:07d}"
    first = submit_for_review(intake, **{"bank_account.number": shared})
    second = submit_for_review(intake, **{"bank_account.number": shared})
    settle_outbox(intake.process, admin_engine, "intake", "review")
    clear_as_namesakes(intake, review, first)
    grant_in_review(intake, review, payments, admin_engine, [first, second])

    held = run("payments_officer", "held", "--program", PROGRAM)
    assert held.returncode == 0, held.stderr
    assert f"{first}\t{AMOUNT:,}円\t同じ口座: {second}\t同じ振込先口座" in held.stdout
    cleared = run(
        "ward_officer", "clear-shared", "--program", PROGRAM, first, second, "--reason", "別世帯"
    )
    assert cleared.returncode == 0 and "承認待ち" in cleared.stdout, cleared.stderr
    waiting = run("payments_officer", "held", "--program", PROGRAM)
    assert f"同じ口座: {second} 承認待ち {second}" in waiting.stdout
    approved = run("approver", "approve-shared", "--program", PROGRAM, second, first)
    assert approved.returncode == 0 and f"承認 {logins['approver']}" in approved.stdout

    built = run("payments_officer", "build", "--program", PROGRAM, "--date", next_business_day())
    assert built.returncode == 0, built.stderr
    batch_id = built.stdout.split("振込バッチ ")[1].split(" ")[0]
    shown = run("approver", "show", batch_id)
    line = f"{first} と {second}（BATCHED バッチ {batch_id}） 確認 {logins['ward_officer']}"
    assert line in shown.stdout, shown.stdout
    cancelled = run("payments_officer", "cancel", batch_id, "--reason", "振込日の誤り")
    assert cancelled.returncode == 0 and "取消理由 振込日の誤り" in cancelled.stdout


def test_a_later_grant_to_an_account_already_paid_is_held_back(
    intake: Client, review: ServiceProcess, payments: ServiceProcess, admin_engine: Engine
) -> None:
    shared = f"{uuid.uuid4().int % 10_000_000:07d}"
    paid = submit_for_review(intake, **{"bank_account.number": shared})
    grant_in_review(intake, review, payments, admin_engine, [paid])
    batch = _build(intake, payments)
    _release(intake, payments, batch.batch_id)
    with staff_stub(intake, payments) as stub:
        stub.ConfirmBatch(
            payments_pb2.ConfirmBatchRequest(
                batch_id=batch.batch_id, confirmed_on=backdate(admin_engine, batch.batch_id)
            ),
            metadata=intake.staff(*OFFICER),
        )
    assert [s for _, s, _ in _instructions(admin_engine, paid)] == ["PAID"]

    later = submit_for_review(intake, **{"bank_account.number": shared})
    settle_outbox(intake.process, admin_engine, "intake", "review")
    clear_as_namesakes(intake, review, later)
    grant_in_review(intake, review, payments, admin_engine, [later])
    with staff_stub(intake, payments) as stub:
        held = stub.ListHeldInstructions(
            payments_pb2.ListHeldInstructionsRequest(program_id=PROGRAM),
            metadata=intake.staff("auditor"),
        )
    [mine] = [h for h in held.instructions if h.application_number == later]
    assert list(mine.other_application_numbers) == [paid]
    assert paid not in {h.application_number for h in held.instructions}  # paid: not held
    with staff_stub(intake, payments) as stub:
        try:  # other tests' instructions may be waiting: a batch without this one
            built = stub.BuildBatch(
                payments_pb2.BuildBatchRequest(
                    request_id=uuid.uuid4().hex,
                    program_id=PROGRAM,
                    transfer_date=next_business_day(),
                ),
                metadata=intake.staff(*OFFICER),
            )
            assert built.held_back >= 1
            _cancel(intake, payments, built.batch_id)
        except grpc.RpcError as nothing:
            assert nothing.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "保留中" in (nothing.details() or "")
    assert [s for _, s, _ in _instructions(admin_engine, later)] == ["PENDING"]
    # the database refuses to batch it whatever the code does
    with pytest.raises(exc.IntegrityError), admin_engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE payments.instructions SET state = 'BATCHED', batch_id = :b "
                "WHERE application_number = :n"
            ),
            {"b": batch.batch_id, "n": later},
        )
