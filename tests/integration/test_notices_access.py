"""The notices RPC x role table, enforced on a real server: every notices RPC called with
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
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy_notices.roles import NOTICES, TABLE

from subsidy_platform.access import ROLES
from subsidy_platform.declaration import declarations
from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import CONSOLE, staff_channel

UNKNOWN = "S2025-999997"
NO_BATCH = str(uuid.UUID(int=0))


def _rid() -> str:
    return f"access-{uuid.uuid4().hex}"


# A minimal request per RPC: enough to pass the interceptor and reach the handler, and never
# one that changes anything (unknown applications and batches, an unknown program).
REQUESTS: dict[str, Callable[[], Any]] = {
    "DecisionMade": lambda: events_pb2.DecisionEvent(),
    "CorrectionRequested": lambda: events_pb2.CorrectionRequestEvent(),
    "CreatePrintBatch": lambda: notices_pb2.CreatePrintBatchRequest(
        request_id=_rid(), program_id="no-such-program"
    ),
    "DownloadPrintFile": lambda: notices_pb2.DownloadPrintFileRequest(batch_id=NO_BATCH),
    "ConfirmPrinted": lambda: notices_pb2.ConfirmBatchRequest(request_id=_rid(), batch_id=NO_BATCH),
    "ConfirmMailed": lambda: notices_pb2.ConfirmBatchRequest(request_id=_rid(), batch_id=NO_BATCH),
    "ListPrintBatches": lambda: notices_pb2.ListPrintBatchesRequest(program_id=PROGRAM),
    "ReprintNotice": lambda: notices_pb2.ReprintNoticeRequest(
        request_id=_rid(), application_number=UNKNOWN, kind=notices_pb2.GRANT, reason="確認"
    ),
    "RecordReturnedMail": lambda: notices_pb2.RecordReturnedMailRequest(
        request_id=_rid(), application_number=UNKNOWN, kind=notices_pb2.GRANT
    ),
    "RecordManualMailing": lambda: notices_pb2.RecordManualMailingRequest(
        request_id=_rid(), application_number=UNKNOWN, kind=notices_pb2.GRANT, reason="確認"
    ),
    "GetNotices": lambda: notices_pb2.GetNoticesRequest(application_number=UNKNOWN),
    "ListHeldPrintData": lambda: notices_pb2.ListHeldPrintDataRequest(program_id=PROGRAM),
    "PurgeExpiredPrintData": lambda: notices_pb2.PurgeExpiredPrintDataRequest(
        program_id="no-such-program"
    ),
    "RevocationMade": lambda: events_pb2.RevocationEvent(),
}
SERVICES = [f"service:{name}" for name in declarations() if name != "notices"]
CALLERS = [*ROLES, *SERVICES]
ADMITTED_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
}


def test_the_table_the_proto_and_the_requests_name_the_same_rpcs() -> None:
    declared = {method.rsplit("/", 1)[1] for method in TABLE}
    served = set(notices_pb2.DESCRIPTOR.services_by_name["NoticesService"].methods_by_name)
    assert declared == served == set(REQUESTS)
    assert all(method.startswith(f"/{NOTICES}/") for method in TABLE)


def test_review_is_a_caller_and_notices_is_not() -> None:
    assert "service:review" in SERVICES
    assert "service:notices" not in CALLERS


def _call(intake: Client, notices: ServiceProcess, method: str, caller: str) -> grpc.StatusCode:
    if caller.startswith("service:"):
        identity, metadata = caller.removeprefix("service:"), ()
    else:
        identity, metadata = CONSOLE, intake.staff(caller)
    with staff_channel(intake.environment.pki, notices.address, identity) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        try:
            answer = getattr(stub, method)(REQUESTS[method](), metadata=metadata, timeout=30)
            if method == "DownloadPrintFile":
                list(answer)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_each_rpc_admits_exactly_the_callers_of_the_table(
    intake: Client, notices: ServiceProcess, method: str
) -> None:
    allowed = TABLE[f"/{NOTICES}/{method}"]
    outcome = {caller: _call(intake, notices, method, caller) for caller in CALLERS}
    denied = {c for c, code in outcome.items() if code == grpc.StatusCode.PERMISSION_DENIED}
    assert denied == set(CALLERS) - allowed, outcome
    admitted = {c: code for c, code in outcome.items() if c in allowed}
    assert set(admitted.values()) <= ADMITTED_CODES, admitted


def test_a_call_without_a_token_or_service_certificate_is_unauthenticated(
    intake: Client, notices: ServiceProcess
) -> None:
    with staff_channel(intake.environment.pki, notices.address) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetNotices(notices_pb2.GetNoticesRequest(application_number=UNKNOWN), timeout=30)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
