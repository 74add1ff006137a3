"""The whole pipeline under faults, payments killed mid-operation (issue 15): a payments
process killed with SIGKILL while it builds a batch, and again while it releases one,
leaves no batch half built and no file released twice; its instructions are intact and the
same requests, retried against a new process, finish once; the grants come from real
review decisions, and at the end the reconciliation across services lists nothing about
them or the file.

The kill is proven to land in the middle of the operation, not before or after: the test
holds the audit chain's head row (every unit of work appends its audit events just before
its commit), waits until the payments backend waits for it inside a transaction that has
already written the batch and its instructions (build) or the release record, the batch
and its instructions (release), and only then sends SIGKILL. The never-twice tests
(test_payments_never_twice.py) kill at timed moments under concurrency; this one at a
known point. `SUBSIDY_SOAK` (make soak) multiplies the applications in the batch.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from fault_support import (
    audit_chain_held,
    blocked_writer,
    check_audit_chain,
    free_address,
    soak,
    wait_backend_gone,
)
from intake_support import PROGRAM, Client
from payments_support import (
    check_never_twice,
    granted_applications,
    next_business_day,
    reconciliation_differences,
)
from sqlalchemy import Engine, text
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc
from zengin_reader import read_zengin

from subsidy_platform.launcher import Stack, start_stack
from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import CONSOLE
from subsidy_platform.tls import channel_credentials


@contextmanager
def payments_process(intake: Client, addresses: dict[str, str]) -> Iterator[Stack]:
    """A payments service process of its own (stopped, or found killed, on exit)."""
    environment = intake.environment
    stack = start_stack(
        environment,
        {**addresses, "payments": free_address()},
        names=["payments"],
    )
    try:
        yield stack
    finally:
        stack.stop()


@contextmanager
def stub(intake: Client, stack: Stack) -> Iterator[payments_pb2_grpc.PaymentsServiceStub]:
    credentials = channel_credentials(intake.environment.pki, CONSOLE)
    with grpc.secure_channel(stack.addresses["payments"], credentials) as channel:
        yield payments_pb2_grpc.PaymentsServiceStub(channel)


def killed_inside(
    intake: Client, admin: Engine, stack: Stack, call: str, request: object, written: list[str]
) -> grpc.StatusCode:
    """Run `call` on the process, SIGKILL it while its transaction waits for the audit chain
    with `written` written; the status the caller got."""
    outcome: dict[str, grpc.StatusCode] = {}
    role = "approver" if call == "ReleaseBatch" else "payments_officer"
    token = intake.staff(role, f"fault-{role}")

    def run() -> None:
        with stub(intake, stack) as payments:
            try:
                getattr(payments, call)(request, metadata=token, timeout=120)
                outcome["code"] = grpc.StatusCode.OK
            except grpc.RpcError as error:
                outcome["code"] = error.code()

    caller = threading.Thread(target=run)
    with audit_chain_held(admin):
        caller.start()
        backend = blocked_writer(admin, "svc_payments", written)
        process = stack.processes["payments"]
        process.kill()
        process.wait(30)
        caller.join(60)
    wait_backend_gone(admin, backend)
    assert not caller.is_alive()
    return outcome["code"]


def instructions(admin: Engine, numbers: list[str]) -> list[tuple[str, str, int | None]]:
    with admin.connect() as connection:
        return [
            (str(n), str(s), b)
            for n, s, b in connection.execute(
                text(
                    "SELECT application_number, state, batch_id FROM payments.instructions "
                    "WHERE application_number = ANY(:n) ORDER BY application_number"
                ),
                {"n": numbers},
            )
        ]


def test_payments_killed_mid_build_and_mid_release_leaves_nothing_half_done_and_pays_once(
    intake: Client,
    payments: ServiceProcess,
    review: ServiceProcess,
    admin_engine: Engine,
    addresses: dict[str, str],
) -> None:
    numbers = granted_applications(intake, payments, 4 * soak(), review=review, admin=admin_engine)
    before = instructions(admin_engine, numbers)
    assert {state for _, state, _ in before} == {"PENDING"}
    build = payments_pb2.BuildBatchRequest(
        request_id=uuid.uuid4().hex, program_id=PROGRAM, transfer_date=next_business_day(2)
    )

    # killed while building: the batch row and the claimed instructions were written
    with payments_process(intake, addresses) as stack:
        code = killed_inside(
            intake,
            admin_engine,
            stack,
            "BuildBatch",
            build,
            ["payments.batches", "payments.instructions"],
        )
    assert code == grpc.StatusCode.UNAVAILABLE
    with admin_engine.connect() as connection:
        built = connection.execute(
            text("SELECT count(*) FROM payments.batches WHERE request_id = :r"),
            {"r": build.request_id},
        ).scalar_one()
    assert built == 0  # no batch half built
    assert instructions(admin_engine, numbers) == before  # back in the pool, untouched
    check_never_twice(admin_engine)

    # the same build retried against a new process: one batch; then that process is killed
    # while it releases the batch: the release record, the batch and its instructions written
    officer = intake.staff("payments_officer", "fault-payments_officer")
    approver = intake.staff("approver", "fault-approver")
    with payments_process(intake, addresses) as stack:
        with stub(intake, stack) as service:
            batch = service.BuildBatch(build, metadata=officer, timeout=120)
            again = service.BuildBatch(build, metadata=officer, timeout=120)
            assert again.batch_id == batch.batch_id
            seen = service.GetBatch(
                payments_pb2.GetBatchRequest(batch_id=batch.batch_id), metadata=approver
            )
        mine = instructions(admin_engine, numbers)
        assert {(state, b) for _, state, b in mine} == {("BATCHED", batch.batch_id)}
        release = payments_pb2.ReleaseBatchRequest(
            request_id=uuid.uuid4().hex, batch_id=batch.batch_id, file_sha256=seen.file_sha256
        )
        code = killed_inside(
            intake,
            admin_engine,
            stack,
            "ReleaseBatch",
            release,
            ["payments.released_files", "payments.batches", "payments.instructions"],
        )
    assert code == grpc.StatusCode.UNAVAILABLE
    with admin_engine.connect() as connection:
        state = connection.execute(
            text("SELECT state FROM payments.batches WHERE id = :b"), {"b": batch.batch_id}
        ).scalar_one()
        released = connection.execute(
            text("SELECT count(*) FROM payments.released_files WHERE file_sha256 = :s"),
            {"s": seen.file_sha256},
        ).scalar_one()
    assert (state, released) == ("BUILT", 0)  # not released, not half released
    assert instructions(admin_engine, numbers) == mine

    # the same release retried against a new process: released once, a replay gives the same
    # file, another request id is refused
    with payments_process(intake, addresses) as stack, stub(intake, stack) as service:
        first = service.ReleaseBatch(release, metadata=approver, timeout=120)
        replay = service.ReleaseBatch(release, metadata=approver, timeout=120)
        with pytest.raises(grpc.RpcError) as refused:
            service.ReleaseBatch(
                payments_pb2.ReleaseBatchRequest(
                    request_id=uuid.uuid4().hex,
                    batch_id=batch.batch_id,
                    file_sha256=seen.file_sha256,
                ),
                metadata=approver,
                timeout=120,
            )
    assert not first.replayed and replay.replayed and replay.content == first.content
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert {state for _, state, _ in instructions(admin_engine, numbers)} == {"SENT"}
    with admin_engine.connect() as connection:
        ids = dict(
            connection.execute(
                text(
                    "SELECT lpad(id::text, 10, '0'), application_number "
                    "FROM payments.instructions WHERE application_number = ANY(:n)"
                ),
                {"n": numbers},
            ).all()
        )
    paid = Counter(
        ids[t.customer_code] for t in read_zengin(first.content).transfers if t.customer_code in ids
    )
    assert paid == Counter(dict.fromkeys(numbers, 1))
    check_never_twice(admin_engine)
    check_audit_chain(intake.environment.infrastructure.database_url)
    # the reconciliation across services finds nothing wrong with these grants or the file
    assert reconciliation_differences(intake, payments, numbers, [batch.batch_id]) == []
