"""The gRPC server every service runs: mutual TLS, tracing, access control, health,
reflection, and a graceful drain on SIGTERM (DESIGN.md principles 11 and 12).

Interceptors run in this order: tracing first (so refused calls are traced too), then
the access interceptor (authentication by token or service certificate, the RPC x role
table). Health and reflection are public so that `grpcurl` and Kubernetes probes work
without a token; they still need a client certificate, like every call. Health says
SERVING (overall and for each service name) only while the process's dependencies answer
(`set_serving`, driven by subsidy_platform.health) and NOT_SERVING for good once the server
drains; the name `LIVENESS` stays SERVING while the process runs, for liveness probes.
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


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    service_names: tuple[str, ...]
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
) -> RunningServer:
    """Build, bind and start a server; `credentials=None` only for in-process tests."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        interceptors=list(interceptors),
        options=[("grpc.max_receive_message_length", 64 * 1024 * 1024 + 1024 * 1024)],
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
        raise RuntimeError(f"cannot listen on {address}")
    server.start()
    running = RunningServer(server, port, health_servicer, tuple(names))
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
