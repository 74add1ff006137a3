"""No one request, stream or caller can starve the others (issue 19).

The rule: a process holds at most `per_process` calls in flight, a caller at most
`per_caller` of them (another service of the platform `per_service`, since it calls for many
people at once), a request stream that sends nothing for `stream_idle_seconds` is closed,
and health checks never wait for a thread.

- `CallGate` counts the calls in flight per caller and in all. A staff caller is its login
  (`staff:<login>`), another service its name (`service:<name>`), a call without
  credentials (sign-in, health's Watch, reflection) the common name of its client
  certificate (`peer:<name>`). A call beyond a limit is refused at once with
  RESOURCE_EXHAUSTED and a Japanese message (`MESSAGE_BUSY`), before the handler runs; it
  takes no slot. The gate also keeps the peak number in flight (`peak`), for measurement.
- `CallLimitInterceptor` (after the access interceptor, which identifies the caller) holds
  a slot for as long as the call holds a server thread: until the handler returns, or for
  a response stream until its last message. Each request stream is read through
  `IdleStream`: a reader thread takes the next message only when the handler asks for it,
  and the handler waits at most `stream_idle_seconds` (the first message included); then
  the call ends with DEADLINE_EXCEEDED (`StreamIdle`) and its slot and thread are freed.
- Threads are sized from the limits (`CallLimits.workers`: `per_process` plus `reserve`),
  so a refusal never waits behind calls in flight; health's Check runs on a pool of its own
  (subsidy_platform.server), so it answers whatever the rest of the process is doing.

The limits come from the environment (`CallLimits.from_env`: SUBSIDY_MAX_CALLS,
SUBSIDY_MAX_CALLS_PER_CALLER, SUBSIDY_MAX_CALLS_PER_SERVICE, SUBSIDY_STREAM_IDLE_SECONDS) or
are passed to `start_process` (tests use a short idle time).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from subsidy_platform.access import current_principal
from subsidy_platform.errors import (
    PlatformError,
    ResourceExhausted,
    StreamIdle,
    Unauthenticated,
    to_grpc_status,
)
from subsidy_platform.method_handlers import rebuilt
from subsidy_platform.tls import peer_identity

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
"""Served on its own threads (subsidy_platform.server), outside the limits."""
MESSAGE_BUSY = "処理中の要求が多すぎます。しばらく待ってから、もう一度お試しください"
MESSAGE_IDLE = "{seconds:g}秒間データが届かなかったため、受信を打ち切りました"


@dataclass(frozen=True)
class CallLimits:
    """How many calls a process and a caller may have in flight, and how long a request
    stream may stay quiet."""

    per_process: int = 32
    per_caller: int = 12
    per_service: int = 16
    stream_idle_seconds: float = 30.0
    reserve: int = 4
    """Threads beyond `per_process`: refusals and calls outside the limits never wait."""

    def __post_init__(self) -> None:
        if min(self.per_process, self.per_caller, self.per_service, self.reserve) < 1:
            raise ValueError("every call limit is at least 1")
        if max(self.per_caller, self.per_service) > self.per_process:
            raise ValueError("a caller's limit is at most the process's")
        if not 0 < self.stream_idle_seconds <= 3600:
            raise ValueError(f"stream idle time out of range: {self.stream_idle_seconds}")

    @property
    def workers(self) -> int:
        """The server's threads: every call in flight, plus the reserve."""
        return self.per_process + self.reserve

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CallLimits:
        """The limits the environment sets (unset: the defaults above); a value that is not a
        number is refused (ValueError: a process does not start with limits it cannot read)."""
        default = cls()

        def number(name: str, fallback: float) -> float:
            value = environ.get(name, "").strip()
            return float(value) if value else fallback

        return cls(
            per_process=int(number("SUBSIDY_MAX_CALLS", default.per_process)),
            per_caller=int(number("SUBSIDY_MAX_CALLS_PER_CALLER", default.per_caller)),
            per_service=int(number("SUBSIDY_MAX_CALLS_PER_SERVICE", default.per_service)),
            stream_idle_seconds=number("SUBSIDY_STREAM_IDLE_SECONDS", default.stream_idle_seconds),
        )


class CallGate:
    """Calls in flight, per caller and in all (thread-safe)."""

    def __init__(self, limits: CallLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._callers: dict[str, int] = {}
        self._total = 0
        self.peak = 0
        self.refused = 0

    def enter(self, caller: str, *, service: bool = False) -> bool:
        """Take a slot for `caller`; False (nothing taken) when a limit is reached."""
        limit = self.limits.per_service if service else self.limits.per_caller
        with self._lock:
            held = self._callers.get(caller, 0)
            if held >= limit or self._total >= self.limits.per_process:
                self.refused += 1
                return False
            self._callers[caller] = held + 1
            self._total += 1
            self.peak = max(self.peak, self._total)
            return True

    def leave(self, caller: str) -> None:
        with self._lock:
            held = self._callers.get(caller, 0) - 1
            if held > 0:
                self._callers[caller] = held
            else:
                self._callers.pop(caller, None)
            self._total -= 1

    def in_flight(self, caller: str | None = None) -> int:
        with self._lock:
            return self._total if caller is None else self._callers.get(caller, 0)


_ITEM, _END, _ERROR = range(3)


class IdleStream:
    """A request stream read by a thread of its own, one message per request of the handler;
    a message that does not come within `seconds` is `StreamIdle`."""

    def __init__(self, source: Iterable[Any], seconds: float) -> None:
        self._source = iter(source)
        self._seconds = seconds
        self._wanted = threading.Semaphore(0)
        self._results: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._closed = False
        self._finished = False
        self._reader: threading.Thread | None = None

    def __iter__(self) -> IdleStream:
        return self

    def __next__(self) -> Any:
        if self._finished:
            raise StopIteration
        if self._reader is None:
            self._reader = threading.Thread(target=self._read, name="stream-reader", daemon=True)
            self._reader.start()
        self._wanted.release()
        try:
            kind, value = self._results.get(timeout=self._seconds)
        except queue.Empty:
            self._finished = True
            raise StreamIdle(MESSAGE_IDLE.format(seconds=self._seconds)) from None
        if kind == _ITEM:
            return value
        self._finished = True
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self) -> None:
        """Let the reader thread end once the message it waits for comes (or the call ends)."""
        self._closed = True
        self._finished = True
        self._wanted.release()

    def _read(self) -> None:
        while True:
            self._wanted.acquire()
            if self._closed:
                return
            try:
                item = next(self._source)
            except StopIteration:
                self._results.put((_END, None))
                return
            except BaseException as error:
                self._results.put((_ERROR, error))
                return
            self._results.put((_ITEM, item))


def caller_of(context: grpc.ServicerContext) -> tuple[str, bool]:
    """The key a call is counted under, and whether the caller is another service."""
    try:
        principal = current_principal()
    except Unauthenticated:
        return f"peer:{peer_identity(context) or ''}", False
    if principal.kind == "service":
        return f"service:{principal.subject}", True
    return f"staff:{principal.subject}", False


class CallLimitInterceptor(grpc.ServerInterceptor):
    """Refuse calls beyond the gate's limits; close request streams that went quiet."""

    def __init__(self, gate: CallGate) -> None:
        self.gate = gate

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method == HEALTH_CHECK:
            return handler
        return limited(handler, self.gate)


def _abort(context: grpc.ServicerContext, error: PlatformError) -> None:
    context.abort_with_status(to_grpc_status(error))


def limited(
    handler: grpc.RpcMethodHandler[Any, Any], gate: CallGate
) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler` holding a slot of `gate` while it runs (see the module docstring)."""
    behavior = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    if behavior is None:
        raise ValueError("gRPC method handler without behaviour")
    idle_seconds = gate.limits.stream_idle_seconds

    def admitted(context: grpc.ServicerContext) -> str:
        caller, service = caller_of(context)
        if not gate.enter(caller, service=service):
            _abort(context, ResourceExhausted(MESSAGE_BUSY))
        return caller

    def run(request: Any, context: grpc.ServicerContext) -> tuple[Any, IdleStream | None]:
        stream = IdleStream(request, idle_seconds) if handler.request_streaming else None
        try:
            return behavior(stream if stream is not None else request, context), stream
        except StreamIdle as error:
            _abort(context, error)
            raise

    if handler.response_streaming:

        def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            caller = admitted(context)
            stream: IdleStream | None = None
            try:
                responses, stream = run(request, context)
                try:
                    yield from responses
                except StreamIdle as error:
                    _abort(context, error)
            finally:
                if stream is not None:
                    stream.close()
                gate.leave(caller)

        return rebuilt(handler, streaming)

    def single(request: Any, context: grpc.ServicerContext) -> Any:
        caller = admitted(context)
        stream: IdleStream | None = None
        try:
            result, stream = run(request, context)
            return result
        finally:
            if stream is not None:
                stream.close()
            gate.leave(caller)

    return rebuilt(handler, single)
