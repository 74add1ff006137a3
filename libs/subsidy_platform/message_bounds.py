"""Every request message is bounded before a use case runs (issue 19: bounded by construction).

The rule: no RPC of any service takes a message, a string, a bytes value, a list or a map
larger than its bounds, and no RPC can be without bounds. Each RPC has a `MessageBounds`:

- `max_bytes`: the largest serialized message (each message of a request stream);
- default per-field limits: `string` characters, `binary` bytes, `items` elements of a
  repeated field, `entries` of a map;
- `fields`: overrides by field path (`chunk`, `application.purchases.description`: field
  names from the request message, no indices), each a `FieldBound` (`length` of a string
  or bytes value, of each element of a repeated one; `items` of a repeated field or map).

An RPC that declares nothing has `DEFAULT` (256 KiB; 8,192 characters; 64 KiB; 1,000 items
and entries), which every valid call of the platform fits; a service declares more only
where real traffic needs it (a LoGo CSV chunk, a decision file, a bank's return file), in
its `ServiceDeclaration.message_bounds` (`bounds_table`), and the platform's own services
beside their role tables (the sign-in service in `auth_main`, maintenance in
`maintenance`). The tables are checked when the server is built: an override must name a
string, bytes, repeated or map field of the request (`check_table`).

`BoundsInterceptor` (after the access interceptor: an unauthenticated caller learns
nothing of the bounds) checks every request message, unary or each message of a stream, in
two steps. Its request deserializer compares the raw size with `max_bytes` before
anything is parsed; a message over it is refused naming the field that makes it large (a
bounded scan of the wire format, `largest_field`). A message within its size is parsed
and walked: every string, bytes, repeated and map field against its limit. A refused
message is `INVALID_ARGUMENT` with a field violation naming the field path and the limit,
never the value, before the handler runs (for a stream: before the handler sees that
message). The use cases keep their own, tighter checks and nicer messages; this is the
floor under them.

`max_receive_bytes` is the gRPC-level receive limit of a process: the largest bound of its
RPCs, and never below gRPC's 4 MiB default (so that a megabyte value is refused by this
interceptor, naming its field, rather than by the transport, naming nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from subsidy_platform.errors import FieldViolation, InvalidArgument, to_grpc_status
from subsidy_platform.method_handlers import rebuilt

KIB = 1024
MIB = 1024 * KIB
GRPC_DEFAULT_RECEIVE = 4 * MIB
"""gRPC's own default receive limit: the floor of every process's `max_receive_bytes`."""
MAX_VIOLATIONS = 5
"""At most this many fields are named in one refusal."""
SCAN_BUDGET = 20_000
"""At most this many wire-format fields are read to name the field of an oversized message."""
MESSAGE_TOO_LARGE = "要求が大きすぎます（{limit:,}バイトまで）"
STRING_TOO_LONG = "長すぎます（{limit:,}文字まで）"
BYTES_TOO_LONG = "大きすぎます（{limit:,}バイトまで）"
TOO_MANY_ITEMS = "件数が多すぎます（{limit:,}件まで）"
UNKNOWN_FIELD = "(unknown)"


@dataclass(frozen=True)
class FieldBound:
    """An override for one field path: `length` (characters of a string, bytes of a bytes
    value; of each element when repeated) and `items` (elements of a repeated field, entries
    of a map); None keeps the RPC's default."""

    length: int | None = None
    items: int | None = None

    def __post_init__(self) -> None:
        for value in (self.length, self.items):
            if value is not None and value < 0:
                raise ValueError(f"a field bound is never negative: {value}")


@dataclass(frozen=True)
class MessageBounds:
    """The bounds of one RPC's request messages (see the module docstring)."""

    max_bytes: int = 256 * KIB
    string: int = 8 * KIB
    binary: int = 64 * KIB
    items: int = 1_000
    entries: int = 1_000
    fields: Mapping[str, FieldBound] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.max_bytes <= 1024 * MIB:
            raise ValueError(f"max_bytes out of range: {self.max_bytes}")
        if min(self.string, self.binary, self.items, self.entries) < 0:
            raise ValueError("a default field limit is never negative")

    def length(self, path: str, kind: int) -> int:
        """The limit of a string (characters) or bytes value (bytes) at `path`."""
        override = self.fields.get(path)
        if override is not None and override.length is not None:
            return override.length
        return self.string if kind == FieldDescriptor.TYPE_STRING else self.binary

    def count(self, path: str, is_map: bool) -> int:
        """The limit of elements of a repeated field (entries of a map) at `path`."""
        override = self.fields.get(path)
        if override is not None and override.items is not None:
            return override.items
        return self.entries if is_map else self.items


DEFAULT = MessageBounds()
"""The bounds of every RPC that declares none."""


def bounds_table(service: str, methods: Mapping[str, MessageBounds]) -> dict[str, MessageBounds]:
    """Declare one service's bounds with short method names, as `access.rpc_roles` does:
    `bounds_table("subsidy.intake.v1.IntakeService", {"ImportLogoCsv": MessageBounds(...)})`."""
    return {f"/{service}/{method}": bounds for method, bounds in methods.items()}


def bounds_of(table: Mapping[str, MessageBounds], method: str) -> MessageBounds:
    """The bounds of `method`: declared, or `DEFAULT` (an RPC is never unbounded)."""
    return table.get(method, DEFAULT)


def max_receive_bytes(table: Mapping[str, MessageBounds]) -> int:
    """The gRPC receive limit of a process serving the RPCs of `table`."""
    return max([GRPC_DEFAULT_RECEIVE, DEFAULT.max_bytes, *(b.max_bytes for b in table.values())])


def request_type(method: str) -> Descriptor | None:
    """The request message of a full method name (`/pkg.Service/Method`) from the generated
    code's descriptor pool; None when the pool does not know it."""
    service, _, name = method.removeprefix("/").partition("/")
    try:
        found = descriptor_pool.Default().FindServiceByName(service)
    except KeyError:
        return None
    method_descriptor = found.methods_by_name.get(name)
    return None if method_descriptor is None else method_descriptor.input_type


def check_table(table: Mapping[str, MessageBounds]) -> None:
    """Refuse a table whose overrides do not name a bounded field of their RPC's request
    (ValueError): a misspelt path must fail when the server is built, not loosen nothing."""
    for method, bounds in table.items():
        descriptor = request_type(method)
        if descriptor is None:
            raise ValueError(f"{method}: no such RPC in the generated code")
        for path, override in bounds.fields.items():
            leaf = _field_at(descriptor, path)
            if leaf is None:
                raise ValueError(f"{method}: no field {path!r} in {descriptor.full_name}")
            bounded_length = leaf.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
            if override.length is not None and not bounded_length:
                raise ValueError(f"{method}: {path} is neither a string nor bytes")
            if override.items is not None and not leaf.is_repeated:
                raise ValueError(f"{method}: {path} is not repeated")
            if override.length is not None and override.length > bounds.max_bytes:
                raise ValueError(f"{method}: {path} may be longer than the message")


def _field_at(descriptor: Descriptor, path: str) -> FieldDescriptor | None:
    current: Descriptor | None = descriptor
    leaf: FieldDescriptor | None = None
    for name in path.split("."):
        if current is None:
            return None
        leaf = current.fields_by_name.get(name)
        if leaf is None:
            return None
        current = leaf.message_type if leaf.type == FieldDescriptor.TYPE_MESSAGE else None
    return leaf


# --- the walk of a parsed message -------------------------------------------------------------


def violations(message: Message, bounds: MessageBounds) -> list[FieldViolation]:
    """The fields of `message` beyond their limits (at most MAX_VIOLATIONS), by path with the
    index of each repeated element (`application.purchases[0].description`)."""
    found: list[FieldViolation] = []
    _walk(message, bounds, "", "", found)
    return found


def _walk(
    message: Message, bounds: MessageBounds, path: str, shown: str, found: list[FieldViolation]
) -> None:
    for descriptor, value in message.ListFields():
        if len(found) >= MAX_VIOLATIONS:
            return
        key = f"{path}{descriptor.name}"
        named = f"{shown}{descriptor.name}"
        is_map = (
            descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry
        )
        if descriptor.is_repeated:
            limit = bounds.count(key, is_map)
            if len(value) > limit:
                found.append(FieldViolation(named, TOO_MANY_ITEMS.format(limit=limit)))
                continue
            if is_map:
                _walk_map(descriptor, value, bounds, key, named, found)
                continue
            for index, element in enumerate(value):
                _check_one(descriptor, element, bounds, key, f"{named}[{index}]", found)
        else:
            _check_one(descriptor, value, bounds, key, named, found)


def _is_map(descriptor: FieldDescriptor) -> bool:
    entry = descriptor.message_type
    return entry is not None and bool(entry.GetOptions().map_entry)


def _walk_map(
    descriptor: FieldDescriptor,
    value: Any,
    bounds: MessageBounds,
    key: str,
    named: str,
    found: list[FieldViolation],
) -> None:
    entry = descriptor.message_type
    assert entry is not None
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    for map_key in value:
        _check_one(key_field, map_key, bounds, f"{key}.key", f"{named}.key", found)
        _check_one(value_field, value[map_key], bounds, f"{key}.value", f"{named}.value", found)


def _check_one(
    descriptor: FieldDescriptor,
    value: Any,
    bounds: MessageBounds,
    key: str,
    named: str,
    found: list[FieldViolation],
) -> None:
    if len(found) >= MAX_VIOLATIONS:
        return
    if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
        _walk(value, bounds, f"{key}.", f"{named}.", found)
    elif descriptor.type == FieldDescriptor.TYPE_STRING:
        limit = bounds.length(key, descriptor.type)
        if len(value) > limit:
            found.append(FieldViolation(named, STRING_TOO_LONG.format(limit=limit)))
    elif descriptor.type == FieldDescriptor.TYPE_BYTES:
        limit = bounds.length(key, descriptor.type)
        if len(value) > limit:
            found.append(FieldViolation(named, BYTES_TOO_LONG.format(limit=limit)))


# --- naming the field of an oversized message from its wire format -----------------------------


def largest_field(data: bytes, descriptor: Descriptor | None, budget: int = SCAN_BUDGET) -> str:
    """The path of the field taking the most bytes of a serialized message, descending into
    the largest occurrence of a message field (`application.applicant.address`,
    `purchases[3].description`); at most `budget` wire fields are read, so the cost is
    bounded whatever the message holds. Empty when nothing can be read."""
    view = memoryview(data)
    names: list[str] = []
    start, end = 0, len(view)
    while descriptor is not None and budget > 0:
        scan = _scan(view, start, end, budget)
        if scan is None:
            break
        number, occurrence, (inner_start, inner_end), budget = scan
        found = descriptor.fields_by_number.get(number)
        if found is None:
            names.append(UNKNOWN_FIELD)
            break
        names.append(f"{found.name}[{occurrence}]" if found.is_repeated else found.name)
        if found.type != FieldDescriptor.TYPE_MESSAGE or _is_map(found):
            break
        descriptor, start, end = found.message_type, inner_start, inner_end
    return ".".join(names)


_Scan = tuple[int, int, tuple[int, int], int]


def _scan(view: memoryview, start: int, end: int, budget: int) -> _Scan | None:
    """(field number with the most bytes, index of its largest occurrence, that occurrence's
    payload span, budget left); None for an empty or unreadable span."""
    totals: dict[int, int] = {}
    counts: dict[int, int] = {}
    largest: dict[int, tuple[int, int, int, int]] = {}  # number -> (size, index, span)
    position = start
    while position < end and budget > 0:
        budget -= 1
        began = position
        key, position = _varint(view, position, end)
        if key is None:
            break
        number, wire = key >> 3, key & 7
        payload = position
        if wire == 0:
            _, position = _varint(view, position, end)
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        elif wire == 2:
            length, payload = _varint(view, position, end)
            if length is None:
                break
            position = payload + length
        else:
            break
        position = min(position, end)
        size = position - began
        index = counts.get(number, 0)
        counts[number] = index + 1
        totals[number] = totals.get(number, 0) + size
        if size > largest.get(number, (-1, 0, 0, 0))[0]:
            largest[number] = (size, index, payload, position)
    if not totals:
        return None
    number = max(totals, key=lambda n: totals[n])
    _, index, payload, payload_end = largest[number]
    return number, index, (payload, payload_end), budget


def _varint(view: memoryview, position: int, end: int) -> tuple[int | None, int]:
    result, shift = 0, 0
    while position < end and shift < 64:
        byte = view[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
    return None, end


# --- the interceptor -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Oversized:
    """What the checking deserializer gives in place of a message over `max_bytes`."""

    data: bytes


class BoundsInterceptor(grpc.ServerInterceptor):
    """Refuse request messages beyond their RPC's bounds before the handler sees them."""

    def __init__(self, table: Mapping[str, MessageBounds]) -> None:
        check_table(table)
        self._table = dict(table)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return bounded(handler, bounds_of(self._table, method), request_type(method))


def bounded(
    handler: grpc.RpcMethodHandler[Any, Any],
    bounds: MessageBounds,
    descriptor: Descriptor | None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler` with its requests checked against `bounds` (see the module docstring)."""
    parse = handler.request_deserializer
    behavior = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    if behavior is None:
        raise ValueError("gRPC method handler without behaviour")

    def deserialize(data: bytes) -> Any:
        if len(data) > bounds.max_bytes:
            return _Oversized(data)
        return parse(data) if parse is not None else data

    def refusal(request: Any) -> InvalidArgument | None:
        if isinstance(request, _Oversized):
            where = largest_field(request.data, descriptor) or UNKNOWN_FIELD
            limit = bounds.max_bytes
            return InvalidArgument([FieldViolation(where, MESSAGE_TOO_LARGE.format(limit=limit))])
        if isinstance(request, Message):
            found = violations(request, bounds)
            if found:
                return InvalidArgument(found)
        return None

    def checked_stream(requests: Iterable[Any], refused: list[InvalidArgument]) -> Iterator[Any]:
        for request in requests:
            error = refusal(request)
            if error is not None:
                refused.append(error)
                raise error
            yield request

    if handler.request_streaming:

        def streamed(requests: Iterable[Any], context: grpc.ServicerContext) -> Any:
            refused: list[InvalidArgument] = []
            try:
                result = behavior(checked_stream(requests, refused), context)
                if handler.response_streaming:
                    result = _refusing_after(result, refused, context)
                elif refused:
                    context.abort_with_status(to_grpc_status(refused[0]))
                return result
            except InvalidArgument as error:
                if not refused or error is not refused[0]:
                    raise
                context.abort_with_status(to_grpc_status(error))

        return rebuilt(handler, streamed, deserialize)

    def single(request: Any, context: grpc.ServicerContext) -> Any:
        error = refusal(request)
        if error is not None:
            context.abort_with_status(to_grpc_status(error))
        return behavior(request, context)

    return rebuilt(handler, single, deserialize)


def _refusing_after(
    responses: Iterable[Any], refused: list[InvalidArgument], context: grpc.ServicerContext
) -> Iterator[Any]:
    try:
        yield from responses
    except InvalidArgument as error:
        if not refused or error is not refused[0]:
            raise
    if refused:
        context.abort_with_status(to_grpc_status(refused[0]))
