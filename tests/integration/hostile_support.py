"""What the generated hostile-input tests share, whatever the service (intake, review, sign-in).

The request descriptors are walked generically (`leaf_paths`): every string, enum and
integer field of a request and of the messages inside it. `set_path` sets one of them on a
valid request, `values_for` generates values for it (`hostile_text`: lengths up to 1 MiB,
any code point but surrogates, control characters, NUL, digits of other scripts; enum
numbers outside their enum; integers up to int64's ends), and `near_text` near misses of
the valid value (a character put in, a length about a limit, other digits, spaces). `fuzz_rpc` runs the examples of
one RPC: each call's answer is checked (`check_answer`: a clear code, a short message that
never repeats a long value), a failed call must leave the service's writes unchanged, and
the server answers health during (`HealthProbe`, a probe every 0.2 s on its own channel)
and after the calls (`healthy`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from subsidy_platform.errors import FieldViolation, field_violations
from subsidy_platform.staff_client import CONSOLE, staff_channel
from subsidy_platform.tls import Pki

MIB = 1024 * 1024
# The servers run in the test's process: their threads (and the health probe's) may use the
# random module while hypothesis draws a value, which hypothesis reports as if a strategy had.
IGNORE_RANDOM_IN_SERVER_THREADS = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
)
CLEAR = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)
SHOWN = 32  # a message may repeat a caller's value of at most this many characters


# --- the request descriptors, walked -------------------------------------------------------

Path = tuple[str, ...]
FUZZED = (
    FieldDescriptor.TYPE_STRING,
    FieldDescriptor.TYPE_ENUM,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_INT32,
)


def _repeated(descriptor: FieldDescriptor) -> bool:
    return bool(descriptor.is_repeated)


def leaf_paths(descriptor: Descriptor, prefix: Path = (), depth: int = 0) -> Iterator[Path]:
    """Every string, enum and integer field reachable from a message type (by field names)."""
    for child in descriptor.fields:
        path = (*prefix, child.name)
        if child.type == FieldDescriptor.TYPE_MESSAGE:
            if depth < 4:
                yield from leaf_paths(child.message_type, path, depth + 1)
        elif child.type in FUZZED:
            yield path


def set_path(message: Message, path: Path, value: Any) -> None:
    """Set one leaf (the first element of a repeated message or scalar on the way)."""
    target: Any = message
    for name in path[:-1]:
        child = target.DESCRIPTOR.fields_by_name[name]
        value_of = getattr(target, name)
        if _repeated(child):
            target = value_of[0] if len(value_of) else value_of.add()
        else:
            target = value_of
    leaf = target.DESCRIPTOR.fields_by_name[path[-1]]
    if _repeated(leaf):
        container = getattr(target, path[-1])
        del container[:]
        container.append(value)
    else:
        setattr(target, path[-1], value)


def get_path(message: Message, path: Path) -> Any:
    """One leaf's value (of the first element of a repeated field); None when not set."""
    target: Any = message
    for name in path:
        value_of = getattr(target, name)
        if _repeated(target.DESCRIPTOR.fields_by_name[name]):
            if not len(value_of):
                return None
            value_of = value_of[0]
        target = value_of
    return target


def leaf_type(descriptor: Descriptor, path: Path) -> int:
    current = descriptor
    for name in path[:-1]:
        current = current.fields_by_name[name].message_type
    return int(current.fields_by_name[path[-1]].type)


# --- generated values ----------------------------------------------------------------------

CHARACTERS = st.characters(blacklist_categories=("Cs",))  # any code point but surrogates
HOSTILE_CHARACTERS = st.sampled_from(
    [
        *("\x00", "\x01", "\x1f", "\x7f", "\x85", "\u2028", "\ufeff", "\u202e", "\t", "\n", "\r"),
        *"٣३০๓０",  # digits of other scripts, and a full-width one
        *("=", "'", '"', "\\", "/", "%", "🙂", "𠮷", " ", "\u3000"),
    ]
)
LENGTHS = st.sampled_from([1, 2, 10, 31, 32, 33, 64, 65, 100, 101, 128, 129, 200, 201, 255,
                           256, 2000, 2001, 4096, 65536, 131073, MIB])  # fmt: skip


@st.composite
def hostile_text(draw: st.DrawFn) -> str:
    """Short arbitrary text (one time in four), or a seed repeated to a chosen length, most
    often with a hostile character placed somewhere."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.text(CHARACTERS, max_size=40))
    seed = draw(st.text(st.one_of(CHARACTERS, HOSTILE_CHARACTERS), min_size=1, max_size=6))
    length = draw(LENGTHS)
    value = (seed * (length // len(seed) + 1))[:length]
    if draw(st.integers(0, 3)) > 0:
        at = draw(st.integers(0, len(value)))
        value = value[:at] + draw(HOSTILE_CHARACTERS) + value[at:]
    return value


ID_CHARACTERS = st.sampled_from("aZ09_.:-")
NEAR_LENGTHS = st.sampled_from([31, 32, 33, 34, 63, 64, 65, 128, 129, 199, 200, 201, 801, 4096])
SPACES = st.sampled_from([" ", "\u3000", "\u00a0", "\t", "\n", "\r\n", "\u200b"])
OTHER_DIGITS = [
    str.maketrans("0123456789", digits) for digits in ("٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９")
]


@st.composite
def near_text(draw: st.DrawFn, good: str) -> str:
    """A valid value changed a little: a hostile character put in, padded (with identifier
    characters) or cut to a length about a limit, its digits in another script, spaces
    around it, its letters' case swapped."""
    how = draw(st.integers(0, 4))
    if how == 0:
        at = draw(st.integers(0, len(good)))
        return good[:at] + draw(HOSTILE_CHARACTERS) + good[at:]
    if how == 1:
        pad = draw(st.text(ID_CHARACTERS, min_size=1, max_size=3))
        return (good + pad * 4096)[: draw(NEAR_LENGTHS)]
    if how == 2:
        digits = good if any(c.isdigit() for c in good) else good + "1"
        return digits.translate(draw(st.sampled_from(OTHER_DIGITS)))
    if how == 3:
        return draw(SPACES) + good if draw(st.booleans()) else good + draw(SPACES)
    return good.swapcase()


def values_for(kind: int) -> st.SearchStrategy[Any]:
    if kind == FieldDescriptor.TYPE_STRING:
        return hostile_text()
    if kind == FieldDescriptor.TYPE_ENUM or kind == FieldDescriptor.TYPE_INT32:
        return st.one_of(st.integers(-3, 20), st.integers(-(2**31), 2**31 - 1))
    return st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.sampled_from([-1, 0, 10_000_000, 10_000_001, 100_000_001, 10**15]),
    )


# --- answers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One call's outcome: its code, what the server said, and the response when OK."""

    code: grpc.StatusCode
    details: str = ""
    violations: tuple[FieldViolation, ...] = ()
    response: Any = None

    @property
    def said(self) -> str:
        return self.details + "".join(v.field + v.description for v in self.violations)


def answer_of(invoke: Callable[[], Any]) -> Answer:
    """Run one call; its response, or the error's code, details and field violations."""
    try:
        return Answer(grpc.StatusCode.OK, response=invoke())
    except grpc.RpcError as error:
        return Answer(error.code(), error.details() or "", tuple(field_violations(error)))


def echoes(said: str, value: Any) -> bool:
    """Whether `said` repeats `value` (any run of more than SHOWN of its characters), when
    the value is a text longer than SHOWN characters."""
    if not isinstance(value, str) or len(value) <= SHOWN:
        return False
    runs = {said[i : i + SHOWN + 1] for i in range(len(said) - SHOWN)}
    return any(run in value for run in runs)


def check_answer(
    rpc: str,
    answer: Answer,
    *,
    value: Any = None,
    longest: int = 300,
    codes: frozenset[grpc.StatusCode] = CLEAR,
) -> None:
    """A clear code; when an error: short (`longest`), INVALID_ARGUMENT with field
    violations, and never repeating a long `value` (pass None not to check echoes)."""
    if answer.code == grpc.StatusCode.OK:
        return
    assert answer.code in codes, f"{rpc}: {answer.code.name} {answer.details[:200]}"
    assert len(answer.said) < longest, f"{rpc}: a long message ({len(answer.said)} characters)"
    if answer.code == grpc.StatusCode.INVALID_ARGUMENT:
        assert answer.violations, f"{rpc}: INVALID_ARGUMENT without field violations"
    assert not echoes(answer.said, value), f"{rpc}: the message repeats the value sent"


# --- health ----------------------------------------------------------------------------------


class HealthProbe:
    """Asks a server's health every 0.2 s on its own channel while the calls run."""

    def __init__(self, address: str, pki: Pki, identity: str = CONSOLE) -> None:
        self.address = address
        self.pki = pki
        self.identity = identity
        self.failures: list[str] = []
        self.answers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with staff_channel(self.pki, self.address, self.identity) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while not self._stop.is_set():
                try:
                    answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                    if answer.status != health_pb2.HealthCheckResponse.SERVING:
                        self.failures.append(f"status {answer.status}")
                    self.answers += 1
                except grpc.RpcError as error:
                    self.failures.append(error.code().name)
                self._stop.wait(0.2)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def healthy(address: str, pki: Pki, identity: str = CONSOLE) -> bool:
    with staff_channel(pki, address, identity) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


# --- one RPC's examples -----------------------------------------------------------------------


@dataclass
class Fuzz:
    """One RPC's generated calls: a valid request, the fields to vary, how to call it, what
    the service writes, and which answers count as failed (nothing may be written)."""

    rpc: str
    descriptor: Descriptor
    paths: Sequence[Path]
    build: Callable[[], Message]
    call: Callable[[Message], Answer]
    check: Callable[[Answer, Any], None]
    writes: Callable[[Message], object]
    address: str
    pki: Pki
    failed: Callable[[Answer], bool] = field(default=lambda a: a.code != grpc.StatusCode.OK)
    near: bool = False  # strings: near misses of the valid request's value too (near_text)
    # the generated values reshaped (e.g. a known bug's values kept apart in a case of their own)
    shape: Callable[[st.SearchStrategy[Any]], st.SearchStrategy[Any]] = field(
        default=lambda values: values
    )


def fuzz_rpc(fuzz: Fuzz, config: settings, examples: int) -> dict[str, int]:
    """Run the examples under `config` with health probed; the codes seen, by name."""
    seen: dict[str, int] = {}

    @config
    @given(data=st.data())
    def one_call(data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(list(fuzz.paths)), label="field")
        request = fuzz.build()
        values = values_for(leaf_type(fuzz.descriptor, path))
        good = get_path(request, path)
        if fuzz.near and isinstance(good, str) and good:
            values = st.one_of(values, near_text(good))
        value = data.draw(fuzz.shape(values), label="value")
        set_path(request, path, value)
        before = fuzz.writes(request)
        answer = fuzz.call(request)
        fuzz.check(answer, value)
        seen[answer.code.name] = seen.get(answer.code.name, 0) + 1
        if fuzz.failed(answer):
            after = fuzz.writes(request)
            assert after == before, f"{fuzz.rpc} {'.'.join(path)}: {answer.code.name}"
        assert healthy(fuzz.address, fuzz.pki)

    with HealthProbe(fuzz.address, fuzz.pki) as probe:
        started = time.monotonic()
        one_call()
    assert probe.failures == [], probe.failures
    assert probe.answers >= 1 or time.monotonic() - started < 0.2
    assert healthy(fuzz.address, fuzz.pki)
    assert sum(seen.values()) >= examples // 2
    return seen
