"""Every string, bytes and repeated field of every RPC of every service, fuzzed
deterministically (issue 19): a megabyte value, a 100,000-element list.

The request descriptors of each process's RPCs (its role table, the maintenance RPCs,
health and reflection; the sign-in service's three services) are walked a few levels deep;
for each RPC and each string, bytes or repeated field path, one call sends a request that is
empty but for that field: a 1 MiB value (a string or bytes field, the first element of a
repeated one) or a list of 100,000 elements (a repeated field). Each call is made as a
caller its RPC's table admits (a staff role's token, another service's certificate, or no
credentials for public RPCs), so the bounds, not the access table, answer.

Every answer is a clear code, never INTERNAL or UNKNOWN; a field whose bound is below what
was sent is INVALID_ARGUMENT naming that field (subsidy_platform.message_bounds); no answer
repeats the value sent; and each process answers health throughout (a probe every 0.2 s on
its own channel) and after. Fields whose bound admits a megabyte (a LoGo CSV chunk, a
decision file, a bank's return file) reach their use case, which must answer clearly too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from hostile_support import Answer, HealthProbe, answer_of, echoes, healthy
from intake_support import Client
from subsidy.audit.v1 import audit_pb2  # noqa: F401 - puts its services in the pool
from subsidy.auth.v1 import admin_pb2, auth_pb2  # noqa: F401
from subsidy.intake.v1 import intake_pb2
from subsidy.maintenance.v1 import maintenance_pb2  # noqa: F401
from subsidy.notices.v1 import notices_pb2  # noqa: F401
from subsidy.payments.v1 import payments_pb2  # noqa: F401
from subsidy.review.v1 import review_pb2  # noqa: F401

from subsidy_platform import auth_main
from subsidy_platform.access import PUBLIC, ROLES, SERVICE_PREFIX
from subsidy_platform.declaration import declaration, declarations
from subsidy_platform.maintenance import MAINTENANCE_BOUNDS, MAINTENANCE_TABLE
from subsidy_platform.message_bounds import MessageBounds, bounds_of
from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import CONSOLE
from subsidy_platform.tls import channel_credentials

MIB = 1024 * 1024
LIST = 100_000
DEPTH = 3
PATTERN = "Zq7-bounds-"
TEXT = (PATTERN * (MIB // len(PATTERN) + 1))[:MIB]
ALWAYS = (
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
)
CLEAR = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)
Path = tuple[str, ...]


# --- the cases, from the descriptors ----------------------------------------------------------


def method_of(full: str) -> MethodDescriptor:
    service, _, name = full.removeprefix("/").partition("/")
    found: MethodDescriptor = (
        descriptor_pool.Default().FindServiceByName(service).methods_by_name[name]
    )
    return found


def fuzzed_paths(descriptor: Descriptor, prefix: Path = (), depth: int = 0) -> Iterator[Path]:
    """Every string, bytes and repeated field reachable within DEPTH nested messages."""
    for child in descriptor.fields:
        path = (*prefix, child.name)
        if child.is_repeated or child.type in (
            FieldDescriptor.TYPE_STRING,
            FieldDescriptor.TYPE_BYTES,
        ):
            yield path
        if child.type == FieldDescriptor.TYPE_MESSAGE and depth < DEPTH:
            entry = child.message_type.GetOptions().map_entry
            if not entry:
                yield from fuzzed_paths(child.message_type, path, depth + 1)


def leaf_of(descriptor: Descriptor, path: Path) -> FieldDescriptor:
    current = descriptor
    for name in path[:-1]:
        current = current.fields_by_name[name].message_type
    return current.fields_by_name[path[-1]]


@dataclass(frozen=True)
class Case:
    method: str
    path: Path
    as_list: bool  # a 100,000-element list (else a megabyte value)

    @property
    def id(self) -> str:
        return (
            f"{self.method.rsplit('/', 1)[1]}:{'.'.join(self.path)}{'[*]' if self.as_list else ''}"
        )


def cases_of(methods: list[str]) -> list[Case]:
    found = []
    for method in methods:
        descriptor = method_of(method).input_type
        for path in fuzzed_paths(descriptor):
            leaf = leaf_of(descriptor, path)
            if leaf.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
                found.append(Case(method, path, False))
            if leaf.is_repeated:
                found.append(Case(method, path, True))
    return found


def request_for(case: Case) -> Message:
    """An empty request but for the case's field (first elements made on the way)."""
    descriptor = method_of(case.method).input_type
    request = descriptor_pool_message(descriptor)
    target: Any = request
    for name in case.path[:-1]:
        child = target.DESCRIPTOR.fields_by_name[name]
        value = getattr(target, name)
        target = value.add() if child.is_repeated else value
    leaf = target.DESCRIPTOR.fields_by_name[case.path[-1]]
    container = getattr(target, case.path[-1]) if leaf.is_repeated else None
    if case.as_list:
        assert container is not None
        if leaf.type == FieldDescriptor.TYPE_MESSAGE:
            for _ in range(LIST):
                container.add()
        elif leaf.type == FieldDescriptor.TYPE_STRING:
            container.extend(["x"] * LIST)
        elif leaf.type == FieldDescriptor.TYPE_BYTES:
            container.extend([b"x"] * LIST)
        elif leaf.type == FieldDescriptor.TYPE_BOOL:
            container.extend([True] * LIST)
        else:
            container.extend([1] * LIST)
        return request
    value: str | bytes = TEXT if leaf.type == FieldDescriptor.TYPE_STRING else TEXT.encode()
    if container is not None:
        container.append(value)
    else:
        setattr(target, case.path[-1], value)
    return request


def descriptor_pool_message(descriptor: Descriptor) -> Message:
    from google.protobuf import message_factory

    message: Message = message_factory.GetMessageClass(descriptor)()
    return message


def limit_exceeded(bounds: MessageBounds, case: Case, request: Message) -> bool:
    """Whether the platform's bounds refuse the case's request (else its use case answers)."""
    key = ".".join(case.path)
    leaf = leaf_of(method_of(case.method).input_type, case.path)
    if request.ByteSize() > bounds.max_bytes:
        return True
    if case.as_list:
        return bounds.count(key, False) < LIST
    return bounds.length(key, leaf.type) < MIB


# --- the processes -----------------------------------------------------------------------------


@dataclass
class Process:
    address: str
    roles: dict[str, frozenset[str]]
    bounds: dict[str, MessageBounds]


def process_of(name: str, intake: Client, processes: dict[str, ServiceProcess]) -> Process:
    if name == "auth":
        return Process(processes[name].address, dict(auth_main.TABLE), dict(auth_main.BOUNDS))
    declared = declaration(name)
    return Process(
        processes[name].address,
        {**declared.rpc_roles, **MAINTENANCE_TABLE},
        {**declared.message_bounds, **MAINTENANCE_BOUNDS},
    )


@pytest.fixture(scope="module")
def processes(
    intake: Client,
    review: ServiceProcess,
    payments: ServiceProcess,
    notices: ServiceProcess,
    auth: ServiceProcess,
) -> dict[str, ServiceProcess]:
    return {
        "intake": intake.process,
        "review": review,
        "payments": payments,
        "notices": notices,
        "auth": auth,
    }


def caller(entries: frozenset[str], intake: Client) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(certificate identity, metadata) of a caller the entries admit."""
    staff = sorted(entries & set(ROLES))
    if staff:
        return CONSOLE, intake.tokens.staff(staff[0], f"bounds-{staff[0]}")
    services = sorted(e for e in entries if e.startswith(SERVICE_PREFIX))
    if services:
        return services[0].removeprefix(SERVICE_PREFIX), ()
    assert entries == frozenset({PUBLIC})
    return CONSOLE, ()


def invoke(channel: grpc.Channel, method: str, request: Message, metadata: Any) -> Answer:
    descriptor = method_of(method)
    serialize: Callable[[Message], bytes] = lambda m: m.SerializeToString()  # noqa: E731
    raw: Callable[[bytes], bytes] = lambda b: b  # noqa: E731
    kind = (descriptor.client_streaming, descriptor.server_streaming)
    if kind == (False, False):
        call: Any = channel.unary_unary(method, serialize, raw)
        return answer_of(lambda: call(request, metadata=metadata, timeout=30))
    if kind == (True, False):
        call = channel.stream_unary(method, serialize, raw)
        return answer_of(lambda: call(iter([request]), metadata=metadata, timeout=30))
    if kind == (False, True):
        call = channel.unary_stream(method, serialize, raw)
        return answer_of(lambda: list(call(request, metadata=metadata, timeout=5)))
    call = channel.stream_stream(method, serialize, raw)
    return answer_of(lambda: list(call(iter([request]), metadata=metadata, timeout=5)))


def strip_indices(field: str) -> str:
    return re.sub(r"\[\d+\]", "", field)


PROCESSES = ("intake", "review", "payments", "notices", "auth")


def test_every_installed_service_and_the_sign_in_service_are_fuzzed() -> None:
    assert set(PROCESSES) == {*declarations(), "auth"}


@pytest.mark.parametrize("name", PROCESSES)
def test_every_field_of_every_rpc_takes_a_megabyte_and_a_long_list_with_a_clear_answer(
    intake: Client, processes: dict[str, ServiceProcess], name: str
) -> None:
    process = process_of(name, intake, processes)
    methods = sorted(process.roles) + list(ALWAYS)
    cases = cases_of(methods)
    assert {c.method for c in cases} >= {m for m in process.roles if fuzzed_paths_exist(m)}
    pki = intake.environment.pki
    problems: list[str] = []
    refused_by_bounds = 0
    with ExitStack() as stack:
        probe = stack.enter_context(HealthProbe(process.address, pki))
        channels: dict[str, grpc.Channel] = {}
        for case in cases:
            entries = process.roles.get(case.method, frozenset({PUBLIC}))
            identity, metadata = caller(entries, intake)
            if identity not in channels:
                channels[identity] = stack.enter_context(
                    grpc.secure_channel(process.address, channel_credentials(pki, identity))
                )
            request = request_for(case)
            answer = invoke(channels[identity], case.method, request, metadata)
            said = answer.said
            if answer.code not in CLEAR and not (
                answer.code == grpc.StatusCode.DEADLINE_EXCEEDED and case.method in ALWAYS[1:]
            ):
                problems.append(f"{case.id}: {answer.code.name}")
            if echoes(said, TEXT):
                problems.append(f"{case.id}: the answer repeats the value")
            if limit_exceeded(bounds_of(process.bounds, case.method), case, request):
                refused_by_bounds += 1
                named = {strip_indices(v.field) for v in answer.violations}
                if (
                    answer.code != grpc.StatusCode.INVALID_ARGUMENT
                    or ".".join(case.path) not in named
                ):
                    problems.append(f"{case.id}: {answer.code.name} naming {sorted(named)}")
    assert problems == [], problems
    assert refused_by_bounds >= len(cases) - 1, (refused_by_bounds, len(cases))
    assert probe.failures == [], probe.failures
    assert probe.answers >= 1
    assert healthy(process.address, pki)


def fuzzed_paths_exist(method: str) -> bool:
    return any(True for _ in fuzzed_paths(method_of(method).input_type))


def test_the_violation_names_the_field_and_the_limit_and_never_the_value(
    intake: Client, processes: dict[str, ServiceProcess]
) -> None:
    request = intake_pb2.SearchApplicationsRequest(purpose=TEXT[:9000])
    with grpc.secure_channel(
        processes["intake"].address, channel_credentials(intake.environment.pki, CONSOLE)
    ) as channel:
        answer = invoke(
            channel,
            "/subsidy.intake.v1.IntakeService/SearchApplications",
            request,
            intake.tokens.staff("call_center", "bounds-call_center"),
        )
    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in answer.violations] == [
        ("purpose", "長すぎます（8,192文字まで）")
    ]
    assert PATTERN not in answer.said


def test_a_caller_without_credentials_learns_nothing_of_the_bounds(
    intake: Client, processes: dict[str, ServiceProcess]
) -> None:
    request = intake_pb2.SearchApplicationsRequest(purpose=TEXT)
    with grpc.secure_channel(
        processes["intake"].address, channel_credentials(intake.environment.pki, CONSOLE)
    ) as channel:
        answer = invoke(channel, "/subsidy.intake.v1.IntakeService/SearchApplications", request, ())
    assert answer.code == grpc.StatusCode.UNAUTHENTICATED
    assert field_violations_of(answer) == []


def field_violations_of(answer: Answer) -> list[str]:
    return [v.field for v in answer.violations]
