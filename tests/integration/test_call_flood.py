"""No one caller can starve the others (issue 19): a flood of held import streams.

Before the call limits, 24 LoGo import streams held open by one operator took all 16 of
intake's threads: health timed out and every other caller got DEADLINE_EXCEEDED. Here an
intake process of its own, with the platform's default limits (subsidy_platform.call_limits)
but a short idle time, takes the same flood on a real server over mutual TLS:

1. one operator opens 24 import streams and keeps them alive (a small chunk every 0.3 s):
   `per_caller` of them are held, the rest are refused at once with RESOURCE_EXHAUSTED and
   the Japanese message; another staff member's calls are answered meanwhile, and health
   answers throughout (a probe every 0.2 s, each with a 5 s deadline);
2. two more operators fill the process (`per_process` streams in all): a further caller is
   refused at once with RESOURCE_EXHAUSTED (never left waiting for a thread), and health
   still answers, on its own threads;
3. the operators stop sending: after the idle time each held stream is closed by the
   server with DEADLINE_EXCEEDED, no call is left in flight, no reader thread is left, and
   the other staff member is answered again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import grpc
import pytest
from hostile_support import HealthProbe, healthy
from intake_support import PROGRAM, Client, proto
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy_intake.declaration import DECLARATION
from subsidy_intake.main import servicers

from subsidy_platform.call_limits import MESSAGE_BUSY, CallLimits
from subsidy_platform.process import ServiceProcess, start_service
from subsidy_platform.staff_client import staff_channel
from subsidy_rules.program import get_program

IDLE_SECONDS = 2.0
LIMITS = replace(CallLimits(), stream_idle_seconds=IDLE_SECONDS)
FLOOD = 24


@pytest.fixture(scope="module")
def flooded(intake: Client, addresses: dict[str, str]) -> Iterator[ServiceProcess]:
    process = start_service(
        intake.environment,
        DECLARATION,
        servicers,
        programs={PROGRAM: get_program(PROGRAM)},
        addresses=addresses,
        limits=LIMITS,
    )
    try:
        yield process
    finally:
        process.stop(grace=1.0)


class HeldImports:
    """`count` import streams of one operator, alive (a small chunk every 0.3 s) until
    `quiet` is set, then silent until `release`."""

    def __init__(self, channel: grpc.Channel, metadata: object, count: int) -> None:
        self.quiet = threading.Event()
        self.release = threading.Event()
        stub = intake_pb2_grpc.IntakeServiceStub(channel)
        self.calls = [
            stub.ImportLogoCsv.future(self._parts(), metadata=metadata, timeout=120)
            for _ in range(count)
        ]

    def _parts(self) -> Iterator[intake_pb2.ImportLogoCsvRequest]:
        yield intake_pb2.ImportLogoCsvRequest(
            header=intake_pb2.ImportLogoCsvRequest.Header(program_id=PROGRAM, file_name="f.csv")
        )
        while not self.quiet.wait(0.3):
            yield intake_pb2.ImportLogoCsvRequest(chunk=b"\xef\xbb\xbf")
        self.release.wait(60)

    def refused(self) -> list[grpc.Future]:
        return [call for call in self.calls if call.done()]

    def stop(self) -> None:
        self.quiet.set()
        self.release.set()


def wait_until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "stream-reader"]


def code_of(call: grpc.Future) -> grpc.StatusCode:
    error = call.exception(timeout=30)
    assert isinstance(error, grpc.Call), error
    return error.code()


def test_one_operators_flood_of_held_streams_starves_nobody(
    intake: Client, flooded: ServiceProcess
) -> None:
    pki, address = intake.environment.pki, flooded.address.replace("127.0.0.1", "localhost")
    gate = flooded.gate
    with staff_channel(pki, address) as channel:
        calm = intake_pb2_grpc.IntakeServiceStub(channel)
        number = calm.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id="flood-calm-1",
                program_id=PROGRAM,
                application=proto(**{"logo_answer_id": "5511223344",
                                     "applicant.name_kana": "フラッド カーム",
                                     "bank_account.number": "4455661"}),
            ),
            metadata=intake.staff("operator", "flood-calm-operator"),
            timeout=30,
        ).application_number  # fmt: skip
        reader = intake.staff("call_center", "flood-calm-reader")

        def calm_call() -> grpc.StatusCode:
            try:
                calm.GetTimeline(
                    intake_pb2.GetTimelineRequest(application_number=number),
                    metadata=reader,
                    timeout=5,
                )
            except grpc.RpcError as error:
                return error.code()  # type: ignore[no-any-return]
            return grpc.StatusCode.OK

        floods: list[HeldImports] = []
        try:
            with HealthProbe(address, pki) as probe:
                # 1. one operator, 24 streams: per_caller held, the rest refused at once
                first = HeldImports(channel, intake.staff("operator", "flood-a"), FLOOD)
                floods.append(first)
                wait_until(lambda: len(first.refused()) == FLOOD - LIMITS.per_caller)
                wait_until(lambda: gate.in_flight("staff:flood-a") == LIMITS.per_caller)
                for call in first.refused():
                    assert code_of(call) == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert call.exception().details() == MESSAGE_BUSY
                answers = [calm_call() for _ in range(10)]
                assert answers == [grpc.StatusCode.OK] * 10
                assert healthy(address, pki)

                # 2. more operators fill the process: a further caller is refused at once
                for name in ("flood-b", "flood-c"):
                    floods.append(HeldImports(channel, intake.staff("operator", name), FLOOD))
                wait_until(lambda: gate.in_flight() == LIMITS.per_process)
                started = time.monotonic()
                assert calm_call() == grpc.StatusCode.RESOURCE_EXHAUSTED
                refused_in = time.monotonic() - started
                assert healthy(address, pki)

                # 3. silence: every held stream is closed after the idle time
                for flood in floods:
                    flood.quiet.set()
                held = [c for flood in floods for c in flood.calls if c.exception(timeout=30)]
                idle = [c for c in held if code_of(c) == grpc.StatusCode.DEADLINE_EXCEEDED]
                assert len(idle) == LIMITS.per_process
                for call in idle:
                    assert "データが届かなかった" in (call.exception().details() or "")
                wait_until(lambda: gate.in_flight() == 0)
                # the reader threads of the closed streams end too (their callers still hold
                # the streams open on their side)
                wait_until(lambda: not readers(), timeout=15)
                assert calm_call() == grpc.StatusCode.OK
            assert probe.failures == [], probe.failures
            assert probe.answers >= 5
        finally:
            for flood in floods:
                flood.stop()
    assert gate.peak == LIMITS.per_process
    assert refused_in < 5  # refused at once, not after the calm caller's 5 s deadline
    assert healthy(address, pki)
