"""The call limits' pure parts (subsidy_platform.call_limits): the gate counts per caller and
per process, a quiet request stream is StreamIdle, the environment sets the limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from subsidy_platform.call_limits import CallGate, CallLimits, IdleStream
from subsidy_platform.errors import StreamIdle


def test_a_caller_gets_its_limit_and_no_more_and_others_still_get_theirs() -> None:
    gate = CallGate(CallLimits(per_process=5, per_caller=2, per_service=3))
    assert gate.enter("staff:a") and gate.enter("staff:a")
    assert not gate.enter("staff:a")
    assert gate.enter("staff:b")
    assert gate.enter("service:review", service=True)
    assert gate.enter("staff:b")
    assert gate.in_flight() == 5
    assert not gate.enter("staff:c")  # the process is full
    gate.leave("staff:a")
    assert gate.in_flight("staff:a") == 1
    assert gate.enter("staff:c")
    assert gate.peak == 5
    assert gate.refused >= 2


def test_limits_are_checked_and_read_from_the_environment() -> None:
    limits = CallLimits.from_env(
        {"SUBSIDY_MAX_CALLS": "8", "SUBSIDY_MAX_CALLS_PER_CALLER": "2",
         "SUBSIDY_MAX_CALLS_PER_SERVICE": "4", "SUBSIDY_STREAM_IDLE_SECONDS": "1.5"}
    )  # fmt: skip
    assert (limits.per_process, limits.per_caller, limits.per_service) == (8, 2, 4)
    assert limits.stream_idle_seconds == 1.5
    assert limits.workers == 8 + limits.reserve
    assert CallLimits.from_env({}) == CallLimits()
    with pytest.raises(ValueError):
        CallLimits.from_env({"SUBSIDY_MAX_CALLS": "many"})
    with pytest.raises(ValueError):
        CallLimits(per_process=4, per_caller=5)
    with pytest.raises(ValueError):
        CallLimits(stream_idle_seconds=0)


def test_a_stream_that_keeps_sending_is_read_whole() -> None:
    assert list(IdleStream(iter(range(5)), 1.0)) == [0, 1, 2, 3, 4]


def test_a_stream_that_goes_quiet_is_idle_and_its_reader_ends_when_the_source_does() -> None:
    release = threading.Event()

    def source() -> Iterator[int]:
        yield 1
        release.wait(10)
        yield 2

    stream = IdleStream(source(), 0.2)
    assert next(stream) == 1
    started = time.monotonic()
    with pytest.raises(StreamIdle) as caught:
        next(stream)
    assert 0.15 < time.monotonic() - started < 5
    assert "0.2秒" in str(caught.value)
    stream.close()
    release.set()
    assert stream._reader is not None
    stream._reader.join(5)
    assert not stream._reader.is_alive()
    with pytest.raises(StopIteration):
        next(stream)


def test_the_reader_reads_one_message_ahead_at_most() -> None:
    read: list[int] = []

    def source() -> Iterator[int]:
        for n in range(100):
            read.append(n)
            yield n

    stream = IdleStream(source(), 1.0)
    assert next(stream) == 0
    time.sleep(0.1)
    assert read == [0]  # nothing is read before the handler asks for it
    stream.close()


def test_an_error_of_the_source_reaches_the_reader_of_the_stream() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise RuntimeError("cancelled")

    stream = IdleStream(source(), 1.0)
    assert next(stream) == 1
    with pytest.raises(RuntimeError):
        next(stream)
