"""The gRPC server every service runs: mutual TLS, tracing, access control, health,
reflection, and a graceful drain on SIGTERM (DESIGN.md principles 11 and 12).

Interceptors run in this order: tracing first (so refused calls are traced too), then
the access interceptor (authentication by token or service certificate, the RPC x role
table). Health and reflection are public so that `grpcurl` and Kubernetes probes work
without a token; they still need a client certificate, like every call. Health says
SERVING (overall and for each service name) only while the process's dependencies answer
(`set_serving`, driven by subsidy_platform.health) and NOT_SERVING for good once the server
drains; the name `LIVENESS` stays SERVING while the process runs, for liveness probes.

Health's Check runs on a small pool of its own threads (`HEALTH_THREADS`), never queued
behind the service's calls, so it answers however busy the process is; the service's pool
has `max_workers` threads (sized from the call limits, subsidy_platform.call_limits), and
a message larger than `max_receive_bytes` (the largest bound of the process's RPCs,
subsidy_platform.message_bounds) is refused by gRPC itself before it is read whole.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

log = logging.getLogger(__name__)

LIVENESS = "subsidy.platform.Liveness"
"""A health service name SERVING for as long as the process runs, whatever its dependencies
or drain: what a liveness probe asks (a restart would not bring a database back)."""

Registration = tuple[Callable[[Any, grpc.Server], None], Any, str]  # (add_fn, servicer, full name)
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_THREADS = 2


class HealthOnItsOwnThreads(grpc.ServerInterceptor):
    """Run health's Check on `pool` rather than the server's pool (gRPC takes the pool from
    the outermost handler's behaviour, so this interceptor comes first)."""

    def __init__(self, pool: futures.ThreadPoolExecutor) -> None:
        self._pool = pool

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method != HEALTH_CHECK:
            return handler
        inner = handler.unary_unary
        if inner is None:
            return handler

        def check(request: Any, context: grpc.ServicerContext) -> Any:
            return inner(request, context)

        check.experimental_thread_pool = self._pool  # type: ignore[attr-defined]
        return grpc.unary_unary_rpc_method_handler(
            check,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    service_names: tuple[str, ...]
    health_pool: futures.ThreadPoolExecutor | None = None
    _status_lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: bool = False

    def set_serving(self, serving: bool) -> None:
        """Report SERVING or NOT_SERVING for the process and each of its services (a server
        that drains stays NOT_SERVING)."""
        with self._status_lock:
            if self._stopping:
                return
            self._report(serving)

    def stop(self, grace: float = 10.0) -> None:
        """Report NOT_SERVING, stop taking calls and wait for in-flight calls to finish."""
        with self._status_lock:
            self._stopping = True
            self._report(False)
        self.server.stop(grace).wait()
        if self.health_pool is not None:
            self.health_pool.shutdown(wait=False)

    def _report(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in (*self.service_names, ""):
            self.health.set(name, status)


def start_server(
    registrations: Sequence[Registration],
    *,
    credentials: grpc.ServerCredentials | None,
    interceptors: Sequence[grpc.ServerInterceptor],
    address: str = "127.0.0.1:0",
    max_workers: int = 16,
    max_receive_bytes: int = 4 * 1024 * 1024,
) -> RunningServer:
    """Build, bind and start a server; `credentials=None` only for in-process tests."""
    health_pool = futures.ThreadPoolExecutor(HEALTH_THREADS, thread_name_prefix="health")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        interceptors=[HealthOnItsOwnThreads(health_pool), *interceptors],
        options=[("grpc.max_receive_message_length", max_receive_bytes)],
    )
    names = []
    for add, servicer, name in registrations:
        add(servicer, server)
        names.append(name)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        health_pool.shutdown(wait=False)
        raise RuntimeError(f"cannot listen on {address}")
    server.start()
    running = RunningServer(server, port, health_servicer, tuple(names), health_pool)
    running.set_serving(True)
    health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    return running


def start_health_listener(running: RunningServer, address: str) -> tuple[grpc.Server, int]:
    """A plaintext server on `address` answering only the health checks of `running`;
    the server and the port it listens on."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"),
        options=[("grpc.max_receive_message_length", 4096)],
    )
    health_pb2_grpc.add_HealthServicer_to_server(running.health, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"cannot listen on {address}")
    server.start()
    return server, port


def wait_for_termination(running: RunningServer, grace: float = 10.0) -> None:
    """Block until SIGTERM or SIGINT, then drain in-flight calls for up to `grace` seconds."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: draining", signum)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    stopping.wait()
    running.stop(grace)
