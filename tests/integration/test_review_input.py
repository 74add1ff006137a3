"""Hostile input to the review service, on a real server: every id and free text of every
request too long (a megabyte), with a NUL, and (ids) with Unicode digits or spaces; enum
values out of range; amounts out of range; unknown application numbers.

Bad input is INVALID_ARGUMENT naming the field (google.rpc.BadRequest), never INTERNAL,
and nothing is written; health answers while megabyte requests are in flight; an unknown
application is NOT_FOUND without repeating a long caller value.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from intake_support import PROGRAM, Client
from review_support import ALL_ITEMS, arrive, check, person, submit
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.review.v1 import review_pb2, review_pb2_grpc

from subsidy_platform.errors import field_violations
from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import CONSOLE, staff_channel

MIB = 1024 * 1024
CHECKER = "input-checker"
TABLES = (
    "review.cases",
    "review.decisions",
    "review.corrections",
    "review.handovers",
    "review.handover_items",
    "review.commands",
    "review.duplicate_flags",
    "review.processed_events",
    "review.outbox",
    "audit.events",
)
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@dataclass(frozen=True)
class Cases:
    received: str  # RECEIVED, claimed by CHECKER
    checked: str  # CHECKED (審査済), proposed for a grant
    rules_amount: int


@pytest.fixture(scope="module")
def stub(intake: Client, review: ServiceProcess) -> Iterator[review_pb2_grpc.ReviewServiceStub]:
    with staff_channel(intake.environment.pki, review.address) as channel:
        yield review_pb2_grpc.ReviewServiceStub(channel)


@pytest.fixture(scope="module")
def service_stub(
    intake: Client, review: ServiceProcess
) -> Iterator[review_pb2_grpc.ReviewServiceStub]:
    """Review under intake's service certificate (for ApplicationChanged)."""
    with staff_channel(intake.environment.pki, review.address, "intake") as channel:
        yield review_pb2_grpc.ReviewServiceStub(channel)


@pytest.fixture(scope="module")
def cases(intake: Client, review: ServiceProcess, admin_engine: Engine, stub: Any) -> Cases:
    received = submit(intake, **person("入力一"))
    checked = submit(intake, **person("入力二"))
    arrive(intake, admin_engine, [received, checked])
    done = check(stub, intake, checked, login="input-checker-2")
    assert done.state == review_pb2.CHECKED and done.proposal_granted
    stub.ClaimApplication(
        review_pb2.ClaimRequest(application_number=received, minutes=240),
        metadata=intake.staff("checker", CHECKER),
    )
    return Cases(received, checked, done.rules_amount)


def snapshot(admin: Engine, cases: Cases) -> tuple[Any, ...]:
    """Row counts of review's tables and the audit chain, and the state of the two cases."""
    with admin.connect() as connection:
        counts = tuple(
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in TABLES
        )
        rows = connection.execute(
            text(
                "SELECT application_number, state, claimed_by, claim_expires_at, updated_at "
                "FROM review.cases WHERE application_number = ANY(:ns) "
                "ORDER BY application_number"
            ),
            {"ns": [cases.received, cases.checked]},
        ).all()
    return counts, tuple(tuple(r) for r in rows)


def _rid() -> str:
    return f"input-1-{uuid.uuid4().hex}"


# --- the requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One RPC with a request whose fields are all good, and its caller-controlled strings."""

    rpc: str
    caller: str  # a staff role, or "service:intake"
    build: Callable[[Cases], Message]
    ids: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.rpc


def _correction_item() -> events_pb2.CorrectionItem:
    return events_pb2.CorrectionItem(field="receipt", problem="領収書の日付が読めません")


TARGETS = (
    Target(
        "ListWorklist",
        "checker",
        lambda c: review_pb2.ListWorklistRequest(program_id=PROGRAM),
        ids=("program_id",),
        texts=("page_token",),
    ),
    Target(
        "ClaimApplication",
        "checker",
        lambda c: review_pb2.ClaimRequest(application_number=c.received),
        ids=("application_number",),
    ),
    Target(
        "ReleaseClaim",
        "checker",
        lambda c: review_pb2.ClaimRequest(application_number=c.received),
        ids=("application_number",),
    ),
    Target(
        "GetCheck",
        "checker",
        lambda c: review_pb2.GetCheckRequest(application_number=c.received, purpose="入力の検査"),
        ids=("application_number",),
        texts=("purpose",),
    ),
    Target(
        "RecordCheck",
        "checker",
        lambda c: review_pb2.RecordCheckRequest(
            request_id=_rid(), application_number=c.received, confirmed=ALL_ITEMS, note="確認済み"
        ),
        ids=("request_id", "application_number"),
        texts=("note",),
    ),
    Target(
        "GetDuplicateGroup",
        "checker",
        lambda c: review_pb2.GetDuplicateGroupRequest(
            application_number=c.received, purpose="重複の確認"
        ),
        ids=("application_number",),
        texts=("purpose",),
    ),
    Target(
        "ResolveDuplicates",
        "checker",
        lambda c: review_pb2.ResolveDuplicatesRequest(
            request_id=_rid(), application_number=c.received, clear_reason="同姓同名の別人"
        ),
        ids=("request_id", "application_number"),
        texts=("clear_reason",),
    ),
    Target(
        "ResolveDuplicates",
        "checker",
        lambda c: review_pb2.ResolveDuplicatesRequest(
            request_id=_rid(), application_number=c.received, keep=c.received
        ),
        ids=("keep",),
        name="ResolveDuplicates-keep",
    ),
    Target(
        "RequestCorrection",
        "checker",
        lambda c: review_pb2.RequestCorrectionRequest(
            request_id=_rid(), application_number=c.received, items=[_correction_item()]
        ),
        ids=("request_id", "application_number", "items[0].field"),
        texts=("items[0].problem",),
        dates=("deadline",),
    ),
    Target(
        "ExtendCorrectionDeadline",
        "checker",
        lambda c: review_pb2.ExtendDeadlineRequest(
            request_id=_rid(), application_number=c.received
        ),
        ids=("request_id", "application_number"),
        dates=("deadline",),
    ),
    Target(
        "ExpireCorrections",
        "checker",
        lambda c: review_pb2.ExpireCorrectionsRequest(program_id=PROGRAM, as_of="2000-01-01"),
        ids=("program_id",),
        dates=("as_of",),
    ),
    Target(
        "GetCase",
        "checker",
        lambda c: review_pb2.GetCaseRequest(application_number=c.received),
        ids=("application_number",),
    ),
    Target(
        "ExportForWard",
        "ward_officer",
        lambda c: review_pb2.ExportForWardRequest(request_id=_rid(), program_id=PROGRAM),
        ids=("request_id", "program_id"),
    ),
    Target(
        "ImportWardDecisions",
        "ward_officer",
        lambda c: review_pb2.ImportWardDecisionsRequest(
            request_id=_rid(),
            program_id=PROGRAM,
            file_name="decisions.zip",
            sealed_file=b"PK\x03\x04",
            password="input-check-password",
        ),
        ids=("request_id", "program_id"),
        texts=("file_name", "password"),
    ),
    Target(
        "DecideApplication",
        "ward_officer",
        lambda c: review_pb2.DecideRequest(
            request_id=_rid(),
            application_number=c.checked,
            verdict=review_pb2.DECISION_VERDICT_GRANT,
            amount=c.rules_amount,
            note="入力の検査",
        ),
        ids=("request_id", "application_number"),
        texts=("reduction_reason", "note"),
    ),
    Target(
        "ApproveReducedGrant",
        "ward_officer",
        lambda c: review_pb2.ApproveReducedGrantRequest(
            request_id=_rid(),
            application_number=c.checked,
            verdict=review_pb2.REDUCTION_VERDICT_APPROVE,
        ),
        ids=("request_id", "application_number"),
    ),
    Target(
        "ListHandovers",
        "ward_officer",
        lambda c: review_pb2.ListHandoversRequest(program_id=PROGRAM),
        ids=("program_id",),
    ),
    Target(
        "ExportHandoverLedger",
        "auditor",
        lambda c: review_pb2.ExportHandoverLedgerRequest(program_id=PROGRAM),
        ids=("program_id",),
    ),
    Target(
        "ApplicationChanged",
        "service:intake",
        lambda c: events_pb2.ApplicationEvent(
            event_id=f"input-1-{uuid.uuid4().hex}",
            kind=events_pb2.ApplicationEvent.RECEIVED,
            application_number=f"S2025-{uuid.uuid4().int % 10**6:06d}1",
            program_id=PROGRAM,
            received_on="2025-06-10",
            channel=common_pb2.ONLINE,
        ),
        ids=("event_id", "application_number", "program_id"),
        dates=("received_on",),
    ),
)


def _set(message: Message, path: str, value: str) -> None:
    """Set `items[0].field`-style paths."""
    target: Any = message
    *parents, last = path.split(".")
    for part in parents:
        match = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        assert match, part
        target = getattr(target, match[1])[int(match[2])]
    setattr(target, last, value)


def _get(message: Message, path: str) -> str:
    target: Any = message
    *parents, last = path.split(".")
    for part in parents:
        match = re.fullmatch(r"(\w+)\[(\d+)\]", part)
        assert match, part
        target = getattr(target, match[1])[int(match[2])]
    return str(getattr(target, last))


def id_variants(good: str) -> dict[str, str]:
    """Bad forms of a good identifier: too long, NUL, Unicode digits, spaces."""
    digits = good if re.search(r"\d", good) else f"{good}1"
    return {
        "megabyte": "A" * MIB,
        "nul": f"{good}\x00",
        "nul-inside": f"{good[:3]}\x00{good[3:]}",
        "fullwidth-digits": digits.translate(FULLWIDTH),
        "arabic-indic-digits": digits.translate(ARABIC_INDIC),
        "leading-space": f" {good}",
        "trailing-space": f"{good} ",
        "ideographic-space": f"{good[:3]}\u3000{good[3:]}",
        "no-break-space": f"{good}\u00a0",
        "newline": f"{good}\n",
    }


def text_variants(good: str) -> dict[str, str]:
    return {"megabyte": "x" * MIB, "nul": f"{good or '入力'}\x00の検査"}


def date_variants() -> dict[str, str]:
    return {"megabyte": "2" * MIB, "nul": "2026-01-10\x00", "nul-only": "\x00"}


def _caller(intake: Client, target: Target, stub: Any, service_stub: Any) -> tuple[Any, Any]:
    if target.caller.startswith("service:"):
        return service_stub, ()
    login = CHECKER if target.caller == "checker" else f"input-{target.caller}"
    return stub, intake.staff(target.caller, login)


def _refusal(stub: Any, method: str, request: Message, metadata: Any) -> grpc.RpcError:
    try:
        getattr(stub, method)(request, metadata=metadata, timeout=60)
    except grpc.RpcError as error:
        return error
    raise AssertionError(f"{method} accepted bad input")


FIELD_CASES = [
    pytest.param(target, field, kind, id=f"{target.label}-{field}")
    for target in TARGETS
    for kind, fields in (("id", target.ids), ("text", target.texts), ("date", target.dates))
    for field in fields
]


@pytest.mark.parametrize(("target", "field", "kind"), FIELD_CASES)
def test_a_bad_string_is_invalid_argument_naming_the_field_and_writes_nothing(
    intake: Client,
    stub: Any,
    service_stub: Any,
    cases: Cases,
    admin_engine: Engine,
    target: Target,
    field: str,
    kind: str,
) -> None:
    good = _get(target.build(cases), field)
    variants = (
        id_variants(good)
        if kind == "id"
        else text_variants(good)
        if kind == "text"
        else date_variants()
    )
    target_stub, metadata = _caller(intake, target, stub, service_stub)
    before = snapshot(admin_engine, cases)
    outcome: dict[str, Any] = {}
    for variant, value in variants.items():
        request = target.build(cases)
        _set(request, field, value)
        error = _refusal(target_stub, target.rpc, request, metadata)
        named = [v.field for v in field_violations(error)]
        outcome[variant] = (error.code(), named)
        details = error.details() or ""
        assert value not in details or len(value) < 2
        assert "\x00" not in details
    expected = {v: (grpc.StatusCode.INVALID_ARGUMENT, [field]) for v in variants}
    assert outcome == expected
    assert snapshot(admin_engine, cases) == before


def test_a_page_token_hiding_a_nul_or_a_megabyte_is_invalid_argument(
    intake: Client, stub: Any, cases: Cases, admin_engine: Engine
) -> None:
    forged = {
        "nul-number": "2025-06-10|S2025\x00000001",
        "long-number": "2025-06-10|" + "9" * 300,
        "unicode-number": "2025-06-10|S２０２５-000001",
        "bad-date": "2025-13-40|S2025-000001",
        "no-separator": "2025-06-10",
    }
    before = snapshot(admin_engine, cases)
    outcome = {}
    for name, raw in forged.items():
        token = base64.urlsafe_b64encode(raw.encode()).decode()
        error = _refusal(
            stub,
            "ListWorklist",
            review_pb2.ListWorklistRequest(program_id=PROGRAM, page_token=token),
            intake.staff("checker", CHECKER),
        )
        outcome[name] = (error.code(), [v.field for v in field_violations(error)])
    assert outcome == {n: (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"]) for n in forged}
    assert snapshot(admin_engine, cases) == before


def test_health_answers_while_megabyte_requests_are_in_flight(
    intake: Client, review: ServiceProcess, stub: Any, cases: Cases
) -> None:
    who = intake.staff("checker", CHECKER)
    calls = [
        stub.GetCheck.future(
            review_pb2.GetCheckRequest(application_number=cases.received, purpose="x" * MIB),
            metadata=who,
            timeout=60,
        )
        for _ in range(24)
    ] + [
        stub.RequestCorrection.future(
            review_pb2.RequestCorrectionRequest(
                request_id=_rid(),
                application_number=cases.received,
                items=[events_pb2.CorrectionItem(field="receipt", problem="y" * MIB)],
            ),
            metadata=who,
            timeout=60,
        )
        for _ in range(8)
    ]
    with staff_channel(intake.environment.pki, review.address, CONSOLE) as channel:
        started = time.monotonic()
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        waited = time.monotonic() - started
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert waited < 5
    codes = []
    for call in calls:
        try:
            call.result()
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as error:
            codes.append(error.code())
    assert set(codes) == {grpc.StatusCode.INVALID_ARGUMENT}


@pytest.mark.parametrize(
    ("rpc", "caller", "build", "field"),
    [
        pytest.param(
            "ListWorklist",
            "checker",
            lambda c: review_pb2.ListWorklistRequest(program_id=PROGRAM, filter=99),  # type: ignore[arg-type]
            "filter",
            id="worklist-filter-99",
        ),
        pytest.param(
            "DecideApplication",
            "ward_officer",
            lambda c: review_pb2.DecideRequest(
                request_id=_rid(),
                application_number=c.checked,
                verdict=review_pb2.DECISION_VERDICT_REFUSE,
                reasons=[999],  # type: ignore[list-item]
            ),
            "reasons",
            id="decide-reasons-999",
        ),
        pytest.param(
            "DecideApplication",
            "ward_officer",
            lambda c: review_pb2.DecideRequest(
                request_id=_rid(),
                application_number=c.checked,
                verdict=review_pb2.DECISION_VERDICT_REFUSE,
                reasons=[common_pb2.NOT_RESIDENT, -7],  # type: ignore[list-item]
            ),
            "reasons",
            id="decide-reasons-negative",
        ),
        pytest.param(
            "DecideApplication",
            "ward_officer",
            lambda c: review_pb2.DecideRequest(
                request_id=_rid(),
                application_number="S2025-999997",
                verdict=review_pb2.DECISION_VERDICT_REFUSE,
                reasons=[999],  # type: ignore[list-item]
            ),
            "reasons",
            id="decide-reasons-999-unknown-application",
        ),
        pytest.param(
            "ApplicationChanged",
            "service:intake",
            lambda c: events_pb2.ApplicationEvent(
                event_id=f"input-enum-{uuid.uuid4().hex}",
                kind=99,  # type: ignore[arg-type]
                application_number="S2025-9999961",
                program_id=PROGRAM,
                received_on="2025-06-10",
                channel=common_pb2.ONLINE,
            ),
            "kind",
            id="event-kind-99",
        ),
        pytest.param(
            "ApplicationChanged",
            "service:intake",
            lambda c: events_pb2.ApplicationEvent(
                event_id=f"input-enum-{uuid.uuid4().hex}",
                kind=events_pb2.ApplicationEvent.RECEIVED,
                application_number="S2025-9999962",
                program_id=PROGRAM,
                received_on="2025-06-10",
                channel=77,  # type: ignore[arg-type]
            ),
            "channel",
            id="event-channel-77",
        ),
        pytest.param(
            "ApplicationChanged",
            "service:intake",
            lambda c: events_pb2.ApplicationEvent(
                event_id=f"input-enum-{uuid.uuid4().hex}",
                kind=events_pb2.ApplicationEvent.RECEIVED,
                application_number="S2025-9999963",
                program_id=PROGRAM,
                received_on="2025-06-10",
                channel=common_pb2.ONLINE,
                duplicates=[
                    common_pb2.DuplicateFlag(
                        other_application_number=c.received,
                        evidence=999,  # type: ignore[arg-type]
                    )
                ],
            ),
            "duplicates.evidence",
            id="event-evidence-999",
        ),
        pytest.param(
            "ApplicationChanged",
            "service:intake",
            lambda c: events_pb2.ApplicationEvent(
                event_id=f"input-enum-{uuid.uuid4().hex}",
                kind=events_pb2.ApplicationEvent.RECEIVED,
                application_number="S2025-9999962",
                program_id=PROGRAM,
                received_on="2025-06-10",
                channel=common_pb2.ONLINE,
                duplicates=[
                    common_pb2.DuplicateFlag(
                        other_application_number=c.received,
                        evidence=common_pb2.REASON_CODE_UNSPECIFIED,
                    )
                ],
            ),
            "duplicates.evidence",
            id="event-evidence-unspecified",
        ),
        pytest.param(
            "ApplicationChanged",
            "service:intake",
            lambda c: events_pb2.ApplicationEvent(
                event_id=f"input-enum-{uuid.uuid4().hex}",
                kind=events_pb2.ApplicationEvent.RECEIVED,
                application_number="S2025-9999961",
                program_id=PROGRAM,
                received_on="2025-06-10",
                channel=common_pb2.ONLINE,
                duplicates=[
                    common_pb2.DuplicateFlag(
                        other_application_number=c.received, evidence=common_pb2.CAPPED
                    )
                ],
            ),
            "duplicates.evidence",
            id="event-evidence-not-an-evidence-code",
        ),
    ],
)
def test_an_enum_value_out_of_range_is_invalid_argument(
    intake: Client,
    stub: Any,
    service_stub: Any,
    cases: Cases,
    admin_engine: Engine,
    rpc: str,
    caller: str,
    build: Callable[[Cases], Message],
    field: str,
) -> None:
    target = Target(rpc, caller, build)
    target_stub, metadata = _caller(intake, target, stub, service_stub)
    before = snapshot(admin_engine, cases)
    error = _refusal(target_stub, rpc, build(cases), metadata)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert [v.field for v in field_violations(error)] == [field]
    assert snapshot(admin_engine, cases) == before


def test_amounts_and_counts_out_of_range_are_invalid_argument(
    intake: Client, stub: Any, cases: Cases, admin_engine: Engine
) -> None:
    ward = intake.staff("ward_officer", "input-ward")
    checker = intake.staff("checker", CHECKER)

    def decide(number: str, granted: bool, amount: int) -> review_pb2.DecideRequest:
        reasons = [] if granted else [common_pb2.NOT_RESIDENT]
        return review_pb2.DecideRequest(
            request_id=_rid(),
            application_number=number,
            verdict=(
                review_pb2.DECISION_VERDICT_GRANT if granted else review_pb2.DECISION_VERDICT_REFUSE
            ),
            amount=amount,
            reasons=reasons,
        )

    bad: list[tuple[str, Message, Any, str]] = [
        ("DecideApplication", decide(cases.checked, True, -1), ward, "amount"),
        ("DecideApplication", decide(cases.checked, True, 0), ward, "amount"),
        ("DecideApplication", decide(cases.checked, True, cases.rules_amount + 1), ward, "amount"),
        ("DecideApplication", decide(cases.checked, True, 2**62), ward, "amount"),
        ("DecideApplication", decide(cases.checked, True, -(2**63)), ward, "amount"),
        ("DecideApplication", decide(cases.checked, False, -1), ward, "amount"),
        ("DecideApplication", decide("S2025-999995", True, -1), ward, "amount"),
        (
            "ClaimApplication",
            review_pb2.ClaimRequest(application_number=cases.received, minutes=-1),
            checker,
            "minutes",
        ),
        (
            "ClaimApplication",
            review_pb2.ClaimRequest(application_number=cases.received, minutes=2**31 - 1),
            checker,
            "minutes",
        ),
        (
            "ListWorklist",
            review_pb2.ListWorklistRequest(program_id=PROGRAM, page_size=-1),
            checker,
            "page_size",
        ),
        (
            "ListWorklist",
            review_pb2.ListWorklistRequest(program_id=PROGRAM, page_size=100_000),
            checker,
            "page_size",
        ),
        (
            "ExportForWard",
            review_pb2.ExportForWardRequest(request_id=_rid(), program_id=PROGRAM, limit=-1),
            ward,
            "limit",
        ),
    ]
    before = snapshot(admin_engine, cases)
    outcome = []
    for rpc, request, metadata, field in bad:
        error = _refusal(stub, rpc, request, metadata)
        outcome.append((rpc, field, error.code(), [v.field for v in field_violations(error)]))
    assert outcome == [
        (rpc, field, grpc.StatusCode.INVALID_ARGUMENT, [field]) for rpc, _, _, field in bad
    ]
    assert snapshot(admin_engine, cases) == before


def test_bad_input_is_refused_before_the_application_is_looked_up(
    intake: Client, stub: Any, cases: Cases, admin_engine: Engine
) -> None:
    """Validation comes before any work: with an application review does not have, a bad
    field is still INVALID_ARGUMENT naming it (not NOT_FOUND)."""
    unknown = "S2025-999993"
    checker, ward = intake.staff("checker", CHECKER), intake.staff("ward_officer", "input-ward")
    bad: list[tuple[str, Message, Any, str]] = [
        (
            "GetCheck",
            review_pb2.GetCheckRequest(application_number=unknown, purpose="x" * MIB),
            checker,
            "purpose",
        ),
        (
            "GetCheck",
            review_pb2.GetCheckRequest(application_number=unknown),
            checker,
            "purpose",
        ),
        (
            "GetDuplicateGroup",
            review_pb2.GetDuplicateGroupRequest(application_number=unknown, purpose="a\x00b"),
            checker,
            "purpose",
        ),
        (
            "RecordCheck",
            review_pb2.RecordCheckRequest(
                request_id=_rid(), application_number=unknown, note="x" * MIB
            ),
            checker,
            "note",
        ),
        (
            "RecordCheck",
            review_pb2.RecordCheckRequest(
                request_id=_rid(), application_number=unknown, confirmed=["x" * MIB]
            ),
            checker,
            "confirmed[0]",  # a megabyte: the platform's bounds name the element
        ),
        (
            "ResolveDuplicates",
            review_pb2.ResolveDuplicatesRequest(
                request_id=_rid(), application_number=unknown, clear_reason="a\x00b"
            ),
            checker,
            "clear_reason",
        ),
        (
            "ResolveDuplicates",
            review_pb2.ResolveDuplicatesRequest(
                request_id=_rid(), application_number=unknown, keep="A" * MIB
            ),
            checker,
            "keep",
        ),
        (
            "RequestCorrection",
            review_pb2.RequestCorrectionRequest(
                request_id=_rid(),
                application_number=unknown,
                items=[events_pb2.CorrectionItem(field="receipt", problem="x" * MIB)],
            ),
            checker,
            "items[0].problem",
        ),
        (
            "RequestCorrection",
            review_pb2.RequestCorrectionRequest(
                request_id=_rid(),
                application_number=unknown,
                items=[_correction_item()],
                deadline="2" * MIB,
            ),
            checker,
            "deadline",
        ),
        (
            "ExtendCorrectionDeadline",
            review_pb2.ExtendDeadlineRequest(
                request_id=_rid(), application_number=unknown, deadline="\x00"
            ),
            checker,
            "deadline",
        ),
        (
            "DecideApplication",
            review_pb2.DecideRequest(
                request_id=_rid(),
                application_number=unknown,
                verdict=review_pb2.DECISION_VERDICT_GRANT,
                amount=1000,
                note="x" * MIB,
            ),
            ward,
            "note",
        ),
        (
            "DecideApplication",
            review_pb2.DecideRequest(
                request_id=_rid(),
                application_number=unknown,
                verdict=review_pb2.DECISION_VERDICT_GRANT,
                amount=1000,
                reduction_reason="a\x00b",
            ),
            ward,
            "reduction_reason",
        ),
    ]
    before = snapshot(admin_engine, cases)
    outcome = []
    for rpc, request, metadata, field in bad:
        error = _refusal(stub, rpc, request, metadata)
        outcome.append((rpc, field, error.code(), [v.field for v in field_violations(error)]))
    assert outcome == [
        (rpc, field, grpc.StatusCode.INVALID_ARGUMENT, [field]) for rpc, _, _, field in bad
    ]
    assert snapshot(admin_engine, cases) == before


LONG = "S2025-" + "7" * 40  # a well-formed id longer than any application number (32)
SHORT = "S2025-999994"


def _by_number(number: str) -> list[tuple[str, str, Message]]:
    return [
        ("ClaimApplication", "checker", review_pb2.ClaimRequest(application_number=number)),
        ("ReleaseClaim", "checker", review_pb2.ClaimRequest(application_number=number)),
        (
            "GetCheck",
            "checker",
            review_pb2.GetCheckRequest(application_number=number, purpose="検査"),
        ),
        (
            "RecordCheck",
            "checker",
            review_pb2.RecordCheckRequest(request_id=_rid(), application_number=number),
        ),
        (
            "GetDuplicateGroup",
            "checker",
            review_pb2.GetDuplicateGroupRequest(application_number=number, purpose="検査"),
        ),
        (
            "ResolveDuplicates",
            "checker",
            review_pb2.ResolveDuplicatesRequest(
                request_id=_rid(), application_number=number, clear_reason="別人"
            ),
        ),
        (
            "ResolveDuplicates",
            "checker",
            review_pb2.ResolveDuplicatesRequest(
                request_id=_rid(), application_number=number, keep=number
            ),
        ),
        (
            "RequestCorrection",
            "checker",
            review_pb2.RequestCorrectionRequest(
                request_id=_rid(), application_number=number, items=[_correction_item()]
            ),
        ),
        (
            "ExtendCorrectionDeadline",
            "checker",
            review_pb2.ExtendDeadlineRequest(request_id=_rid(), application_number=number),
        ),
        ("GetCase", "call_center", review_pb2.GetCaseRequest(application_number=number)),
        (
            "DecideApplication",
            "ward_officer",
            review_pb2.DecideRequest(
                request_id=_rid(),
                application_number=number,
                verdict=review_pb2.DECISION_VERDICT_GRANT,
                amount=1000,
            ),
        ),
        (
            "ApproveReducedGrant",
            "ward_officer",
            review_pb2.ApproveReducedGrantRequest(
                request_id=_rid(),
                application_number=number,
                verdict=review_pb2.REDUCTION_VERDICT_APPROVE,
            ),
        ),
    ]


@pytest.mark.parametrize("number", [SHORT, LONG], ids=["short", "longer-than-32"])
def test_an_unknown_application_is_not_found_without_repeating_a_long_number(
    intake: Client, stub: Any, cases: Cases, admin_engine: Engine, number: str
) -> None:
    before = snapshot(admin_engine, cases)
    outcome = {}
    for index, (rpc, role, request) in enumerate(_by_number(number)):
        error = _refusal(stub, rpc, request, intake.staff(role, f"input-{role}"))
        details = error.details() or ""
        outcome[(index, rpc)] = error.code()
        if len(number) > 32:
            assert number[:32] not in details, (rpc, details)
            assert "7" * 20 not in details, (rpc, details)
    assert set(outcome.values()) == {grpc.StatusCode.NOT_FOUND}, outcome
    assert snapshot(admin_engine, cases) == before
