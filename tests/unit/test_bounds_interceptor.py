"""The bounds and call-limit interceptors on a real in-process gRPC server (no database):
each message of a request stream is checked before the handler sees it, and a quiet stream
is closed after the idle time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc

from subsidy_platform.call_limits import CallGate, CallLimitInterceptor, CallLimits
from subsidy_platform.errors import field_violations
from subsidy_platform.message_bounds import BoundsInterceptor, FieldBound, MessageBounds
from subsidy_platform.server import RunningServer, start_server

IMPORT = "/subsidy.intake.v1.IntakeService/ImportLogoCsv"
BOUNDS = {IMPORT: MessageBounds(max_bytes=1000, fields={"chunk": FieldBound(length=500)})}


class Recording(intake_pb2_grpc.IntakeServiceServicer):
    """Counts the parts its handler saw."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def ImportLogoCsv(
        self, request_iterator: Iterator[intake_pb2.ImportLogoCsvRequest], context: object
    ) -> intake_pb2.ImportReport:
        for part in request_iterator:
            self.seen.append(len(part.chunk))
        return intake_pb2.ImportReport(rows=len(self.seen))


@pytest.fixture
def served() -> Iterator[tuple[RunningServer, Recording]]:
    servicer = Recording()
    gate = CallGate(CallLimits(stream_idle_seconds=0.5))
    running = start_server(
        [(intake_pb2_grpc.add_IntakeServiceServicer_to_server, servicer, "intake")],
        credentials=None,
        interceptors=[CallLimitInterceptor(gate), BoundsInterceptor(BOUNDS)],
    )
    try:
        yield running, servicer
    finally:
        running.stop(0)


def _import(
    running: RunningServer, parts: Iterator[intake_pb2.ImportLogoCsvRequest]
) -> grpc.RpcError:
    with (
        grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        intake_pb2_grpc.IntakeServiceStub(channel).ImportLogoCsv(parts, timeout=30)
    return caught.value


def _chunks(*sizes: int) -> Iterator[intake_pb2.ImportLogoCsvRequest]:
    for size in sizes:
        yield intake_pb2.ImportLogoCsvRequest(chunk=b"\x01" * size)


def test_a_message_of_a_stream_beyond_a_field_limit_is_refused_before_the_handler_sees_it(
    served: tuple[RunningServer, Recording],
) -> None:
    running, servicer = served
    error = _import(running, _chunks(100, 200, 600, 100))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in field_violations(error)] == [
        ("chunk", "大きすぎます（500バイトまで）")
    ]
    assert servicer.seen == [100, 200]


def test_a_message_of_a_stream_beyond_the_message_size_is_refused_naming_its_field(
    served: tuple[RunningServer, Recording],
) -> None:
    running, servicer = served
    error = _import(running, _chunks(100, 5000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in field_violations(error)] == [
        ("chunk", "要求が大きすぎます（1,000バイトまで）")
    ]
    assert servicer.seen == [100]


def test_a_stream_within_its_bounds_reaches_its_handler_whole(
    served: tuple[RunningServer, Recording],
) -> None:
    running, servicer = served
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        report = intake_pb2_grpc.IntakeServiceStub(channel).ImportLogoCsv(
            _chunks(500, 500, 1), timeout=30
        )
    assert report.rows == 3
    assert servicer.seen == [500, 500, 1]


def test_a_quiet_stream_is_closed_after_the_idle_time(
    served: tuple[RunningServer, Recording],
) -> None:
    running, servicer = served
    release = threading.Event()

    def parts() -> Iterator[intake_pb2.ImportLogoCsvRequest]:
        yield intake_pb2.ImportLogoCsvRequest(chunk=b"a")
        release.wait(20)

    started = time.monotonic()
    try:
        error = _import(running, parts())
    finally:
        release.set()
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "0.5秒間データが届かなかった" in (error.details() or "")
    assert time.monotonic() - started < 10
    assert servicer.seen == [1]
