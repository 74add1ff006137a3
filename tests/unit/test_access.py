"""The RPC x role table and its interceptor, through a real gRPC server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from subsidy_platform.access import (
    ROLES,
    AccessPolicy,
    AuthInterceptor,
    Principal,
    acting_as,
    current_principal,
    rpc_roles,
)
from subsidy_platform.errors import Unauthenticated
from subsidy_platform.tokens import TokenIssuer, TokenVerifier

SERVICE = "test.probe.v1.ProbeService"
TABLE = rpc_roles(
    SERVICE,
    {
        "Who": {"checker", "approver", "service:review"},
        "Count": {"auditor"},
        "Sum": {"operator"},
        "SignIn": {"public"},
    },
)


def who(_request: bytes, _context: grpc.ServicerContext) -> bytes:
    principal = current_principal()
    return f"{principal.subject}|{principal.role}|{principal.kind}".encode()


def count(request: bytes, _context: grpc.ServicerContext) -> Iterator[bytes]:
    for number in range(int(request)):
        yield f"{number}:{current_principal().subject}".encode()


def total(requests: Iterator[bytes], _context: grpc.ServicerContext) -> bytes:
    return f"{sum(int(r) for r in requests)}:{current_principal().role}".encode()


def sign_in(_request: bytes, _context: grpc.ServicerContext) -> bytes:
    return b"welcome"


HANDLERS: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
    "Who": grpc.unary_unary_rpc_method_handler(who),
    "Count": grpc.unary_stream_rpc_method_handler(count),
    "Sum": grpc.stream_unary_rpc_method_handler(total),
    "SignIn": grpc.unary_unary_rpc_method_handler(sign_in),
    "Undeclared": grpc.unary_unary_rpc_method_handler(sign_in),
}


@pytest.fixture(scope="module")
def issuer() -> Iterator[tuple[TokenIssuer, TokenVerifier]]:
    key = Ed25519PrivateKey.generate()
    yield TokenIssuer(key), TokenVerifier(key.public_key())


@pytest.fixture(scope="module")
def channel(issuer: tuple[TokenIssuer, TokenVerifier]) -> Iterator[grpc.Channel]:
    _, verifier = issuer
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[AuthInterceptor(AccessPolicy(TABLE), verifier)],
    )
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, HANDLERS)])
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as open_channel:
        yield open_channel
    server.stop(grace=None)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def call(channel: grpc.Channel, method: str, token: str | None, request: bytes = b"") -> bytes:
    metadata = bearer(token) if token else None
    rpc: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{SERVICE}/{method}")
    return rpc(request, metadata=metadata)


def refusal(channel: grpc.Channel, method: str, token: str | None) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        call(channel, method, token)
    return refused.value


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_call_exactly_what_the_table_allows(
    channel: grpc.Channel, issuer: tuple[TokenIssuer, TokenVerifier], role: str
) -> None:
    token = issuer[0].issue(f"user-{role}", role)
    if role in TABLE[f"/{SERVICE}/Who"]:
        assert call(channel, "Who", token) == f"user-{role}|{role}|staff".encode()
    else:
        error = refusal(channel, "Who", token)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error.details() == "この操作を行う権限がありません"


def test_a_call_without_a_token_is_unauthenticated(channel: grpc.Channel) -> None:
    assert refusal(channel, "Who", None).code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_forged_token_is_unauthenticated(channel: grpc.Channel) -> None:
    forged = TokenIssuer(Ed25519PrivateKey.generate()).issue("mallory", "approver")
    assert refusal(channel, "Who", forged).code() == grpc.StatusCode.UNAUTHENTICATED


def test_an_authorization_header_that_is_not_a_bearer_token_is_unauthenticated(
    channel: grpc.Channel, issuer: tuple[TokenIssuer, TokenVerifier]
) -> None:
    token = issuer[0].issue("tanaka01", "checker")
    rpc: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(f"/{SERVICE}/Who")
    with pytest.raises(grpc.RpcError) as refused:
        rpc(b"", metadata=(("authorization", f"Basic {token}"),))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_method_missing_from_the_table_is_denied_even_to_an_admin(
    channel: grpc.Channel, issuer: tuple[TokenIssuer, TokenVerifier]
) -> None:
    admin = issuer[0].issue("root", "admin")
    for method in ("Undeclared", "DoesNotExist"):
        error = refusal(channel, method, admin)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert refusal(channel, method, None).code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_public_method_needs_no_token(channel: grpc.Channel) -> None:
    assert call(channel, "SignIn", None) == b"welcome"


def test_health_is_public(channel: grpc.Channel) -> None:
    response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_a_service_token_is_allowed_where_the_table_names_that_service(
    channel: grpc.Channel, issuer: tuple[TokenIssuer, TokenVerifier]
) -> None:
    assert call(channel, "Who", issuer[0].issue_for_service("review")) == b"review|service|service"
    other = refusal(channel, "Who", issuer[0].issue_for_service("notices"))
    assert other.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_streaming_response_sees_the_principal_in_every_message(
    channel: grpc.Channel, issuer: tuple[TokenIssuer, TokenVerifier]
) -> None:
    token = issuer[0].issue("suzuki", "auditor")
    rpc: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(f"/{SERVICE}/Count")
    assert list(rpc(b"3", metadata=bearer(token))) == [b"0:suzuki", b"1:suzuki", b"2:suzuki"]
    with pytest.raises(grpc.RpcError) as refused:
        list(rpc(b"3", metadata=bearer(issuer[0].issue("sato", "operator"))))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_streaming_request_sees_the_principal(
    channel: grpc.Channel, issuer: tuple[TokenIssuer, TokenVerifier]
) -> None:
    token = issuer[0].issue("sato", "operator")
    rpc: grpc.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(f"/{SERVICE}/Sum")
    assert rpc(iter([b"1", b"2", b"39"]), metadata=bearer(token)) == b"42:operator"
    with pytest.raises(grpc.RpcError) as refused:
        rpc(iter([b"1"]))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_concurrent_callers_each_see_their_own_principal(
    channel: grpc.Channel, issuer: tuple[TokenIssuer, TokenVerifier]
) -> None:
    tokens = {
        f"user{n}": issuer[0].issue(f"user{n}", ("checker", "approver")[n % 2]) for n in range(16)
    }
    seen: dict[str, bytes] = {}

    def ask(subject: str) -> None:
        seen[subject] = call(channel, "Who", tokens[subject])

    threads = [threading.Thread(target=ask, args=(s,)) for s in tokens for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {s: v.split(b"|")[0].decode() for s, v in seen.items()} == {s: s for s in tokens}


def test_the_principal_is_not_left_behind_outside_a_call() -> None:
    with pytest.raises(Unauthenticated):
        current_principal()
    with acting_as(Principal("batch", "admin", "staff")):
        assert current_principal().role == "admin"
    with pytest.raises(Unauthenticated):
        current_principal()


@pytest.mark.parametrize(
    "table",
    [
        {"/x.v1.S/M": frozenset({"superuser"})},
        {"/x.v1.S/M": frozenset({"public", "admin"})},
        {"/x.v1.S/M": frozenset()},
        {"x.v1.S/M": frozenset({"admin"})},
        {"/x.v1.S/M": frozenset({"service:Bad Name"})},
    ],
)
def test_a_table_with_a_typo_fails_loudly_when_built(table: dict[str, frozenset[str]]) -> None:
    with pytest.raises(ValueError):
        AccessPolicy(table)


def test_the_policy_denies_by_default() -> None:
    policy = AccessPolicy(TABLE)
    admin = Principal("root", "admin", "staff")
    assert policy.allowed("/x.v1.S/Unknown") is None
    assert not policy.permits("/x.v1.S/Unknown", admin)
    assert not policy.permits(f"/{SERVICE}/Who", admin)
    assert policy.permits(f"/{SERVICE}/Who", Principal("review", "service", "service"))
    assert policy.permits("/grpc.health.v1.Health/Check", admin)
    assert policy.methods == frozenset(TABLE)
