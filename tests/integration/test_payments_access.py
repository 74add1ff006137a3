"""The payments RPC x role table, enforced on a real server: every payments RPC called with
every staff role and every other service's certificate identity; a caller the table names
is never refused, any other caller always is."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client
from subsidy.events.v1 import events_pb2
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc
from subsidy_payments.roles import PAYMENTS, TABLE

from subsidy_platform.access import ROLES
from subsidy_platform.declaration import declarations
from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import CONSOLE, staff_channel

NO_BATCH = 987_654_321

# review runs too: the applications submitted here reach it at once (no backlog in
# intake's outbox for later tests of this session)
pytestmark = pytest.mark.usefixtures("review")


def _rid() -> str:
    return f"access-{uuid.uuid4().hex}"


# A minimal request per RPC that changes nothing (unknown batches, an unknown program).
REQUESTS: dict[str, Callable[[], Any]] = {
    "DecisionReceived": lambda: events_pb2.DecisionEvent(),
    "BankAccountChanged": lambda: events_pb2.BankAccountChangedEvent(),
    "ListInstructions": lambda: payments_pb2.ListInstructionsRequest(program_id=PROGRAM, limit=1),
    "BuildBatch": lambda: payments_pb2.BuildBatchRequest(
        request_id=_rid(), program_id="no-such-program", transfer_date="2030-01-04"
    ),
    "GetBatch": lambda: payments_pb2.GetBatchRequest(batch_id=NO_BATCH),
    "ReleaseBatch": lambda: payments_pb2.ReleaseBatchRequest(
        request_id=_rid(), batch_id=NO_BATCH, file_sha256="0" * 64
    ),
    "CancelBatch": lambda: payments_pb2.CancelBatchRequest(batch_id=NO_BATCH),
    "ConfirmBatch": lambda: payments_pb2.ConfirmBatchRequest(batch_id=NO_BATCH),
    "ImportReturns": lambda: payments_pb2.ImportReturnsRequest(
        request_id=_rid(), program_id="no-such-program", content=b"x"
    ),
    "Reconcile": lambda: payments_pb2.ReconcileRequest(program_id=PROGRAM),
    "ListHeldFiles": lambda: payments_pb2.ListHeldFilesRequest(program_id=PROGRAM),
    "PurgeFiles": lambda: payments_pb2.PurgeFilesRequest(program_id="no-such-program"),
    "ReconcileAcross": lambda: payments_pb2.ReconcileAcrossRequest(program_id="no-such-program"),
    "RevocationReceived": lambda: events_pb2.RevocationEvent(),
    "ListRepaymentClaims": lambda: payments_pb2.ListRepaymentClaimsRequest(program_id=PROGRAM),
    "RecordRepayment": lambda: payments_pb2.RecordRepaymentRequest(
        request_id=uuid.uuid4().hex,
        application_number="S-NO-SUCH-APPLICATION",
        repaid_on="2025-07-01",
        amount=1000,
    ),
}
SERVICES = [f"service:{name}" for name in declarations() if name != "payments"]
CALLERS = [*ROLES, *SERVICES]
ADMITTED_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
}


def test_the_table_the_proto_and_the_requests_name_the_same_rpcs() -> None:
    declared = {method.rsplit("/", 1)[1] for method in TABLE}
    served = set(payments_pb2.DESCRIPTOR.services_by_name["PaymentsService"].methods_by_name)
    assert declared == served == set(REQUESTS)
    assert all(method.startswith(f"/{PAYMENTS}/") for method in TABLE)


def _call(intake: Client, payments: ServiceProcess, method: str, caller: str) -> grpc.StatusCode:
    if caller.startswith("service:"):
        identity, metadata = caller.removeprefix("service:"), ()
    else:
        identity, metadata = CONSOLE, intake.staff(caller)
    with staff_channel(intake.environment.pki, payments.address, identity) as channel:
        stub = payments_pb2_grpc.PaymentsServiceStub(channel)
        try:
            getattr(stub, method)(REQUESTS[method](), metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_each_rpc_admits_exactly_the_callers_of_the_table(
    intake: Client, payments: ServiceProcess, method: str
) -> None:
    allowed = TABLE[f"/{PAYMENTS}/{method}"]
    outcome = {caller: _call(intake, payments, method, caller) for caller in CALLERS}
    denied = {c for c, code in outcome.items() if code == grpc.StatusCode.PERMISSION_DENIED}
    assert set(CALLERS) - denied == set(CALLERS) & allowed, outcome
    assert denied == set(CALLERS) - allowed, outcome
    admitted = {c: code for c, code in outcome.items() if c in allowed}
    assert set(admitted.values()) <= ADMITTED_CODES, admitted


def test_a_call_without_a_token_or_service_certificate_is_unauthenticated(
    intake: Client, payments: ServiceProcess
) -> None:
    with staff_channel(intake.environment.pki, payments.address) as channel:
        stub = payments_pb2_grpc.PaymentsServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Reconcile(payments_pb2.ReconcileRequest(program_id=PROGRAM), timeout=30)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
