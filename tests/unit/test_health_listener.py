"""The kubelet's native gRPC probes reach a plaintext health-only listener (issue 9): it
answers the service's health (NOT_SERVING once the drain starts or while a dependency is
down, the liveness name SERVING while the process runs) and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from subsidy_platform.server import LIVENESS, RunningServer, start_health_listener, start_server


@pytest.fixture
def served() -> Iterator[tuple[RunningServer, int]]:
    running = start_server([], credentials=None, interceptors=[])
    probes, port = start_health_listener(running, "127.0.0.1:0")
    try:
        yield running, port
    finally:
        probes.stop(0)
        running.stop(0)


def check(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(response.status)


def test_the_health_port_answers_in_plaintext_and_follows_the_drain(
    served: tuple[RunningServer, int],
) -> None:
    running, port = served
    assert check(port) == health_pb2.HealthCheckResponse.SERVING
    running.stop(0)
    assert check(port) == health_pb2.HealthCheckResponse.NOT_SERVING


def test_the_health_port_serves_nothing_but_health(served: tuple[RunningServer, int]) -> None:
    _, port = served
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_an_unknown_service_name_is_not_found_on_the_health_port(
    served: tuple[RunningServer, int],
) -> None:
    _, port = served
    with pytest.raises(grpc.RpcError) as unknown:
        check(port, "subsidy.nothing.v1.Nothing")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_dependency_down_turns_readiness_not_serving_but_liveness_stays_serving(
    served: tuple[RunningServer, int],
) -> None:
    running, port = served
    running.set_serving(False)
    assert check(port) == health_pb2.HealthCheckResponse.NOT_SERVING
    assert check(port, LIVENESS) == health_pb2.HealthCheckResponse.SERVING
    running.set_serving(True)
    assert check(port) == health_pb2.HealthCheckResponse.SERVING
    running.stop(0)
    running.set_serving(True)  # a dependency back after the drain began changes nothing
    assert check(port) == health_pb2.HealthCheckResponse.NOT_SERVING
    assert check(port, LIVENESS) == health_pb2.HealthCheckResponse.SERVING
