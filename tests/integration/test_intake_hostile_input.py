"""Hostile input to every intake RPC, generated (hypothesis) on a real server over mTLS.

The request descriptors are walked generically: every string field of every request (and
of the messages inside it: the application record, its applicant, purchases, bank account,
the second keying, the upload's header ...), and every enum and integer field too, gets a
generated value while the rest of the request stays valid: lengths up to 1 MiB, arbitrary
code points (surrogates excluded: proto strings are UTF-8), control characters, NUL,
digits of other scripts, enum numbers outside their enum, integers up to int64's ends.

For every call: the answer is a success or a clear error (INVALID_ARGUMENT with field
violations, NOT_FOUND, FAILED_PRECONDITION, PERMISSION_DENIED), never INTERNAL nor any
other code; the error is short (the value is never echoed); a failed call writes nothing
(the row counts of intake's tables and of intake's audit events are unchanged); and the
server answers health during (a probe every 0.2 s on its own channel) and after the calls.
The walker, the generated values, the checks and the probe are hostile_support's (shared
with review's and the sign-in service's tests).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
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
    leaf_type,
)
from hypothesis import HealthCheck, settings
from intake_support import PROGRAM, Client, record, writes
from sqlalchemy import Engine
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy_intake.convert import record_to_proto
from subsidy_intake.logo_csv import mapping_for, to_logo_csv

EXAMPLES = 30
pytestmark = IGNORE_RANDOM_IN_SERVER_THREADS
SERVICE = intake_pb2.DESCRIPTOR.services_by_name["IntakeService"]


def person(tag: str) -> dict[str, Any]:
    """A valid record nobody else's (kana, address, account, answer id, phone from the tag)."""
    n = int(hashlib.sha256(tag.encode()).hexdigest()[:12], 16)
    return record(
        **{
            "applicant.name_kana": f"ホスタイル {tag}",
            "applicant.address": f"新宿区若葉1丁目{n % 20 + 1}番{n % 9 + 1}号 ホスタイル{n % 900 + 100}",
            "bank_account.number": f"{n % 10_000_000:07d}",
            "logo_answer_id": f"55{n % 10**8:08d}",
            "applicant.phone": f"070-{n % 10000:04d}-{(n // 7) % 10000:04d}",
        }
    )


# --- the RPCs with a valid request each ----------------------------------------------------


@dataclass(frozen=True)
class Numbers:
    """Stored applications the requests may name: one to read and correct, one to report on."""

    target: str
    reported: str


@dataclass
class Target:
    rpc: str
    role: str  # a staff role, or "service:<name>"
    build: Callable[[Numbers], Message]
    streamed: bool = False
    paths: list[Path] = field(default_factory=list)


def _input(target: Target) -> Descriptor:
    return SERVICE.methods_by_name[target.rpc].input_type


def _tag() -> str:
    return f"hostile-{uuid.uuid4().hex[:20]}"


def _correction(n: Numbers) -> Message:
    return intake_pb2.SubmitCorrectionRequest(
        request_id=_tag(),
        application_number=n.target,
        application=record_to_proto(person("hostile-target")),
        note="電話番号の補正",
    )


_ACCOUNT = common_pb2.BankAccount(
    bank_code="0005",
    branch_code="001",
    type="ordinary",
    number="2468024",
    holder_kana="テキタイ ハナコ",
)
TARGETS = [
    Target("SubmitApplication", "operator", lambda n: intake_pb2.SubmitApplicationRequest(
        request_id=(tag := _tag()), program_id=PROGRAM, application=record_to_proto(person(tag)))),
    Target("ImportLogoCsv", "operator", lambda n: intake_pb2.ImportLogoCsvRequest(
        header=intake_pb2.ImportLogoCsvRequest.Header(program_id=PROGRAM,
                                                      file_name="hostile.csv")), streamed=True),
    Target("KeyPaperForm", "operator", lambda n: intake_pb2.KeyPaperFormRequest(
        form_id=(tag := _tag()), program_id=PROGRAM, application=record_to_proto(person(tag)))),
    Target("SearchApplications", "call_center", lambda n: intake_pb2.SearchApplicationsRequest(
        program_id=PROGRAM, application_number=n.target, purpose="進捗の問合せ")),
    Target("GetApplication", "checker", lambda n: intake_pb2.GetApplicationRequest(
        application_number=n.target, unmask=True, purpose="本人確認")),
    Target("GetTimeline", "call_center", lambda n: intake_pb2.GetTimelineRequest(
        application_number=n.target)),
    Target("RecordInquiry", "call_center", lambda n: intake_pb2.RecordInquiryRequest(
        request_id=_tag(), application_number=n.target, channel="電話", category="進捗",
        summary="審査状況の問合せ", contacted_at="2025-06-10T10:00:00+09:00", program_id=PROGRAM)),
    Target("ListInquiries", "call_center", lambda n: intake_pb2.ListInquiriesRequest(
        application_number=n.target, purpose="折り返し確認")),
    Target("ReportStatusTransition", "service:review",
           lambda n: intake_pb2.ReportStatusTransitionRequest(
               request_id=_tag(), application_number=n.reported, status=common_pb2.UNDER_REVIEW,
               note="審査開始")),
    Target("GetAttachmentChecklist", "operator", lambda n: intake_pb2.GetAttachmentChecklistRequest(
        application_number=n.target)),
    Target("RecordAttachments", "operator", lambda n: intake_pb2.RecordAttachmentsRequest(
        application_number=n.target, present=["receipt"])),
    Target("SubmitCorrection", "operator", _correction),
    Target("GetPaymentAccount", "service:payments", lambda n: intake_pb2.GetPaymentAccountRequest(
        application_number=n.target, purpose="振込指図の作成")),
    Target("GetPaymentAccountVersions", "service:payments",
           lambda n: intake_pb2.GetPaymentAccountVersionsRequest(
               program_id=PROGRAM, application_numbers=[n.target])),
    Target("RecordBankAccountChange", "operator", lambda n: intake_pb2.RecordBankAccountChangeRequest(
        request_id=_tag(), application_number=n.target, account=_ACCOUNT, note="口座訂正")),
]  # fmt: skip
for _target in TARGETS:
    _target.paths = list(leaf_paths(SERVICE.methods_by_name[_target.rpc].input_type))


def test_every_rpc_of_the_service_is_fuzzed_over_every_string_field() -> None:
    assert {t.rpc for t in TARGETS} == {m.name for m in SERVICE.methods}
    for target in TARGETS:
        kinds = {leaf_type(_input(target), p) for p in target.paths}
        assert FieldDescriptor.TYPE_STRING in kinds, target.rpc
    submit = next(t for t in TARGETS if t.rpc == "SubmitApplication")
    assert ("application", "applicant", "address") in submit.paths
    assert ("application", "purchases", "description") in submit.paths
    assert ("application", "purchases", "amount") in submit.paths
    assert ("application", "channel") in submit.paths


# --- the test -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def numbers(intake: Client) -> Numbers:
    stored = []
    for tag in ("hostile-target", "hostile-reported"):
        with intake.stub() as stub:
            response = stub.SubmitApplication(
                intake_pb2.SubmitApplicationRequest(
                    request_id=tag, program_id=PROGRAM, application=record_to_proto(person(tag))
                ),
                metadata=intake.staff("operator"),
            )
        stored.append(response.application_number)
    return Numbers(*stored)


@pytest.fixture(scope="module")
def upload() -> bytes:
    online = {**person("hostile-upload"), "channel": "online"}
    return to_logo_csv([online], mapping_for(PROGRAM))


def call(client: Client, target: Target, request: Message, upload: bytes) -> Answer:
    """The answer of one call (OK or the error's)."""
    service = target.role.removeprefix("service:") if target.role.startswith("service:") else ""
    metadata = () if service else client.staff(target.role, "hostile-" + target.role)
    with client.stub(service) if service else client.stub() as stub:
        method = getattr(stub, target.rpc)
        if target.streamed:
            parts = [request, intake_pb2.ImportLogoCsvRequest(chunk=upload)]
            return answer_of(lambda: method(iter(parts), metadata=metadata, timeout=60))
        return answer_of(lambda: method(request, metadata=metadata, timeout=60))


@pytest.mark.parametrize("target", TARGETS, ids=[t.rpc for t in TARGETS])
def test_hostile_values_in_any_field_get_a_clear_answer_and_write_nothing_on_error(
    intake: Client, admin_engine: Engine, numbers: Numbers, upload: bytes, target: Target
) -> None:
    fuzz = Fuzz(
        rpc=target.rpc,
        descriptor=_input(target),
        paths=target.paths,
        build=lambda: target.build(numbers),
        call=lambda request: call(intake, target, request, upload),
        check=lambda answer, value: check_answer(target.rpc, answer, value=value, longest=1000),
        writes=lambda _request: writes(admin_engine),
        address=f"localhost:{intake.process.port}",
        pki=intake.environment.pki,
    )
    config = settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    fuzz_rpc(fuzz, config, EXAMPLES)
