"""Hostile values at every payments RPC (the generated walker shared with intake's and
review's, hostile_support.py): every string, enum and integer field of each request gets
generated values; each answer is a clear code with a short message that never repeats a
long value, a failed call writes nothing (payments' tables, outbox and the audit chain),
and the server answers health during and after."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from hostile_support import (
    IGNORE_RANDOM_IN_SERVER_THREADS,
    Answer,
    Fuzz,
    Path,
    answer_of,
    check_answer,
    fuzz_rpc,
    leaf_paths,
)
from hypothesis import HealthCheck, settings
from intake_support import NOT_REFUSALS, PROGRAM, Client
from payments_support import granted_applications, next_business_day, staff_stub, submit
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc

from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import staff_channel

EXAMPLES = 15
pytestmark = IGNORE_RANDOM_IN_SERVER_THREADS
SERVICE = payments_pb2.DESCRIPTOR.services_by_name["PaymentsService"]
WRITES = (
    "SELECT count(*) FROM payments.grants",
    "SELECT count(*) FROM payments.instructions",
    "SELECT string_agg(id || state || coalesce(batch_id, 0), ',' ORDER BY id) "
    "FROM payments.instructions",
    "SELECT string_agg(id || state, ',' ORDER BY id) FROM payments.batches",
    "SELECT count(*) FROM payments.return_imports",
    "SELECT count(*) FROM payments.applied_events",
    "SELECT count(*) FROM payments.outbox",
    # refused calls are audited in batches, flushed every few seconds (refusals)
    f"SELECT count(*) FROM audit.events WHERE true{NOT_REFUSALS}",
)


def writes(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as connection:
        return tuple(str(connection.execute(text(sql)).scalar_one()) for sql in WRITES)


@dataclass(frozen=True)
class Cases:
    granted: str  # a granted application payments has not heard of (DecisionReceived)
    batch: int  # a batch built and not released
    sha256: str


@dataclass
class Target:
    rpc: str
    role: str
    login: str
    build: Callable[[Cases], Message]
    paths: list[Path] = field(default_factory=list)


def _rid() -> str:
    return f"hostile-{uuid.uuid4().hex[:20]}"


RETURNS = "指図番号,口座番号,金額,返却理由\r\n1,1234567,20000,口座なし\r\n".encode()
TARGETS = [
    Target("DecisionReceived", "service:review", "", lambda c: events_pb2.DecisionEvent(
        event_id=f"decision-{c.granted}", application_number=c.granted, program_id=PROGRAM,
        granted=False, decided_on="2025-07-01", decision_number="S-D-hostile")),
    Target("BankAccountChanged", "service:intake", "", lambda c: events_pb2.BankAccountChangedEvent(
        event_id=_rid(), application_number="S2025-999997", program_id=PROGRAM,
        account_version=2, changed_at="2025-07-01T10:00:00+09:00")),
    Target("ListInstructions", "payments_officer", "hostile-officer",
           lambda c: payments_pb2.ListInstructionsRequest(program_id=PROGRAM, state="PENDING", limit=5)),
    Target("BuildBatch", "payments_officer", "hostile-officer", lambda c: payments_pb2.BuildBatchRequest(
        request_id=_rid(), program_id="no-such-program", transfer_date=next_business_day(),
        max_instructions=1)),
    Target("GetBatch", "approver", "hostile-approver", lambda c: payments_pb2.GetBatchRequest(batch_id=c.batch)),
    Target("ReleaseBatch", "approver", "hostile-approver", lambda c: payments_pb2.ReleaseBatchRequest(
        request_id=_rid(), batch_id=c.batch, file_sha256="f" * 64)),
    Target("CancelBatch", "payments_officer", "hostile-officer",
           lambda c: payments_pb2.CancelBatchRequest(batch_id=987_654_321)),
    Target("ConfirmBatch", "payments_officer", "hostile-officer",
           lambda c: payments_pb2.ConfirmBatchRequest(batch_id=c.batch, confirmed_on="2030-01-04")),
    Target("ImportReturns", "payments_officer", "hostile-officer", lambda c: payments_pb2.ImportReturnsRequest(
        request_id=_rid(), program_id=PROGRAM, file_name="returns.csv", content=RETURNS)),
    Target("Reconcile", "auditor", "hostile-auditor", lambda c: payments_pb2.ReconcileRequest(program_id=PROGRAM)),
    Target("ListHeldFiles", "auditor", "hostile-auditor",
           lambda c: payments_pb2.ListHeldFilesRequest(program_id=PROGRAM)),
    Target("PurgeFiles", "payments_officer", "hostile-officer",
           lambda c: payments_pb2.PurgeFilesRequest(program_id="no-such-program")),
    Target("ReconcileAcross", "auditor", "hostile-auditor",
           lambda c: payments_pb2.ReconcileAcrossRequest(program_id=PROGRAM)),
    Target("RevocationReceived", "service:review", "", lambda c: events_pb2.RevocationEvent(
        event_id=_rid(), application_number=c.granted, program_id=PROGRAM,
        revoked_on="2025-09-01", revocation_number="S-R-hostile", decision_number="S-D-hostile",
        amount=20000, reasons=[common_pb2.DUPLICATE_HOUSEHOLD])),
    Target("ListRepaymentClaims", "auditor", "hostile-auditor",
           lambda c: payments_pb2.ListRepaymentClaimsRequest(program_id=PROGRAM, open_only=True)),
    Target("RecordRepayment", "payments_officer", "hostile-officer",
           lambda c: payments_pb2.RecordRepaymentRequest(
               request_id=_rid(), application_number=c.granted, repaid_on="2025-09-01",
               amount=20000)),
]  # fmt: skip
for _target in TARGETS:
    _target.paths = list(leaf_paths(SERVICE.methods_by_name[_target.rpc].input_type))


def _input(target: Target) -> Descriptor:
    return SERVICE.methods_by_name[target.rpc].input_type


def test_every_rpc_of_the_service_is_fuzzed() -> None:
    assert sorted(t.rpc for t in TARGETS) == sorted(m.name for m in SERVICE.methods)
    assert all(t.paths for t in TARGETS)


@pytest.fixture(scope="module")
def cases(intake: Client, payments: ServiceProcess) -> Cases:
    granted = submit(intake)
    numbers = granted_applications(intake, payments, 1)
    with staff_stub(intake, payments) as stub:
        batch = stub.BuildBatch(
            payments_pb2.BuildBatchRequest(
                request_id=_rid(), program_id=PROGRAM, transfer_date=next_business_day()
            ),
            metadata=intake.staff("payments_officer", "hostile-builder"),
        )
    assert numbers and batch.count >= 1
    return Cases(granted, int(batch.batch_id), str(batch.file_sha256))


@pytest.fixture(scope="module")
def stubs(intake: Client, payments: ServiceProcess) -> Iterator[dict[str, Any]]:
    pki = intake.environment.pki
    with (
        staff_channel(pki, payments.address) as staff,
        staff_channel(pki, payments.address, "review") as review,
        staff_channel(pki, payments.address, "intake") as from_intake,
    ):
        yield {
            "staff": payments_pb2_grpc.PaymentsServiceStub(staff),
            "service:review": payments_pb2_grpc.PaymentsServiceStub(review),
            "service:intake": payments_pb2_grpc.PaymentsServiceStub(from_intake),
        }


def call(intake: Client, stubs: dict[str, Any], target: Target, request: Message) -> Answer:
    service = target.role.startswith("service:")
    stub = stubs[target.role] if service else stubs["staff"]
    metadata = () if service else intake.staff(target.role, target.login)
    method = getattr(stub, target.rpc)
    return answer_of(lambda: method(request, metadata=metadata, timeout=60))


@pytest.mark.parametrize("target", TARGETS, ids=[t.rpc for t in TARGETS])
def test_hostile_values_in_any_field_get_a_clear_answer_and_write_nothing_on_error(
    intake: Client,
    payments: ServiceProcess,
    stubs: dict[str, Any],
    admin_engine: Engine,
    cases: Cases,
    target: Target,
) -> None:
    fuzz = Fuzz(
        rpc=target.rpc,
        descriptor=_input(target),
        paths=target.paths,
        build=lambda: target.build(cases),
        call=lambda request: call(intake, stubs, target, request),
        check=lambda answer, value: check_answer(target.rpc, answer, value=value),
        writes=lambda _request: writes(admin_engine),
        address=payments.address,
        pki=intake.environment.pki,
        failed=lambda answer: (
            answer.code != grpc.StatusCode.OK
            or (target.rpc == "ImportReturns" and not answer.response.accepted)
        ),
        near=True,
    )
    config = settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    fuzz_rpc(fuzz, config, EXAMPLES)
