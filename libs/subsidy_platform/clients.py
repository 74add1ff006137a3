"""Calls from one service to another, under the caller's own service identity (issue 6).

`ServiceClients(pki, identity, addresses)` opens one channel per peer over mutual TLS,
presenting the calling service's certificate (its common name is the identity the
receiving service's access table names as `service:<name>`; no bearer token). Every
channel is traced (a CLIENT span per call, the trace context propagated to the peer).

`call(fn, request, idempotent=True)` applies a deadline to every call (default 10 s) and,
only for calls the caller marks idempotent (those that carry a request id / idempotency
key), retries UNAVAILABLE with exponential back-off; any other status, or UNAVAILABLE that
persists, is raised to the caller (an UNAVAILABLE peer becomes `DependencyUnavailable`).

Addresses come from the environment: `<NAME>_ADDRESS` (`INTAKE_ADDRESS=intake:50051`),
defaulting to the service's declared port on 127.0.0.1.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import grpc
from opentelemetry.sdk.trace import TracerProvider

from subsidy_platform.declaration import PLATFORM_SERVICES, declarations, default_address
from subsidy_platform.errors import DependencyUnavailable
from subsidy_platform.telemetry import instrument_grpc_client
from subsidy_platform.tls import Pki, channel_credentials

S = TypeVar("S")
T = TypeVar("T")
DEFAULT_DEADLINE = 10.0
RETRY_ATTEMPTS = 4
RETRY_FIRST_BACKOFF = 0.2
# A peer that was down is retried within seconds, not gRPC's default minutes.
RECONNECT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)
MESSAGE_PEER_DOWN = "連携先のサービスに接続できません"


def service_addresses(
    environ: Mapping[str, str] = os.environ, names: Iterable[str] | None = None
) -> dict[str, str]:
    """host:port of the named services (default: every declared one and sign-in), from
    `<NAME>_ADDRESS`; a service process reads only its peers' (what its pod is given)."""
    wanted: Iterable[str] = (*PLATFORM_SERVICES, *declarations()) if names is None else names
    return {
        name: environ.get(f"{name.upper()}_ADDRESS") or default_address(name) for name in wanted
    }


class ServiceClients:
    """Channels from one service (`identity`) to its peers; close() when the process stops.

    With `peers` given (a service's declared calls and outbox subscribers), a channel to any
    other service is refused: a call the declarations do not name never leaves the process.
    """

    def __init__(
        self,
        pki: Pki,
        identity: str,
        addresses: Mapping[str, str],
        tracer_provider: TracerProvider | None = None,
        peers: frozenset[str] | None = None,
    ) -> None:
        self._pki = pki
        self._peers = peers
        self._identity = identity
        self._addresses = dict(addresses)
        self._tracer_provider = tracer_provider
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        return self._identity

    def address(self, service: str) -> str:
        if self._peers is not None and service not in self._peers:
            raise LookupError(f"{self._identity} does not declare calls to {service!r}")
        try:
            return self._addresses[service]
        except KeyError:
            raise LookupError(f"no address known for service {service!r}") from None

    def channel(self, service: str) -> grpc.Channel:
        """The traced mutual-TLS channel to `service` (one per peer, reused)."""
        with self._lock:
            channel = self._channels.get(service)
            if channel is None:
                secure = grpc.secure_channel(
                    self.address(service),
                    channel_credentials(self._pki, self._identity),
                    options=RECONNECT_OPTIONS,
                )
                channel = instrument_grpc_client(secure, self._tracer_provider)
                self._channels[service] = channel
            return channel

    def stub(self, service: str, stub_type: Callable[[grpc.Channel], S]) -> S:
        return stub_type(self.channel(service))

    def call(
        self,
        method: Callable[..., T],
        request: Any,
        *,
        idempotent: bool,
        timeout: float = DEFAULT_DEADLINE,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> T:
        """Call a stub method with a deadline; retry UNAVAILABLE only when idempotent."""
        attempts = RETRY_ATTEMPTS if idempotent else 1
        backoff = RETRY_FIRST_BACKOFF
        for attempt in range(attempts):
            try:
                return method(request, timeout=timeout, metadata=metadata)
            except grpc.RpcError as error:
                code = error.code() if isinstance(error, grpc.Call) else None
                if code != grpc.StatusCode.UNAVAILABLE:
                    raise
                if attempt + 1 == attempts:
                    raise DependencyUnavailable(MESSAGE_PEER_DOWN) from error
                time.sleep(backoff)
                backoff *= 2
        raise AssertionError("unreachable")

    def invoke(
        self, service: str, method: str, payload: bytes, key: str, *, timeout: float = 10.0
    ) -> bytes:
        """A raw unary call with serialised bytes (the outbox relay's delivery).

        It waits for the channel to be ready (up to the deadline) rather than failing at
        once while gRPC backs off reconnecting to a peer that was down.
        """
        callable_: grpc.UnaryUnaryMultiCallable[bytes, bytes] = self.channel(service).unary_unary(
            method
        )
        response: bytes = callable_(payload, timeout=timeout, metadata=(("idempotency-key", key),))
        return response

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
