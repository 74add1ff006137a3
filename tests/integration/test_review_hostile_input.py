"""Hostile input to every review RPC, generated (hypothesis) on a real server over mTLS.

The request descriptors are walked generically (hostile_support, shared with intake's
test): every string, enum and integer field of every request (and of the messages inside
it: correction items, intake's duplicate flags) gets a generated value while the rest of
the request stays valid and names a real application in a state where the call can
succeed (received and claimed, checked, awaiting a correction, awaiting a second ward
officer, flagged as a duplicate).

For every call: the answer is a success or a clear error (INVALID_ARGUMENT with field
violations, NOT_FOUND, FAILED_PRECONDITION, PERMISSION_DENIED), never INTERNAL nor any
other code; the error is short and never repeats a value longer than 32 characters; a
failed call (and a decision file refused whole) writes nothing: the row counts and
contents of review's tables and review's audit events are unchanged. A call that succeeds
may change state (a claim, a check, a handover): those are not asserted on. The server
answers health during (a probe every 0.2 s on its own channel) and after the calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
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
from intake_support import NOT_REFUSALS, PROGRAM, Client
from review_support import ALL_ITEMS, check, deliver, person, submit
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.review.v1 import review_pb2, review_pb2_grpc

from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import staff_channel
from subsidy_platform.ward_clock import ward_today

EXAMPLES = 25
pytestmark = IGNORE_RANDOM_IN_SERVER_THREADS
SERVICE = review_pb2.DESCRIPTOR.services_by_name["ReviewService"]
CHECKER = "hostile-checker"
# Tables whose rows a failed call could change: compared whole (count and contents).
COMPARED = ("review.cases", "review.duplicate_flags", "review.corrections", "review.decisions")
# Tables only appended to by the use cases (the outbox's rows are updated by its relay).
COUNTED = (
    "review.handovers",
    "review.handover_items",
    "review.processed_events",
    "review.commands",
    "review.outbox",
)
WRITES = (
    *(
        f"SELECT count(*)::text || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY "
        f"t::text), '')) FROM {table} t"
        for table in COMPARED
    ),
    *(f"SELECT count(*)::text FROM {table}" for table in COUNTED),
    # review's own audit events (intake audits review's reads under review's identity)
    # refused calls are audited in batches, flushed every few seconds (refusals)
    f"SELECT count(*)::text FROM audit.events WHERE service = 'review'{NOT_REFUSALS}",
)


def writes(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as connection:
        return tuple(str(connection.execute(text(sql)).scalar_one()) for sql in WRITES)


# --- the applications the requests name ----------------------------------------------------


@dataclass(frozen=True)
class Cases:
    """Real applications, each in the state its RPC can act on."""

    received: str  # RECEIVED, claimed by CHECKER: claims, checks, the case
    to_check: str  # RECEIVED, claimed by CHECKER: RecordCheck
    to_correct: str  # RECEIVED: RequestCorrection
    awaiting: str  # AWAITING_CORRECTION: ExtendCorrectionDeadline
    checked: str  # CHECKED with a grant proposed: DecideApplication
    rules_amount: int
    pending: str  # PENDING_APPROVAL (reduced by hostile-ward-a): ApproveReducedGrant
    duplicate: str  # DUPLICATE_SUSPECTED with a strong twin: duplicate groups
    event: str  # RECEIVED: intake's CORRECTED event (changes nothing in this state)


@pytest.fixture(scope="module")
def cases(intake: Client, review: ServiceProcess, admin_engine: Engine) -> Cases:
    twins = str(person("敵対重複")["applicant.address"])
    numbers = {
        name: submit(intake, **person(f"敵対{i}"))
        for i, name in enumerate(
            ("received", "to_check", "to_correct", "awaiting", "checked", "pending", "event")
        )
    }
    numbers["first_twin"] = submit(intake, **person("敵対重複一", address=twins))
    numbers["duplicate"] = submit(intake, **person("敵対重複二", address=twins))
    deliver(intake, review, admin_engine)
    checker = intake.staff("checker", CHECKER)
    with staff_channel(intake.environment.pki, review.address) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        for name in ("received", "to_check"):
            stub.ClaimApplication(
                review_pb2.ClaimRequest(application_number=numbers[name], minutes=240),
                metadata=checker,
            )
        stub.RequestCorrection(
            review_pb2.RequestCorrectionRequest(
                request_id=_rid(),
                application_number=numbers["awaiting"],
                items=[events_pb2.CorrectionItem(field="receipt", problem="領収書が読めません")],
            ),
            metadata=checker,
        )
        done = check(stub, intake, numbers["checked"], login="hostile-checker-2")
        assert done.state == review_pb2.CHECKED and done.proposal_granted
        check(stub, intake, numbers["pending"], login="hostile-checker-2")
        reduced = stub.DecideApplication(
            review_pb2.DecideRequest(
                request_id=_rid(),
                application_number=numbers["pending"],
                verdict=review_pb2.DECISION_VERDICT_GRANT,
                amount=done.rules_amount - 1000,
                reduction_reason="見積書との差額",
            ),
            metadata=intake.staff("ward_officer", "hostile-ward-a"),
        )
        assert reduced.state == review_pb2.PENDING_APPROVAL
        flagged = stub.GetCase(
            review_pb2.GetCaseRequest(application_number=numbers["duplicate"]), metadata=checker
        )
        assert flagged.state == review_pb2.DUPLICATE_SUSPECTED
    deliver(intake, review, admin_engine)  # nothing of the set-up still on its way
    return Cases(
        received=numbers["received"],
        to_check=numbers["to_check"],
        to_correct=numbers["to_correct"],
        awaiting=numbers["awaiting"],
        checked=numbers["checked"],
        rules_amount=done.rules_amount,
        pending=numbers["pending"],
        duplicate=numbers["duplicate"],
        event=numbers["event"],
    )


# --- the RPCs with a valid request each ----------------------------------------------------


def _rid() -> str:
    return f"hostile-{uuid.uuid4().hex}"


@dataclass
class Target:
    rpc: str
    role: str  # a staff role, or "service:intake"
    login: str
    build: Callable[[Cases], Message]
    # an answer that is OK and still refused the call (nothing may be written either)
    refused: Callable[[Any], bool] = field(default=lambda response: False)
    paths: list[Path] = field(default_factory=list)


def _in_a_month() -> str:
    return (ward_today() + timedelta(days=30)).isoformat()


def _decision_file_refused(response: Any) -> bool:
    return not response.committed


WARD_A, WARD_B = "hostile-ward-a", "hostile-ward-b"
TARGETS = [
    Target("ApplicationChanged", "service:intake", "", lambda c: events_pb2.ApplicationEvent(
        event_id=_rid(), kind=events_pb2.ApplicationEvent.CORRECTED, application_number=c.event,
        program_id=PROGRAM, received_on="2025-06-10", channel=common_pb2.ONLINE,
        occurred_at="2025-06-10T10:00:00+09:00")),
    Target("ListWorklist", "checker", CHECKER, lambda c: review_pb2.ListWorklistRequest(
        program_id=PROGRAM, filter=review_pb2.TO_CHECK, page_size=5)),
    Target("ClaimApplication", "checker", CHECKER, lambda c: review_pb2.ClaimRequest(
        application_number=c.received, minutes=240)),
    Target("ReleaseClaim", "checker", CHECKER, lambda c: review_pb2.ClaimRequest(
        application_number=c.received)),
    Target("GetCheck", "checker", CHECKER, lambda c: review_pb2.GetCheckRequest(
        application_number=c.received, purpose="入力の検査")),
    Target("RecordCheck", "checker", CHECKER, lambda c: review_pb2.RecordCheckRequest(
        request_id=_rid(), application_number=c.to_check, confirmed=ALL_ITEMS, note="確認済み")),
    Target("GetDuplicateGroup", "checker", CHECKER, lambda c: review_pb2.GetDuplicateGroupRequest(
        application_number=c.duplicate, purpose="重複の確認")),
    Target("ResolveDuplicates", "checker", CHECKER, lambda c: review_pb2.ResolveDuplicatesRequest(
        request_id=_rid(), application_number=c.duplicate, clear_reason="同姓同名の別人")),
    Target("RequestCorrection", "checker", CHECKER, lambda c: review_pb2.RequestCorrectionRequest(
        request_id=_rid(), application_number=c.to_correct,
        items=[events_pb2.CorrectionItem(field="receipt", problem="領収書の日付が読めません")])),
    Target("ExtendCorrectionDeadline", "checker", CHECKER,
           lambda c: review_pb2.ExtendDeadlineRequest(
               request_id=_rid(), application_number=c.awaiting, deadline=_in_a_month())),
    Target("ExpireCorrections", "checker", CHECKER, lambda c: review_pb2.ExpireCorrectionsRequest(
        program_id=PROGRAM, as_of="2000-01-01")),
    Target("GetCase", "checker", CHECKER, lambda c: review_pb2.GetCaseRequest(
        application_number=c.received)),
    Target("ExportForWard", "ward_officer", WARD_A, lambda c: review_pb2.ExportForWardRequest(
        request_id=_rid(), program_id=PROGRAM, limit=1)),
    Target("ImportWardDecisions", "ward_officer", WARD_A,
           lambda c: review_pb2.ImportWardDecisionsRequest(
               request_id=_rid(), program_id=PROGRAM, file_name="decisions.zip",
               sealed_file=b"PK\x03\x04", password="hostile-input-password"),
           refused=_decision_file_refused),
    Target("DecideApplication", "ward_officer", WARD_A, lambda c: review_pb2.DecideRequest(
        request_id=_rid(), application_number=c.checked, verdict=review_pb2.DECISION_VERDICT_GRANT, amount=c.rules_amount,
        note="入力の検査")),
    Target("ApproveReducedGrant", "ward_officer", WARD_B,
           lambda c: review_pb2.ApproveReducedGrantRequest(
               request_id=_rid(), application_number=c.pending, verdict=review_pb2.REDUCTION_VERDICT_APPROVE)),
    Target("ListHandovers", "ward_officer", WARD_A, lambda c: review_pb2.ListHandoversRequest(
        program_id=PROGRAM)),
    Target("ExportHandoverLedger", "auditor", "hostile-auditor",
           lambda c: review_pb2.ExportHandoverLedgerRequest(program_id=PROGRAM)),
    Target("ListGrantedDecisions", "auditor", "hostile-auditor",
           lambda c: review_pb2.ListGrantedDecisionsRequest(
               program_id=PROGRAM, limit=10, purpose="入力の検査")),
    Target("ListPendingClearings", "checker", CHECKER,
           lambda c: review_pb2.ListPendingClearingsRequest(program_id=PROGRAM)),
    Target("ConfirmClearing", "ward_officer", WARD_B, lambda c: review_pb2.ConfirmClearingRequest(
        request_id=_rid(), clearing_id=str(uuid.uuid4()), verdict=review_pb2.CLEARING_VERDICT_CONFIRM,
        note="入力の検査")),
    Target("ListRevocationCases", "ward_officer", WARD_A,
           lambda c: review_pb2.ListRevocationCasesRequest(program_id=PROGRAM)),
    Target("RevokeGrant", "ward_officer", WARD_A, lambda c: review_pb2.RevokeGrantRequest(
        request_id=_rid(), application_number=c.received, reason="同一世帯の2件目")),
]  # fmt: skip
for _target in TARGETS:
    _target.paths = list(leaf_paths(SERVICE.methods_by_name[_target.rpc].input_type))


def _input(target: Target) -> Descriptor:
    return SERVICE.methods_by_name[target.rpc].input_type


def test_every_rpc_of_the_service_is_fuzzed_over_every_string_field() -> None:
    assert sorted(t.rpc for t in TARGETS) == sorted(m.name for m in SERVICE.methods)
    for target in TARGETS:
        kinds = {leaf_type(_input(target), p) for p in target.paths}
        assert FieldDescriptor.TYPE_STRING in kinds, target.rpc
    paths = {t.rpc: set(t.paths) for t in TARGETS}
    assert {("items", "field"), ("items", "problem"), ("deadline",)} <= paths["RequestCorrection"]
    assert {("keep",), ("clear_reason",)} <= paths["ResolveDuplicates"]
    assert {("amount",), ("reasons",), ("reduction_reason",)} <= paths["DecideApplication"]
    assert {("duplicates", "other_application_number"), ("duplicates", "evidence"), ("kind",)} <= (
        paths["ApplicationChanged"]
    )
    assert {("filter",), ("page_size",), ("page_token",)} <= paths["ListWorklist"]


# --- the test -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def as_intake(intake: Client, review: ServiceProcess) -> Iterator[Any]:
    """Review under intake's service certificate (ApplicationChanged)."""
    with staff_channel(intake.environment.pki, review.address, "intake") as channel:
        yield review_pb2_grpc.ReviewServiceStub(channel)


def call(intake: Client, stub: Any, target: Target, request: Message) -> Answer:
    metadata = () if target.role.startswith("service:") else intake.staff(target.role, target.login)
    method = getattr(stub, target.rpc)
    return answer_of(lambda: method(request, metadata=metadata, timeout=60))


@pytest.mark.parametrize("target", TARGETS, ids=[t.rpc for t in TARGETS])
def test_hostile_values_in_any_field_get_a_clear_answer_and_write_nothing_on_error(
    intake: Client,
    review: ServiceProcess,
    review_stub: Any,
    as_intake: Any,
    admin_engine: Engine,
    environment: Environment,
    cases: Cases,
    target: Target,
) -> None:
    stub = as_intake if target.role.startswith("service:") else review_stub
    fuzz = Fuzz(
        rpc=target.rpc,
        descriptor=_input(target),
        paths=target.paths,
        build=lambda: target.build(cases),
        call=lambda request: call(intake, stub, target, request),
        check=lambda answer, value: check_answer(target.rpc, answer, value=value),
        writes=lambda _request: writes(admin_engine),
        address=review.address,
        pki=environment.pki,
        failed=lambda answer: answer.code != grpc.StatusCode.OK or target.refused(answer.response),
        near=True,
    )
    config = settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    fuzz_rpc(fuzz, config, EXAMPLES)
