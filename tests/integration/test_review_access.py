"""The review RPC x role table, enforced on a real server: every review RPC called with every
staff role and every other service's certificate identity; a caller the table names is
never refused, any other caller always is."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client
from subsidy.events.v1 import events_pb2
from subsidy.review.v1 import review_pb2, review_pb2_grpc
from subsidy_review.roles import REVIEW, TABLE

from subsidy_platform.access import ROLES
from subsidy_platform.declaration import declarations
from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import CONSOLE, staff_channel

UNKNOWN = "S2025-999998"


def _rid() -> str:
    return f"access-{uuid.uuid4().hex}"


# A minimal request per RPC: enough to pass the interceptor and reach the handler, and
# never one that changes anything (unknown applications, an unknown program, a past date).
REQUESTS: dict[str, Callable[[], Any]] = {
    "ApplicationChanged": lambda: events_pb2.ApplicationEvent(),
    "ListWorklist": lambda: review_pb2.ListWorklistRequest(program_id=PROGRAM),
    "ClaimApplication": lambda: review_pb2.ClaimRequest(application_number=UNKNOWN),
    "ReleaseClaim": lambda: review_pb2.ClaimRequest(application_number=UNKNOWN),
    "GetCheck": lambda: review_pb2.GetCheckRequest(
        application_number=UNKNOWN, purpose="権限の確認"
    ),
    "RecordCheck": lambda: review_pb2.RecordCheckRequest(
        request_id=_rid(), application_number=UNKNOWN
    ),
    "GetDuplicateGroup": lambda: review_pb2.GetDuplicateGroupRequest(
        application_number=UNKNOWN, purpose="権限の確認"
    ),
    "ResolveDuplicates": lambda: review_pb2.ResolveDuplicatesRequest(
        request_id=_rid(), application_number=UNKNOWN, clear_reason="同姓同名の別人"
    ),
    "RequestCorrection": lambda: review_pb2.RequestCorrectionRequest(
        request_id=_rid(),
        application_number=UNKNOWN,
        items=[events_pb2.CorrectionItem(field="receipt", problem="領収書が読めません")],
    ),
    "ExtendCorrectionDeadline": lambda: review_pb2.ExtendDeadlineRequest(
        request_id=_rid(), application_number=UNKNOWN
    ),
    "ExpireCorrections": lambda: review_pb2.ExpireCorrectionsRequest(
        program_id=PROGRAM, as_of="2000-01-01"
    ),
    "GetCase": lambda: review_pb2.GetCaseRequest(application_number=UNKNOWN),
    "ExportForWard": lambda: review_pb2.ExportForWardRequest(
        request_id=_rid(), program_id="no-such-program"
    ),
    "ImportWardDecisions": lambda: review_pb2.ImportWardDecisionsRequest(
        request_id=_rid(),
        program_id=PROGRAM,
        file_name="decisions.zip",
        sealed_file=b"not a zip",
        password="access-check-password",
    ),
    "DecideApplication": lambda: review_pb2.DecideRequest(
        request_id=_rid(),
        application_number=UNKNOWN,
        verdict=review_pb2.DECISION_VERDICT_GRANT,
        amount=1000,
    ),
    "ApproveReducedGrant": lambda: review_pb2.ApproveReducedGrantRequest(
        request_id=_rid(), application_number=UNKNOWN, verdict=review_pb2.REDUCTION_VERDICT_APPROVE
    ),
    "ListHandovers": lambda: review_pb2.ListHandoversRequest(program_id=PROGRAM),
    "ExportHandoverLedger": lambda: review_pb2.ExportHandoverLedgerRequest(program_id=PROGRAM),
    "ListGrantedDecisions": lambda: review_pb2.ListGrantedDecisionsRequest(
        program_id=PROGRAM, limit=1, purpose="権限の確認"
    ),
    "ListPendingClearings": lambda: review_pb2.ListPendingClearingsRequest(program_id=PROGRAM),
    "ConfirmClearing": lambda: review_pb2.ConfirmClearingRequest(
        request_id=_rid(),
        clearing_id=str(uuid.uuid4()),
        verdict=review_pb2.CLEARING_VERDICT_CONFIRM,
    ),
    "ListRevocationCases": lambda: review_pb2.ListRevocationCasesRequest(program_id=PROGRAM),
    "RevokeGrant": lambda: review_pb2.RevokeGrantRequest(
        request_id=_rid(), application_number=UNKNOWN, reason="権限の確認"
    ),
}
SERVICES = [f"service:{name}" for name in declarations() if name != "review"]
CALLERS = [*ROLES, *SERVICES]
# What a caller the table admits may get back from these requests; never INTERNAL.
ADMITTED_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
}


def test_the_table_the_proto_and_the_requests_name_the_same_rpcs() -> None:
    declared = {method.rsplit("/", 1)[1] for method in TABLE}
    served = set(review_pb2.DESCRIPTOR.services_by_name["ReviewService"].methods_by_name)
    assert declared == served == set(REQUESTS)
    assert all(method.startswith(f"/{REVIEW}/") for method in TABLE)


def test_every_installed_service_but_review_is_a_caller() -> None:
    assert "service:intake" in SERVICES
    assert "service:review" not in CALLERS


def _call(intake: Client, review: ServiceProcess, method: str, caller: str) -> grpc.StatusCode:
    if caller.startswith("service:"):
        identity, metadata = caller.removeprefix("service:"), ()
    else:
        identity, metadata = CONSOLE, intake.staff(caller)
    with staff_channel(intake.environment.pki, review.address, identity) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        try:
            getattr(stub, method)(REQUESTS[method](), metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_each_rpc_admits_exactly_the_callers_of_the_table(
    intake: Client, review: ServiceProcess, method: str
) -> None:
    allowed = TABLE[f"/{REVIEW}/{method}"]
    outcome = {caller: _call(intake, review, method, caller) for caller in CALLERS}
    denied = {c for c, code in outcome.items() if code == grpc.StatusCode.PERMISSION_DENIED}
    assert set(CALLERS) - denied == set(CALLERS) & allowed, outcome
    assert denied == set(CALLERS) - allowed, outcome
    admitted = {c: code for c, code in outcome.items() if c in allowed}
    assert set(admitted.values()) <= ADMITTED_CODES, admitted


def test_a_call_without_a_token_or_service_certificate_is_unauthenticated(
    intake: Client, review: ServiceProcess
) -> None:
    with staff_channel(intake.environment.pki, review.address) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetCase(review_pb2.GetCaseRequest(application_number=UNKNOWN), timeout=30)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
