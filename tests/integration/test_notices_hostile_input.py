"""Hostile input to every notices RPC, generated (hypothesis) on a real server over mTLS.

The request descriptors are walked generically (hostile_support): every string, enum and
integer field of every request (and of review's events: reasons, correction items) gets a
generated value while the rest of the request stays valid and names a real notice in a
state where the call can succeed (waiting, in a rendered batch, in a printed batch,
mailed). For every call: a success or a clear error, never INTERNAL; the error is short
and never repeats a long value; a failed call writes nothing (notices' tables and its
audit events unchanged); the server answers health during and after the calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
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
from notices_support import applicant, decide
from review_support import settle
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc

from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import staff_channel
from subsidy_platform.ward_clock import ward_today

EXAMPLES = 20
pytestmark = IGNORE_RANDOM_IN_SERVER_THREADS
SERVICE = notices_pb2.DESCRIPTOR.services_by_name["NoticesService"]
COMPARED = ("notices.notices", "notices.batches", "notices.batch_items")
COUNTED = (
    "notices.reprints",
    "notices.returns",
    "notices.processed_events",
    "notices.confirmations",
    "notices.outbox",
)
WRITES = (
    *(
        f"SELECT count(*)::text || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY "
        f"t::text), '')) FROM {table} t"
        for table in COMPARED
    ),
    *(f"SELECT count(*)::text FROM {table}" for table in COUNTED),
    # refused calls are audited in batches, flushed every few seconds (refusals)
    f"SELECT count(*)::text FROM audit.events WHERE service = 'notices'{NOT_REFUSALS}",
)


def writes(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as connection:
        return tuple(str(connection.execute(text(sql)).scalar_one()) for sql in WRITES)


def _rid() -> str:
    return f"hostile-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Notices:
    """Real notices and batches, each in the state its RPC can act on."""

    waiting: str  # an application at intake with no notice yet: the events
    rendered: str  # batch RENDERED: ConfirmPrinted, DownloadPrintFile
    printed: str  # batch PRINTED: ConfirmMailed
    mailed: str  # a notice MAILED: returned mail, reprints
    left_out: str  # a notice left out of a batch (a character the font lacks): by hand


def _batch(stub: Any, intake: Client) -> notices_pb2.PrintBatch:
    batch: notices_pb2.PrintBatch = stub.CreatePrintBatch(
        notices_pb2.CreatePrintBatchRequest(request_id=_rid(), program_id=PROGRAM),
        metadata=intake.staff("operator"),
        timeout=300,
    )
    return batch


def _confirm(stub: Any, intake: Client, method: str, batch_id: str) -> None:
    getattr(stub, method)(
        notices_pb2.ConfirmBatchRequest(request_id=_rid(), batch_id=batch_id),
        metadata=intake.staff("operator"),
    )


@pytest.fixture(scope="module")
def made(intake: Client, notices: ServiceProcess) -> Notices:
    waiting, _ = applicant(intake, "敵対通知待ち")
    mailed, _ = applicant(intake, "敵対通知発送")
    left_out, _ = applicant(intake, "敵対外字", **{"applicant.name": "𠮷川 敵対"})
    with staff_channel(intake.environment.pki, notices.address) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        decide(notices, intake, mailed, granted=True, amount=9_000)
        decide(notices, intake, left_out, granted=True, amount=9_000)
        first = _batch(stub, intake)
        _confirm(stub, intake, "ConfirmPrinted", first.batch_id)
        _confirm(stub, intake, "ConfirmMailed", first.batch_id)
        batches = []
        for tag in ("敵対印刷済", "敵対作成済"):
            number, _ = applicant(intake, tag)
            decide(notices, intake, number, granted=False, reasons=("NOT_RESIDENT",))
            batches.append(_batch(stub, intake).batch_id)
        _confirm(stub, intake, "ConfirmPrinted", batches[0])
    return Notices(
        waiting=waiting, rendered=batches[1], printed=batches[0], mailed=mailed, left_out=left_out
    )


@dataclass
class Target:
    rpc: str
    role: str
    build: Callable[[Notices], Message]
    paths: list[Path] = field(default_factory=list)


TODAY = ward_today().isoformat()
TARGETS = [
    Target("DecisionMade", "service:review", lambda n: events_pb2.DecisionEvent(
        event_id=_rid(), application_number=n.waiting, program_id=PROGRAM, granted=False,
        reasons=[common_pb2.TAX_ARREARS], decided_on=TODAY, decision_number="S2025-D-999001")),
    Target("CorrectionRequested", "service:review", lambda n: events_pb2.CorrectionRequestEvent(
        event_id=_rid(), application_number=n.waiting, program_id=PROGRAM, requested_on=TODAY,
        deadline=(ward_today() + timedelta(days=14)).isoformat(),
        items=[events_pb2.CorrectionItem(field="receipt", problem="領収書の日付が読めません")])),
    Target("CreatePrintBatch", "operator", lambda n: notices_pb2.CreatePrintBatchRequest(
        request_id=_rid(), program_id=PROGRAM, limit=1)),
    Target("DownloadPrintFile", "operator", lambda n: notices_pb2.DownloadPrintFileRequest(
        batch_id=n.rendered)),
    Target("ConfirmPrinted", "operator", lambda n: notices_pb2.ConfirmBatchRequest(
        request_id=_rid(), batch_id=n.rendered)),
    Target("ConfirmMailed", "operator", lambda n: notices_pb2.ConfirmBatchRequest(
        request_id=_rid(), batch_id=n.printed, mailed_on=TODAY)),
    Target("ListPrintBatches", "auditor", lambda n: notices_pb2.ListPrintBatchesRequest(
        program_id=PROGRAM)),
    Target("ReprintNotice", "operator", lambda n: notices_pb2.ReprintNoticeRequest(
        request_id=_rid(), application_number=n.mailed, kind=notices_pb2.GRANT,
        reason="印刷のかすれ")),
    Target("RecordReturnedMail", "operator", lambda n: notices_pb2.RecordReturnedMailRequest(
        request_id=_rid(), application_number=n.mailed, kind=notices_pb2.GRANT,
        returned_on=TODAY)),
    Target("RecordManualMailing", "operator", lambda n: notices_pb2.RecordManualMailingRequest(
        request_id=_rid(), application_number=n.left_out, kind=notices_pb2.GRANT,
        mailed_on=TODAY, reason="外字のため手書き")),
    Target("GetNotices", "call_center", lambda n: notices_pb2.GetNoticesRequest(
        application_number=n.mailed)),
    Target("ListHeldPrintData", "ward_officer", lambda n: notices_pb2.ListHeldPrintDataRequest(
        program_id=PROGRAM)),
    Target("PurgeExpiredPrintData", "operator",
           lambda n: notices_pb2.PurgeExpiredPrintDataRequest(program_id=PROGRAM, as_of=TODAY)),
    Target("RevocationMade", "service:review", lambda n: events_pb2.RevocationEvent(
        event_id=_rid(), application_number=n.waiting, program_id=PROGRAM, revoked_on=TODAY,
        revocation_number="S2025-R-999001", decision_number="S2025-D-999002", amount=9_000,
        reasons=[common_pb2.DUPLICATE_HOUSEHOLD])),
]  # fmt: skip
for _target in TARGETS:
    _target.paths = list(leaf_paths(SERVICE.methods_by_name[_target.rpc].input_type))


def test_every_rpc_of_the_notices_service_is_fuzzed() -> None:
    assert sorted(t.rpc for t in TARGETS) == sorted(m.name for m in SERVICE.methods)
    paths = {t.rpc: set(t.paths) for t in TARGETS}
    assert {("items", "field"), ("items", "problem"), ("deadline",)} <= paths["CorrectionRequested"]
    assert {("amount",), ("reasons",), ("decided_on",)} <= paths["DecisionMade"]


@pytest.fixture(scope="module")
def stubs(intake: Client, notices: ServiceProcess) -> Iterator[dict[str, Any]]:
    with (
        staff_channel(intake.environment.pki, notices.address) as staff,
        staff_channel(intake.environment.pki, notices.address, "review") as review,
    ):
        yield {
            "staff": notices_pb2_grpc.NoticesServiceStub(staff),
            "review": notices_pb2_grpc.NoticesServiceStub(review),
        }


def call(intake: Client, stub: Any, target: Target, request: Message) -> Answer:
    metadata = () if target.role.startswith("service:") else intake.staff(target.role)
    method = getattr(stub, target.rpc)
    if target.rpc == "DownloadPrintFile":
        return answer_of(lambda: list(method(request, metadata=metadata, timeout=60)))
    return answer_of(lambda: method(request, metadata=metadata, timeout=120))


@pytest.fixture(autouse=True)
def settled(review: ServiceProcess, admin_engine: Engine) -> None:
    """Review's decisions and correction requests for notices all delivered before each
    test, so that none arrives while it compares what notices wrote."""
    assert review.context.relay is not None
    # only the deliveries to notices matter here; other tests' parked events are theirs
    settle(review.context.relay, admin_engine, "review", "notices", expect_parked=1000)


@pytest.mark.parametrize("target", TARGETS, ids=[t.rpc for t in TARGETS])
def test_hostile_values_in_any_field_get_a_clear_answer_and_write_nothing_on_error(
    intake: Client,
    notices: ServiceProcess,
    stubs: dict[str, Any],
    admin_engine: Engine,
    environment: Environment,
    made: Notices,
    target: Target,
) -> None:
    stub = stubs["review" if target.role.startswith("service:") else "staff"]
    fuzz = Fuzz(
        rpc=target.rpc,
        descriptor=SERVICE.methods_by_name[target.rpc].input_type,
        paths=target.paths,
        build=lambda: target.build(made),
        call=lambda request: call(intake, stub, target, request),
        check=lambda answer, value: check_answer(target.rpc, answer, value=value),
        writes=lambda _request: writes(admin_engine),
        address=notices.address,
        pki=environment.pki,
        near=True,
    )
    config = settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    fuzz_rpc(fuzz, config, EXAMPLES)
