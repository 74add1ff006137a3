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
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intake_support import PROGRAM, Client, record
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy_intake.convert import record_to_proto
from subsidy_intake.logo_csv import mapping_for, to_logo_csv

from subsidy_platform.errors import field_violations

MIB = 1024 * 1024
EXAMPLES = 30
# The server runs in this process: its threads (and the health probe's) may use the random
# module while hypothesis draws a value, which hypothesis reports as if a strategy had.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
CLEAR = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
}
SERVICE = intake_pb2.DESCRIPTOR.services_by_name["IntakeService"]
WRITES = (
    "SELECT count(*) FROM intake.applications",
    "SELECT count(*) FROM intake.blind_indexes",
    "SELECT count(*) FROM intake.duplicate_flags",
    "SELECT count(*) FROM intake.inquiries",
    "SELECT count(*) FROM intake.paper_keyings",
    "SELECT count(*) FROM intake.corrections",
    "SELECT count(*) FROM intake.imports",
    "SELECT count(*) FROM intake.outbox",
    # review's own reports (request ids review-...) may arrive at any time from its outbox
    "SELECT count(*) FROM intake.status_events WHERE coalesce(request_id, '') NOT LIKE 'review-%'",
    # review's reads through intake are audited under its service identity
    "SELECT count(*) FROM audit.events WHERE service = 'intake' AND actor NOT LIKE 'service:%'",
)


def writes(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as connection:
        return tuple(int(connection.execute(text(sql)).scalar_one()) for sql in WRITES)


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


# --- the request descriptors, walked -------------------------------------------------------

Path = tuple[str, ...]
FUZZED = (
    FieldDescriptor.TYPE_STRING,
    FieldDescriptor.TYPE_ENUM,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_INT32,
)


def _repeated(descriptor: FieldDescriptor) -> bool:
    return bool(descriptor.is_repeated)


def leaf_paths(descriptor: Descriptor, prefix: Path = (), depth: int = 0) -> Iterator[Path]:
    """Every string, enum and integer field reachable from a message type (by field names)."""
    for child in descriptor.fields:
        path = (*prefix, child.name)
        if child.type == FieldDescriptor.TYPE_MESSAGE:
            if depth < 4:
                yield from leaf_paths(child.message_type, path, depth + 1)
        elif child.type in FUZZED:
            yield path


def set_path(message: Message, path: Path, value: Any) -> None:
    """Set one leaf (the first element of a repeated message or scalar on the way)."""
    target: Any = message
    for name in path[:-1]:
        child = target.DESCRIPTOR.fields_by_name[name]
        value_of = getattr(target, name)
        if _repeated(child):
            target = value_of[0] if len(value_of) else value_of.add()
        else:
            target = value_of
    leaf = target.DESCRIPTOR.fields_by_name[path[-1]]
    if _repeated(leaf):
        container = getattr(target, path[-1])
        del container[:]
        container.append(value)
    else:
        setattr(target, path[-1], value)


def leaf_type(descriptor: Descriptor, path: Path) -> int:
    current = descriptor
    for name in path[:-1]:
        current = current.fields_by_name[name].message_type
    return int(current.fields_by_name[path[-1]].type)


# --- generated values ----------------------------------------------------------------------

CHARACTERS = st.characters(blacklist_categories=("Cs",))  # any code point but surrogates
HOSTILE_CHARACTERS = st.sampled_from(
    [
        *("\x00", "\x01", "\x1f", "\x7f", "\x85", "\u2028", "\ufeff", "\u202e", "\t", "\n", "\r"),
        *"٣३০๓０",  # digits of other scripts, and a full-width one
        *("=", "'", '"', "\\", "/", "%", "🙂", "𠮷", " ", "\u3000"),
    ]
)
LENGTHS = st.sampled_from([1, 2, 10, 31, 32, 33, 64, 65, 100, 101, 128, 129, 200, 201, 255,
                           256, 2000, 2001, 4096, 65536, 131073, MIB])  # fmt: skip


@st.composite
def hostile_text(draw: st.DrawFn) -> str:
    """Short arbitrary text (one time in four), or a seed repeated to a chosen length, most
    often with a hostile character placed somewhere."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.text(CHARACTERS, max_size=40))
    seed = draw(st.text(st.one_of(CHARACTERS, HOSTILE_CHARACTERS), min_size=1, max_size=6))
    length = draw(LENGTHS)
    value = (seed * (length // len(seed) + 1))[:length]
    if draw(st.integers(0, 3)) > 0:
        at = draw(st.integers(0, len(value)))
        value = value[:at] + draw(HOSTILE_CHARACTERS) + value[at:]
    return value


def values_for(kind: int) -> st.SearchStrategy[Any]:
    if kind == FieldDescriptor.TYPE_STRING:
        return hostile_text()
    if kind == FieldDescriptor.TYPE_ENUM or kind == FieldDescriptor.TYPE_INT32:
        return st.one_of(st.integers(-3, 20), st.integers(-(2**31), 2**31 - 1))
    return st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.sampled_from([-1, 0, 10_000_000, 10_000_001, 100_000_001, 10**15]),
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
    role: str  # a staff role, or "service:review"
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


class HealthProbe:
    """Asks the server's health every 0.2 s on its own channel while the calls run."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.failures: list[str] = []
        self.answers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.client.channel() as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while not self._stop.is_set():
                try:
                    answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                    if answer.status != health_pb2.HealthCheckResponse.SERVING:
                        self.failures.append(f"status {answer.status}")
                    self.answers += 1
                except grpc.RpcError as error:
                    self.failures.append(error.code().name)
                self._stop.wait(0.2)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def call(client: Client, target: Target, request: Message, upload: bytes) -> grpc.StatusCode:
    """The status code of one call (OK or the error's), raising on nothing."""
    as_review = target.role == "service:review"
    metadata = () if as_review else client.staff(target.role, "hostile-" + target.role)
    with client.stub("review") if as_review else client.stub() as stub:
        method = getattr(stub, target.rpc)
        try:
            if target.streamed:
                parts = iter([request, intake_pb2.ImportLogoCsvRequest(chunk=upload)])
                method(parts, metadata=metadata, timeout=60)
            else:
                method(request, metadata=metadata, timeout=60)
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            details = error.details() or ""
            violations = field_violations(error)
            assert code in CLEAR, f"{target.rpc}: {code.name} {details[:200]}"
            said = details + "".join(v.field + v.description for v in violations)
            assert len(said) < 1000, f"{target.rpc}: a long message ({len(said)} characters)"
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                assert violations, f"{target.rpc}: INVALID_ARGUMENT without field violations"
            return code
    return grpc.StatusCode.OK


def healthy(client: Client) -> bool:
    with client.channel() as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


@pytest.mark.parametrize("target", TARGETS, ids=[t.rpc for t in TARGETS])
def test_hostile_values_in_any_field_get_a_clear_answer_and_write_nothing_on_error(
    intake: Client, admin_engine: Engine, numbers: Numbers, upload: bytes, target: Target
) -> None:
    descriptor = _input(target)
    seen: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def one_call(data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(target.paths), label="field")
        value = data.draw(values_for(leaf_type(descriptor, path)), label="value")
        request = target.build(numbers)
        set_path(request, path, value)
        before = writes(admin_engine)
        code = call(intake, target, request, upload)
        seen[code.name] = seen.get(code.name, 0) + 1
        if code != grpc.StatusCode.OK:
            assert writes(admin_engine) == before, f"{target.rpc} {'.'.join(path)}: {code.name}"
        assert healthy(intake)

    with HealthProbe(intake) as probe:
        started = time.monotonic()
        one_call()
    assert probe.failures == [], probe.failures
    assert probe.answers >= 1 or time.monotonic() - started < 0.2
    assert healthy(intake)
    assert sum(seen.values()) >= EXAMPLES // 2
