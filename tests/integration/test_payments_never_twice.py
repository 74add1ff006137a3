"""Never twice: many concurrent batch builders (threads and processes), retried and
concurrent releases, and a payments process killed with SIGKILL in the middle of building
or releasing, leave every granted application with exactly one paid or one live
instruction, no instruction in two batches, no batch released twice, and the released
files (read back by the independent 全銀 reader) summing to the granted total."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from intake_support import PROGRAM, Client
from payments_support import (
    AMOUNT,
    check_never_twice,
    granted_applications,
    next_business_day,
    staff_stub,
)
from payments_workers import build_until_empty, release_all
from sqlalchemy import Engine, text
from subsidy.payments.v1 import payments_pb2
from zengin_reader import read_zengin

from subsidy_platform.launcher import start_stack
from subsidy_platform.process import ServiceProcess

# review runs too: the applications submitted here reach it at once (no backlog in
# intake's outbox for later tests of this session)
pytestmark = pytest.mark.usefixtures("review")


def _mine(admin: Engine, numbers: list[str]) -> list[tuple[str, int, str, int | None]]:
    with admin.connect() as connection:
        return [
            (str(n), int(i), str(s), b)
            for n, i, s, b in connection.execute(
                text(
                    "SELECT application_number, id, state, batch_id FROM payments.instructions "
                    "WHERE application_number = ANY(:n) ORDER BY id"
                ),
                {"n": numbers},
            )
        ]


def _built_batches(admin: Engine) -> list[tuple[int, str]]:
    with admin.connect() as connection:
        return [
            (int(i), str(s))
            for i, s in connection.execute(
                text(
                    "SELECT id, file_sha256 FROM payments.batches WHERE state = 'BUILT' ORDER BY id"
                )
            )
        ]


def _release_everything(
    intake: Client, payments: ServiceProcess, admin: Engine
) -> dict[int, bytes]:
    """Build whatever is pending (one officer) and release every built batch (one approver)."""
    token = intake.staff("payments_officer", "officer-final")
    build_until_empty(
        payments.address,
        str(intake.environment.pki.directory),
        token,
        PROGRAM,
        next_business_day(3),
        0,
    )
    files: dict[int, bytes] = {}
    approver = intake.staff("approver", "approver-final")
    for batch_id, content in release_all(
        payments.address,
        str(intake.environment.pki.directory),
        approver,
        _built_batches(admin),
        [uuid.uuid4().hex],
    ):
        files[batch_id] = content
    return files


def _released_files(intake: Client, payments: ServiceProcess, admin: Engine) -> dict[int, bytes]:
    """Every released batch's file, read back by the approver (a retried release by its id)."""
    with admin.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, released_by, release_request_id FROM payments.batches "
                "WHERE state IN ('RELEASED', 'CONFIRMED') AND file_ct IS NOT NULL ORDER BY id"
            )
        ).all()
    files: dict[int, bytes] = {}
    with staff_stub(intake, payments) as stub:
        for batch_id, approver, request_id in rows:
            seen = stub.GetBatch(
                payments_pb2.GetBatchRequest(batch_id=batch_id),
                metadata=intake.staff("approver", approver),
            )
            again = stub.ReleaseBatch(
                payments_pb2.ReleaseBatchRequest(
                    request_id=request_id, batch_id=batch_id, file_sha256=seen.file_sha256
                ),
                metadata=intake.staff("approver", approver),
            )
            assert again.replayed
            files[int(batch_id)] = again.content
    return files


def _check_paid_once(
    intake: Client, payments: ServiceProcess, admin: Engine, numbers: list[str]
) -> None:
    check_never_twice(admin)
    rows = _mine(admin, numbers)
    per_application = Counter(n for n, _, state, _ in rows if state != "FAILED")
    assert per_application == Counter({n: 1 for n in numbers})
    assert all(state == "SENT" for _, _, state, _ in rows)
    ids = {f"{i:010d}": n for n, i, _, _ in rows}
    files = _released_files(intake, payments, admin)
    paid: Counter[str] = Counter()
    total = 0
    for content in files.values():
        parsed = read_zengin(content)
        for transfer in parsed.transfers:
            if transfer.customer_code in ids:
                paid[ids[transfer.customer_code]] += 1
                total += transfer.amount
    assert paid == Counter({n: 1 for n in numbers})  # each application in exactly one file
    assert total == AMOUNT * len(numbers)  # the released files sum to the granted total


def test_concurrent_builders_in_threads_and_processes_and_retried_releases(
    intake: Client, payments: ServiceProcess, admin_engine: Engine
) -> None:
    numbers = granted_applications(intake, payments, 24)
    pki = str(intake.environment.pki.directory)
    day = next_business_day(2)
    officers = [intake.staff("payments_officer", f"officer-par-{k}") for k in range(5)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool, ThreadPoolExecutor(3) as threads:
        in_processes = [
            pool.apply_async(
                build_until_empty, (payments.address, pki, officers[k], PROGRAM, day, 3)
            )
            for k in range(2)
        ]
        in_threads = [
            threads.submit(build_until_empty, payments.address, pki, officers[k], PROGRAM, day, 2)
            for k in range(2, 5)
        ]
        built = [b for r in in_processes for b in r.get(timeout=600)]
        built += [b for f in in_threads for b in f.result(timeout=600)]
    assert len(built) == len(set(built))
    rows = _mine(admin_engine, numbers)
    assert all(state == "BATCHED" and batch is not None for _, _, state, batch in rows)

    # every built batch released by three approvers at once, each retrying with two request
    # ids in two processes and two threads: one release per batch
    batches = _built_batches(admin_engine)
    approvers = [intake.staff("approver", f"approver-par-{k}") for k in range(3)]
    shared = [uuid.uuid4().hex, uuid.uuid4().hex]
    with context.Pool(2) as pool, ThreadPoolExecutor(2) as threads:
        results = [
            pool.apply_async(release_all, (payments.address, pki, approvers[k], batches, shared))
            for k in range(2)
        ]
        futures = [
            threads.submit(release_all, payments.address, pki, approvers[2], batches, shared)
            for _ in range(2)
        ]
        released = [x for r in results for x in r.get(timeout=600)]
        released += [x for f in futures for x in f.result(timeout=600)]
    first_releases = Counter(batch_id for batch_id, content in released if content)
    assert first_releases == Counter({batch_id: 1 for batch_id, _ in batches})
    _check_paid_once(intake, payments, admin_engine, numbers)


def _free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _kill_during(pid: int, calls: int, action: threading.Thread) -> None:
    action.start()
    time.sleep(0.05 * calls)
    os.kill(pid, signal.SIGKILL)
    action.join(timeout=120)


def test_a_payments_process_killed_mid_build_or_mid_release_never_pays_twice(
    intake: Client, payments: ServiceProcess, admin_engine: Engine, addresses: dict[str, str]
) -> None:
    numbers = granted_applications(intake, payments, 16)
    environment = intake.environment
    pki = str(environment.pki.directory)
    officer = intake.staff("payments_officer", "officer-kill")
    approver = intake.staff("approver", "approver-kill")
    for round_ in range(3):
        address = _free_address()
        stack = start_stack(
            environment,
            {**addresses, "payments": address},
            names=["payments"],
        )
        process = stack.processes["payments"]

        def work(address: str = address) -> None:
            with contextlib.suppress(grpc.RpcError):  # the process died under the call
                build_until_empty(address, pki, officer, PROGRAM, next_business_day(2), 4)
            with contextlib.suppress(grpc.RpcError):
                release_all(
                    address, pki, approver, _built_batches(admin_engine), [uuid.uuid4().hex]
                )

        _kill_during(process.pid, round_ * 6 + 2, threading.Thread(target=work))
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        check_never_twice(admin_engine)
        rows = _mine(admin_engine, numbers)
        assert Counter(n for n, _, s, _ in rows if s != "FAILED") == Counter(
            {n: 1 for n in numbers}
        )
    _release_everything(intake, payments, admin_engine)
    _check_paid_once(intake, payments, admin_engine, numbers)
