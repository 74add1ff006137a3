"""Calls between services (ServiceClients.call): a deadline on every call, UNAVAILABLE retried
with back-off only when the call is idempotent, any other status raised at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from subsidy_platform.clients import (
    DEFAULT_DEADLINE,
    RETRY_ATTEMPTS,
    RETRY_FIRST_BACKOFF,
    ServiceClients,
    service_addresses,
)
from subsidy_platform.errors import DependencyUnavailable
from subsidy_platform.tls import Pki


class FakeRpcError(grpc.RpcError, grpc.Call):
    """What a failed stub call raises: an RpcError that is also a grpc.Call with a code."""

    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code.name)
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._code.name

    def initial_metadata(self) -> tuple[()]:
        return ()

    def trailing_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float:
        return 0.0

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


class FakeMethod:
    """A stub method failing with `codes` in turn, then answering; it records every call."""

    def __init__(self, *codes: grpc.StatusCode) -> None:
        self.codes = list(codes)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, request: str, **options: Any) -> str:
        self.calls.append({"request": request, **options})
        if self.codes:
            raise FakeRpcError(self.codes.pop(0))
        return f"answer to {request}"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off pauses taken, instead of sleeping."""
    taken: list[float] = []
    monkeypatch.setattr(time, "sleep", taken.append)
    return taken


@pytest.fixture
def service_clients(tmp_path: Path) -> ServiceClients:
    return ServiceClients(Pki(tmp_path), "review", {"intake": "127.0.0.1:50051"})


def test_an_answer_is_returned_with_the_default_deadline(
    service_clients: ServiceClients, sleeps: list[float]
) -> None:
    method = FakeMethod()
    assert service_clients.call(method, "ping", idempotent=False) == "answer to ping"
    assert method.calls == [{"request": "ping", "timeout": DEFAULT_DEADLINE, "metadata": ()}]
    assert sleeps == []


def test_the_timeout_and_metadata_are_passed_to_every_attempt(
    service_clients: ServiceClients, sleeps: list[float]
) -> None:
    method = FakeMethod(grpc.StatusCode.UNAVAILABLE)
    metadata = (("idempotency-key", "k-1"),)
    service_clients.call(method, "ping", idempotent=True, timeout=2.5, metadata=metadata)
    assert [(c["timeout"], c["metadata"]) for c in method.calls] == [(2.5, metadata)] * 2


def test_an_idempotent_call_is_retried_while_the_peer_is_unavailable(
    service_clients: ServiceClients, sleeps: list[float]
) -> None:
    method = FakeMethod(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE)
    assert service_clients.call(method, "ping", idempotent=True) == "answer to ping"
    assert len(method.calls) == 3
    assert sleeps == [RETRY_FIRST_BACKOFF, RETRY_FIRST_BACKOFF * 2]


def test_an_idempotent_call_gives_up_after_the_last_attempt_as_dependency_unavailable(
    service_clients: ServiceClients, sleeps: list[float]
) -> None:
    method = FakeMethod(*[grpc.StatusCode.UNAVAILABLE] * RETRY_ATTEMPTS)
    with pytest.raises(DependencyUnavailable) as raised:
        service_clients.call(method, "ping", idempotent=True)
    assert len(method.calls) == RETRY_ATTEMPTS
    assert isinstance(raised.value.__cause__, FakeRpcError)
    assert sleeps == [RETRY_FIRST_BACKOFF * 2**n for n in range(RETRY_ATTEMPTS - 1)]


def test_a_call_that_is_not_idempotent_is_never_retried(
    service_clients: ServiceClients, sleeps: list[float]
) -> None:
    method = FakeMethod(grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(DependencyUnavailable):
        service_clients.call(method, "ping", idempotent=False)
    assert len(method.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
    ],
)
def test_any_other_status_is_raised_at_once_without_a_retry(
    service_clients: ServiceClients, sleeps: list[float], code: grpc.StatusCode
) -> None:
    method = FakeMethod(code)
    with pytest.raises(FakeRpcError) as raised:
        service_clients.call(method, "ping", idempotent=True)
    assert raised.value.code() == code
    assert len(method.calls) == 1
    assert sleeps == []


def test_an_rpc_error_without_a_status_code_is_raised_without_a_retry(
    service_clients: ServiceClients, sleeps: list[float]
) -> None:
    calls: list[str] = []

    def broken(request: str, **options: Any) -> str:
        calls.append(request)
        raise grpc.RpcError("no status")

    with pytest.raises(grpc.RpcError):
        service_clients.call(broken, "ping", idempotent=True)
    assert calls == ["ping"]
    assert sleeps == []


def test_an_unknown_peer_has_no_address(service_clients: ServiceClients) -> None:
    assert service_clients.address("intake") == "127.0.0.1:50051"
    with pytest.raises(LookupError):
        service_clients.address("payments")


def test_peer_addresses_come_from_the_environment_with_the_declared_ports_as_default() -> None:
    addresses = service_addresses({"INTAKE_ADDRESS": "intake.subsidy.svc:50051"})
    assert addresses["intake"] == "intake.subsidy.svc:50051"
    assert addresses["review"] == "127.0.0.1:50052"
    assert addresses["auth"] == "127.0.0.1:50050"
