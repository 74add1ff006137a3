"""The reconciliation across services (照合) over the real services: a real grant made in
review flows through review's outbox to payments, into a batch released by a second person,
and reconciles balanced; then each kind of difference is injected the way it would happen
(or the way a database administrator would see it) and each is reported by application
number and kind, by the RPC and by the auditor's command.

The services (intake, review, payments, notices, sign-in) run on a PostgreSQL of this module
alone, under the session's OpenBao and certificates: the reconciliation is per program, and
what other tests of the session grant or inject would otherwise be part of it.

Revocation (交付決定の取消) is simulated: review has no revocation command on this branch,
so the case is set to REVOKED by SQL, as an administrator would see a revoked case.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import hvac
import pytest
from intake_support import PROGRAM, Client, make_client
from payments_support import build_and_release, grant
from review_support import arrive, check, person, settle, submit
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc
from subsidy.review.v1 import review_pb2, review_pb2_grpc
from subsidy_intake.main import build as build_intake
from subsidy_notices.main import build as build_notices
from subsidy_payments.main import build as build_payments
from subsidy_review.main import build as build_review

from subsidy_platform.auth_main import build as build_auth
from subsidy_platform.config import STATE_ROOT
from subsidy_platform.crypto import DataClass, FieldCipher
from subsidy_platform.db import make_engine, migrate, migrated_components, provision_database
from subsidy_platform.embedded import Infrastructure, ensure_postgres, stop_postgres
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import staff_channel
from subsidy_platform.users import create_user
from subsidy_rules.program import get_program

GRANTED = 16_000  # the test record: 32,000 yen of equipment, half, under the cap
PASSWORD = "reconcile passphrase 1"
K = payments_pb2


@dataclass
class Stack:
    environment: Environment
    engine: Engine
    intake: Client
    review: ServiceProcess
    payments: ServiceProcess
    auth: ServiceProcess


@pytest.fixture(scope="module")
def stack(environment: Environment) -> Iterator[Stack]:
    """Every service on a PostgreSQL of this module (migrated), the session's Vault and PKI."""
    folder = Path(tempfile.mkdtemp(prefix="subsidy-reconcile-", dir=STATE_ROOT.parent))
    url = ensure_postgres(folder)
    provision_database(url)
    for component in migrated_components():
        migrate(url, component)
    own = Environment(
        environment.settings,
        Infrastructure(
            url,
            environment.infrastructure.vault_addr,
            environment.infrastructure.vault_admin_token,
        ),
        environment.vault_tokens,
        environment.pki,
    )
    programs = {PROGRAM: get_program(PROGRAM)}
    addresses = {
        name: f"127.0.0.1:{_free_port()}" for name in ("intake", "review", "payments", "notices")
    }
    started: list[ServiceProcess] = []
    engine = make_engine(url)
    try:
        intake = build_intake(own, programs, addresses["intake"], addresses=addresses)
        started.append(intake)
        payments = build_payments(own, programs, addresses["payments"], addresses=addresses)
        started.append(payments)
        started.append(build_notices(own, programs, addresses["notices"], addresses=addresses))
        review = build_review(own, programs, addresses["review"], addresses=addresses)
        started.append(review)
        auth = build_auth(own)
        started.append(auth)
        yield Stack(own, engine, make_client(own, intake), review, payments, auth)
    finally:
        for process in reversed(started):
            process.stop(grace=0.5)
        engine.dispose()
        stop_postgres(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def granted_in_review(stack: Stack, count: int) -> list[str]:
    """Applications submitted at intake, checked and granted in review (direct decision),
    and their decision events delivered by review's outbox to payments."""
    intake = stack.intake
    numbers = [submit(intake, **person(uuid.uuid4().hex[:6])) for _ in range(count)]
    arrive(intake, stack.engine, numbers)
    with staff_channel(intake.environment.pki, stack.review.address) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        for number in numbers:
            assert check(stub, intake, number).rules_amount == GRANTED
            decided = stub.DecideApplication(
                review_pb2.DecideRequest(
                    request_id=uuid.uuid4().hex,
                    application_number=number,
                    verdict=review_pb2.DECISION_VERDICT_GRANT,
                    amount=GRANTED,
                ),
                metadata=intake.staff("ward_officer", "reconcile-ward"),
            )
            assert decided.state == review_pb2.GRANTED
    relay = stack.review.context.relay
    assert relay is not None
    settle(relay, stack.engine, "review", "payments")
    with stack.engine.connect() as connection:
        arrived = connection.execute(
            text("SELECT count(*) FROM payments.grants WHERE application_number = ANY(:n)"),
            {"n": numbers},
        ).scalar_one()
    assert arrived == count  # a real decision, through the real outbox, into payments
    return numbers


def reconcile(stack: Stack) -> payments_pb2.CrossReconciliation:
    with staff_channel(stack.intake.environment.pki, stack.payments.address) as channel:
        stub = payments_pb2_grpc.PaymentsServiceStub(channel)
        result: payments_pb2.CrossReconciliation = stub.ReconcileAcross(
            payments_pb2.ReconcileAcrossRequest(program_id=PROGRAM),
            metadata=stack.intake.staff("auditor", "reconcile-auditor"),
            timeout=120,
        )
    return result


def found(result: payments_pb2.CrossReconciliation) -> set[tuple[str, str, int]]:
    return {
        (d.application_number, K.DifferenceKind.Name(d.kind), d.batch_id)
        for d in result.differences
    }


def auditor_command(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "subsidy_payments.cli", "--server", stack.payments.address,
        "--auth-server", stack.auth.address, "--login", "reconcile-cli-auditor",
        "--password-stdin", "--pki", str(stack.environment.settings.state_dir / "pki"),
        "reconcile", "--program", PROGRAM, "--across", *args,
    ]  # fmt: skip
    return subprocess.run(
        command, input=PASSWORD + "\n", capture_output=True, text=True, timeout=180
    )


# --- what the injections do, as the database administrator ----------------------------------


def forget_in_payments(engine: Engine, number: str) -> None:
    """The decision's effect gone from payments: as if its event never arrived."""
    with engine.begin() as connection:
        for table in ("instructions", "grants"):
            connection.execute(
                text(f"DELETE FROM payments.{table} WHERE application_number = :n"), {"n": number}
            )
        connection.execute(
            text("DELETE FROM payments.applied_events WHERE event_id = :e"),
            {"e": f"decision-{number}"},
        )


def park_in_review(engine: Engine, number: str) -> None:
    """Review's event to payments parked (refused five times), as the outbox leaves it."""
    with engine.begin() as connection:
        parked = connection.execute(
            text(
                "UPDATE review.outbox SET delivered_at = NULL, parked_at = now(), attempts = 5, "
                "last_error = 'INVALID_ARGUMENT' WHERE destination = 'payments' AND key = :k"
            ),
            {"k": f"decision-{number}"},
        )
        assert parked.rowcount == 1


def alter_instruction_amount(engine: Engine, number: str, amount: int) -> None:
    """An instruction's amount changed behind the service's back: the foreign key to its
    grant (a trigger) is bypassed for this session only, the amount's CHECK still holds."""
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        changed = connection.execute(
            text("UPDATE payments.instructions SET amount = :a WHERE application_number = :n"),
            {"a": amount, "n": number},
        )
        assert changed.rowcount == 1


def forge_released_file(stack: Stack, batch_id: int, instruction_id: int, amount: int) -> None:
    """The stored file of a released batch rewritten (its key holder's view): one record's
    amount and the trailer's total changed, encrypted again under the program's key."""
    vault = hvac.Client(
        url=stack.environment.infrastructure.vault_addr,
        token=stack.environment.infrastructure.vault_admin_token,
    )
    cipher = FieldCipher(vault, PROGRAM)
    with stack.engine.connect() as connection:
        sealed = connection.execute(
            text("SELECT file_ct FROM payments.batches WHERE id = :b"), {"b": batch_id}
        ).scalar_one()
    [plain] = cipher.decrypt(DataClass.BANK, [sealed])
    content = base64.b64decode(plain or "")
    separator = b"\r\n" if content[120:122] == b"\r\n" else b""
    step = 120 + len(separator)
    records = [content[i : i + 120] for i in range(0, len(content), step)]
    customer = f"{instruction_id:010d}".encode()
    [index] = [i for i, r in enumerate(records) if r[:1] == b"2" and r[91:101] == customer]
    before = int(records[index][80:90])
    records[index] = records[index][:80] + f"{amount:010d}".encode() + records[index][90:]
    trailer = next(i for i, r in enumerate(records) if r[:1] == b"8")
    total = int(records[trailer][7:19]) - before + amount
    records[trailer] = records[trailer][:7] + f"{total:012d}".encode() + records[trailer][19:]
    forged = b"".join(r + separator for r in records)
    [resealed] = cipher.encrypt(DataClass.BANK, [base64.b64encode(forged).decode("ascii")])
    with stack.engine.begin() as connection:
        connection.execute(
            text("UPDATE payments.batches SET file_ct = :f WHERE id = :b"),
            {"f": resealed, "b": batch_id},
        )


def revoke_in_review(engine: Engine, number: str) -> None:
    """The case REVOKED (交付決定の取消) as an administrator would see it; where review's
    state list does not know REVOKED yet, its CHECK is dropped for the update and put back
    (NOT VALID: it keeps checking every later write)."""
    with engine.begin() as connection:
        try:
            with connection.begin_nested():
                connection.execute(
                    text("UPDATE review.cases SET state = 'REVOKED' WHERE application_number = :n"),
                    {"n": number},
                )
        except sa_exc.IntegrityError:
            definition = connection.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conname = 'ck_cases_state'"
                )
            ).scalar_one()
            connection.execute(text("ALTER TABLE review.cases DROP CONSTRAINT ck_cases_state"))
            connection.execute(
                text("UPDATE review.cases SET state = 'REVOKED' WHERE application_number = :n"),
                {"n": number},
            )
            connection.execute(
                text(
                    f"ALTER TABLE review.cases ADD CONSTRAINT ck_cases_state {definition} NOT VALID"
                )
            )


def change_decision_amount(engine: Engine, number: str, amount: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE review.decisions SET amount = :a WHERE application_number = :n"),
            {"a": amount, "n": number},
        )


def test_a_real_grant_reconciles_balanced_then_each_injected_difference_is_reported(
    stack: Stack,
) -> None:
    with Session(stack.engine) as session:
        create_user(session, "reconcile-cli-auditor", "auditor", PASSWORD)
        session.commit()

    # balanced: five real grants, through review's outbox, in a released file; one returned
    before = reconcile(stack)  # what other tests of this module granted
    assert before.balanced, found(before)
    a, b, c, d, e = granted_in_review(stack, 5)
    batch, parsed, _ = build_and_release(stack.intake, stack.payments)
    assert batch.total == before.pending.yen + 5 * GRANTED
    with stack.engine.connect() as connection:
        ids: dict[str, int] = dict(
            connection.execute(
                text(
                    "SELECT application_number, id FROM payments.instructions "
                    "WHERE application_number = ANY(:n)"
                ),
                {"n": [a, b, e]},
            ).all()
        )
    transfers = {int(t.customer_code): t for t in parsed.transfers}
    assert transfers[ids[b]].amount == GRANTED
    returned = transfers[ids[e]]
    with staff_channel(stack.intake.environment.pki, stack.payments.address) as channel:
        imported = payments_pb2_grpc.PaymentsServiceStub(channel).ImportReturns(
            payments_pb2.ImportReturnsRequest(
                request_id=uuid.uuid4().hex,
                program_id=PROGRAM,
                content=(
                    "指図番号,口座番号,金額,返却理由\r\n"
                    f"{ids[e]},{returned.account_number},{GRANTED},口座なし\r\n"
                ).encode(),
            ),
            metadata=stack.intake.staff("payments_officer", "reconcile-officer"),
        )
    assert imported.accepted and imported.failed == 1, imported
    balanced = reconcile(stack)
    assert balanced.balanced, found(balanced)
    assert balanced.parked_events == 0 and balanced.differences_total == 0
    granted = before.review_granted.yen + 5 * GRANTED
    assert balanced.review_granted.count == before.review_granted.count + 5
    assert balanced.review_granted.yen == balanced.grants.yen == granted
    assert balanced.sent.yen == before.sent.yen + batch.total - GRANTED
    assert balanced.pending.yen == 0
    assert balanced.returned_awaiting.yen == before.returned_awaiting.yen + GRANTED
    assert balanced.returned.yen == before.returned.yen + GRANTED
    assert balanced.released_files.count == before.released_files.count + 1
    assert balanced.released_files.yen == before.released_files.yen + batch.total
    ok = auditor_command(stack, "--json")
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert summary["balanced"] is True and summary["differences"] == []
    assert summary["parked"] == 0
    assert summary["granted"] == {"count": balanced.review_granted.count, "yen": granted}

    # each kind of difference, injected
    never_arrived, parked = granted_in_review(stack, 2)
    forget_in_payments(stack.engine, never_arrived)
    forget_in_payments(stack.engine, parked)
    park_in_review(stack.engine, parked)
    alter_instruction_amount(stack.engine, a, GRANTED - 1000)
    forge_released_file(stack, batch.batch_id, ids[b], 96_000)
    revoke_in_review(stack.engine, c)
    change_decision_amount(stack.engine, d, GRANTED - 2000)
    [injected] = [submit(stack.intake, **person(uuid.uuid4().hex[:6]))]
    arrive(stack.intake, stack.engine, [injected])
    grant(stack.intake, stack.payments, [injected])  # a decision event review never made

    result = reconcile(stack)
    n = batch.batch_id
    assert found(result) == {
        (never_arrived, "DECISION_NOT_IN_PAYMENTS", 0),
        (parked, "DECISION_PARKED", 0),
        (a, "INSTRUCTION_AMOUNT_DIFFERS", n),
        (a, "FILE_AMOUNT_DIFFERS", n),
        ("", "FILE_ALTERED", n),
        ("", "FILE_TOTAL_DIFFERS", n),
        (b, "FILE_AMOUNT_DIFFERS", n),
        (c, "RELEASED_BUT_REVOKED", 0),
        (d, "AMOUNT_DIFFERS", 0),
        (injected, "GRANT_WITHOUT_DECISION", 0),
    }
    assert not result.balanced and result.parked_events == 1
    assert result.differences_total == len(result.differences) == 10
    assert (result.review_revoked.count, result.review_revoked.yen) == (1, GRANTED)
    listed = {(x.application_number, K.DifferenceKind.Name(x.kind)): x for x in result.differences}
    assert (
        listed[(b, "FILE_AMOUNT_DIFFERS")].expected,
        listed[(b, "FILE_AMOUNT_DIFFERS")].found,
    ) == (
        GRANTED,
        96_000,
    )
    assert listed[(d, "AMOUNT_DIFFERS")].expected == GRANTED - 2000

    unbalanced = auditor_command(stack, "--json")
    assert unbalanced.returncode == 1, unbalanced.stderr
    summary = json.loads(unbalanced.stdout)
    assert summary["balanced"] is False and summary["parked"] == 1
    assert {(x["application_number"], x["kind"]) for x in summary["differences"]} == {
        (number, kind) for number, kind, _ in found(result)
    }
    table = auditor_command(stack)
    assert table.returncode == 1
    assert (
        "不一致（要確認）" in table.stdout
        and "申請番号 | 種別 | バッチ | 期待額 | 実際額" in table.stdout
    )
    assert f"{parked} | 交付決定の連携停止（保留） (DECISION_PARKED)" in table.stdout


def test_review_pages_its_granted_decisions_with_bounds_and_an_audit(stack: Stack) -> None:
    granted_in_review(stack, 3)
    with staff_channel(stack.intake.environment.pki, stack.review.address) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        with pytest.raises(grpc.RpcError) as bad:
            stub.ListGrantedDecisions(
                review_pb2.ListGrantedDecisionsRequest(
                    program_id=PROGRAM, limit=1001, purpose="照合"
                ),
                metadata=stack.intake.staff("auditor", "reconcile-auditor"),
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "1001" not in (bad.value.details() or "")
        seen: list[str] = []
        after = ""
        while True:
            page = stub.ListGrantedDecisions(
                review_pb2.ListGrantedDecisionsRequest(
                    program_id=PROGRAM, after_application_number=after, limit=2, purpose="照合"
                ),
                metadata=stack.intake.staff("auditor", "reconcile-auditor"),
            )
            assert len(page.decisions) <= 2
            seen += [x.application_number for x in page.decisions]
            if not page.next_after:
                break
            after = page.next_after
    assert seen == sorted(set(seen))
    with stack.engine.connect() as connection:
        granted = (
            connection.execute(
                text("SELECT application_number FROM review.decisions WHERE granted ORDER BY 1")
            )
            .scalars()
            .all()
        )
        audited = connection.execute(
            text("SELECT count(*) FROM audit.events WHERE rpc = 'ListGrantedDecisions'")
        ).scalar_one()
    assert seen == list(granted)
    assert audited >= -(-len(seen) // 2)  # one audited read a page


def test_review_out_of_reach_makes_the_reconciliation_unavailable_not_balanced(
    stack: Stack,
) -> None:
    """Payments whose review peer does not answer says UNAVAILABLE, never a result."""
    addresses = {
        "intake": f"localhost:{stack.intake.process.port}",
        "review": f"127.0.0.1:{_free_port()}",  # nobody listens there
    }
    lonely = build_payments(stack.environment, {PROGRAM: get_program(PROGRAM)}, addresses=addresses)
    try:
        with staff_channel(stack.intake.environment.pki, lonely.address) as channel:
            stub = payments_pb2_grpc.PaymentsServiceStub(channel)
            with pytest.raises(grpc.RpcError) as raised:
                stub.ReconcileAcross(
                    payments_pb2.ReconcileAcrossRequest(program_id=PROGRAM),
                    metadata=stack.intake.staff("auditor", "reconcile-auditor"),
                    timeout=120,
                )
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        lonely.stop(grace=0.5)
