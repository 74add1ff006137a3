"""The RPC x role table, enforced on a real server: every intake RPC called with every
role and every service identity; and no client certificate, no connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from intake_support import PROGRAM, Client, proto
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy_intake.roles import INTAKE, INTAKE_ROLES

from subsidy_platform.access import ROLES
from subsidy_platform.declaration import declarations

# A dwelling, person and account of this test's own: the application it stores must not be
# a duplicate of another test's (the shared RECORD's address is other tests' too).
OWN = {
    "applicant.address": "新宿区若松町9番9号 アクセス荘909",
    "applicant.name_kana": "アクセス テスト",
    "bank_account.number": "9090909",
    "logo_answer_id": "4400000001",
}
# A minimal request per RPC: enough to pass the interceptor and reach the handler.
REQUESTS: dict[str, Callable[[], Any]] = {
    "SubmitApplication": lambda: intake_pb2.SubmitApplicationRequest(
        program_id=PROGRAM, application=proto(**OWN)
    ),
    "ImportLogoCsv": lambda: iter([intake_pb2.ImportLogoCsvRequest(chunk=b"")]),
    "KeyPaperForm": lambda: intake_pb2.KeyPaperFormRequest(program_id=PROGRAM),
    "SearchApplications": lambda: intake_pb2.SearchApplicationsRequest(program_id=PROGRAM),
    "GetApplication": lambda: intake_pb2.GetApplicationRequest(application_number="S2025-999999"),
    "GetTimeline": lambda: intake_pb2.GetTimelineRequest(application_number="S2025-999999"),
    "RecordInquiry": lambda: intake_pb2.RecordInquiryRequest(),
    "ListInquiries": lambda: intake_pb2.ListInquiriesRequest(),
    "ReportStatusTransition": lambda: intake_pb2.ReportStatusTransitionRequest(
        application_number="S2025-999999"
    ),
    "GetAttachmentChecklist": lambda: intake_pb2.GetAttachmentChecklistRequest(
        application_number="S2025-999999"
    ),
    "RecordAttachments": lambda: intake_pb2.RecordAttachmentsRequest(
        application_number="S2025-999999"
    ),
    "SubmitCorrection": lambda: intake_pb2.SubmitCorrectionRequest(
        request_id="access-correction", application_number="S2025-999999", application=proto()
    ),
    "GetPaymentAccount": lambda: intake_pb2.GetPaymentAccountRequest(
        application_number="S2025-999999", purpose="権限の確認"
    ),
    "GetPaymentAccountVersions": lambda: intake_pb2.GetPaymentAccountVersionsRequest(
        program_id=PROGRAM, application_numbers=["S2025-999999"]
    ),
    "RecordBankAccountChange": lambda: intake_pb2.RecordBankAccountChangeRequest(
        request_id="access-bank-change", application_number="S2025-999999"
    ),
}
CALLERS = [*ROLES, *(f"service:{name}" for name in declarations() if name != "intake")]


def test_every_rpc_of_the_service_is_in_the_table() -> None:
    declared = {method.rsplit("/", 1)[1] for method in INTAKE_ROLES}
    served = set(intake_pb2.DESCRIPTOR.services_by_name["IntakeService"].methods_by_name)
    assert declared == served == set(REQUESTS)


def _call(client: Client, method: str, caller: str) -> grpc.StatusCode:
    if caller.startswith("service:"):
        identity, metadata = caller.removeprefix("service:"), ()
    else:
        identity, metadata = "client-console", client.staff(caller)
    with client.channel(identity) as channel:
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        try:
            getattr(stub, method)(REQUESTS[method](), metadata=metadata, timeout=20)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_each_rpc_admits_exactly_the_roles_of_the_table(intake: Client, method: str) -> None:
    allowed = INTAKE_ROLES[f"/{INTAKE}/{method}"]
    outcome = {caller: _call(intake, method, caller) for caller in CALLERS}
    denied = {
        caller for caller, code in outcome.items() if code == grpc.StatusCode.PERMISSION_DENIED
    }
    admitted = set(CALLERS) - denied
    assert grpc.StatusCode.UNAUTHENTICATED not in outcome.values()
    assert admitted == set(CALLERS) & allowed, outcome


def test_a_call_without_a_token_or_service_certificate_is_unauthenticated(intake: Client) -> None:
    with intake.stub() as stub, pytest.raises(grpc.RpcError) as raised:
        stub.GetTimeline(intake_pb2.GetTimelineRequest(application_number="S2025-000001"))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_forged_token_is_unauthenticated(intake: Client) -> None:
    token = intake.staff("checker")[0][1]
    assert isinstance(token, str)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with intake.stub() as stub, pytest.raises(grpc.RpcError) as raised:
        stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number="S2025-000001"),
            metadata=(("authorization", forged),),
        )
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_client_without_a_certificate_cannot_connect(intake: Client) -> None:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=intake.environment.pki.ca_certificate
    )
    with grpc.secure_channel(f"localhost:{intake.process.port}", credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_plaintext_client_cannot_connect(intake: Client) -> None:
    with (
        grpc.insecure_channel(f"localhost:{intake.process.port}") as channel,
        pytest.raises(grpc.RpcError) as raised,
    ):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
