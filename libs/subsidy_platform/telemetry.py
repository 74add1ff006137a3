"""OpenTelemetry traces across every RPC and SQL statement (DESIGN.md principle 11).

`setup_telemetry` builds a TracerProvider that exports over OTLP when
`OTEL_EXPORTER_OTLP_ENDPOINT` is configured and otherwise appends one JSON object per span to
`<state_dir>/traces/<service>.jsonl`. Spans never carry personal data (principle 7): every span
passes through `PersonalDataScrubber` before export, which masks attributes whose key names a
personal-data field (`name`, `birth_date`, `account_number`, ...) or whose value looks like one
(an e-mail address, a phone or account number, Japanese text), keeps only the type and the code
location of recorded exceptions (database errors quote the offending values), and cuts status
descriptions down to the error's name. SQL spans carry the statement text only; bind
parameters are never recorded.

The scrubber must never be the slow part of a request, whatever a caller puts into an id or
an error message (issue "Hardening", finding 1): every value is cut to `MAX_SCANNED_LENGTH`
(2 KiB) before it is scanned, marked `[truncated]` (a value-like run of characters cut at the
limit is dropped too, so half an e-mail address never survives the cut), and every pattern
has bounded repetitions (an e-mail's local part at most 64 characters, at most 8 labels of
at most 63 after the `@`, as RFC 5321 allows), so scanning is linear in the capped length. `instrument_grpc_server`, `instrument_grpc_client` and
`instrument_engine` attach the instrumentation to one server, channel or engine, so nothing
is patched globally or at import time.
"""

from __future__ import annotations

import functools
import json
import os
import re
import string
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.grpc import (
    client_interceptor,
    server_interceptor,
)
from opentelemetry.instrumentation.grpc.grpcext import (
    intercept_channel,
)
from opentelemetry.instrumentation.sqlalchemy.engine import (
    EngineTracer,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AttributeValue
from sqlalchemy import Engine

from subsidy_platform.config import Settings

REDACTED = "[redacted]"

PERSONAL_KEYS = frozenset(
    {
        "name",
        "name_kana",
        "kana",
        "head_name",
        "birth_date",
        "birthday",
        "date_of_birth",
        "phone",
        "tel",
        "email",
        "mail",
        "address",
        "postal_code",
        "zip",
        "holder",
        "holder_kana",
        "account",
        "account_number",
        "summary",
        "free_text",
        "note",
        "notes",
        "password",
        "token",
        "authorization",
        "secret",
        "plaintext",
        "my_number",
    }
)
"""Key words naming personal data (or secrets); `applicant.name`, `holder_kana` match too."""

SAFE_KEYS = frozenset(
    {
        "db.name",
        "db.namespace",
        "db.user",
        "db.system",
        "db.system.name",
        "db.statement",
        "db.query.text",
        "db.operation",
        "db.operation.name",
        "net.peer.name",
        "net.peer.ip",
        "net.peer.port",
        "net.sock.peer.addr",
        "server.address",
        "server.port",
        "client.address",
        "client.port",
        "network.peer.address",
        "network.peer.port",
        "rpc.system",
        "rpc.service",
        "rpc.method",
        "rpc.grpc.status_code",
        "rpc.user_agent",
        "exception.type",
        "exception.escaped",
        "service.name",
    }
)
"""Semantic-convention keys that contain a personal key word but name no personal data.

Their values are still checked."""

MAX_SCANNED_LENGTH = 2048
"""Characters of one value (attribute, status description, log message) that are scanned and
kept; the rest is cut off before scanning and the value marked with `TRUNCATED`."""
MAX_CODE_LOCATIONS = 64
"""Innermost `File ...` lines of a recorded exception's traceback that are kept."""
TRUNCATED = " [truncated]"

# Every repetition is bounded: each start position costs at most a constant amount of work,
# so a scan is linear in the (capped) length of its input.
_CONTACT_VALUE = re.compile(
    r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}"  # e-mail address
    r"|(?<![\w-])0\d{1,4}-\d{1,4}-\d{3,4}(?![\w-])"  # phone number with hyphens
    r"|(?<![\w-])0\d{9,10}(?![\w-])"  # phone number without hyphens
    r"|(?<![\w-])\d{7}(?![\w-])"  # bank account number
    r"|(?<![\w-])\d{3}-\d{4}(?![\w-])",  # postal code
    re.ASCII,
)
_JAPANESE_TEXT = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff01-\uff9f]")
_SAFE_DESCRIPTION = re.compile(r"^[A-Za-z_][\w.]*$")
_VALUE_CHARACTERS = string.ascii_letters + string.digits + "_.+-@"
"""The characters the contact patterns are made of (they match in ASCII mode)."""


def bounded(text: str, limit: int = MAX_SCANNED_LENGTH) -> str:
    """The text itself, or its first `limit` characters marked `TRUNCATED`.

    A run of value characters at the cut is dropped with the rest: it may be the first half
    of an e-mail address or a phone number that the scan could no longer recognise."""
    if len(text) <= limit:
        return text
    return text[:limit].rstrip(_VALUE_CHARACTERS) + TRUNCATED


@functools.lru_cache(maxsize=4096)
def is_personal_key(key: str) -> bool:
    """Whether an attribute key names personal data (a deny-list word as a key segment).

    Cached: spans repeat a small set of attribute keys."""
    if key in SAFE_KEYS:
        return False
    for segment in re.split(r"[.\-/]", key.lower()):
        for word in PERSONAL_KEYS:
            if segment == word or segment.endswith("_" + word) or segment.startswith(word + "_"):
                return True
    return False


def looks_personal(value: str) -> bool:
    """Whether a string looks like personal data (e-mail, phone, account, Japanese text).

    Only the first `MAX_SCANNED_LENGTH` characters are looked at: callers keep no more."""
    value = bounded(value)
    return _CONTACT_VALUE.search(value) is not None or has_japanese_text(value)


def has_japanese_text(value: str) -> bool:
    """Whether a string holds kana, kanji or full-width forms (names and addresses do)."""
    return _JAPANESE_TEXT.search(value) is not None


def redact_contact_values(text: str) -> str:
    """The text, capped (`bounded`), with e-mail addresses, phone, account and postal
    numbers replaced."""
    return _CONTACT_VALUE.sub(REDACTED, bounded(text))


def scrub_attributes(attributes: Mapping[str, AttributeValue] | None) -> dict[str, AttributeValue]:
    """A copy with personal keys and personal-looking values replaced by `REDACTED`; long
    strings are kept capped (`bounded`)."""
    scrubbed: dict[str, AttributeValue] = {}
    for key, value in (attributes or {}).items():
        if is_personal_key(key):
            scrubbed[key] = REDACTED
            continue
        capped = _bounded_value(value)
        scrubbed[key] = REDACTED if _value_is_personal(capped) else capped
    return scrubbed


def _bounded_value(value: AttributeValue) -> AttributeValue:
    if isinstance(value, str):
        return bounded(value)
    if (
        isinstance(value, Sequence)
        and not isinstance(value, bytes)
        and all(isinstance(item, str) for item in value)
    ):
        return tuple(bounded(str(item)) for item in value)
    return value


def _value_is_personal(value: AttributeValue) -> bool:
    if isinstance(value, str):
        return looks_personal(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes | str):
        return any(isinstance(item, str) and looks_personal(item) for item in value)
    return False


def _scrub_event(event: Event) -> Event:
    attributes = scrub_attributes(event.attributes)
    if event.name == "exception":
        if "exception.message" in attributes:
            attributes["exception.message"] = REDACTED
        stacktrace = (event.attributes or {}).get("exception.stacktrace")
        if isinstance(stacktrace, str):
            attributes["exception.stacktrace"] = _code_locations(stacktrace)
    return Event(event.name, attributes, event.timestamp)


def _code_locations(stacktrace: str) -> str:
    """The innermost `File ..., line ..., in ...` lines of a traceback: no messages, no source
    lines, each line capped."""
    locations = [line for line in stacktrace.splitlines() if line.startswith("  File ")]
    return "\n".join(bounded(line, 512) for line in locations[-MAX_CODE_LOCATIONS:])


def scrub_status(status: Status) -> Status:
    """Keep an error's name (`StatusCode.NOT_FOUND`, `IntegrityError`), never its message."""
    description = status.description
    if description is None or (
        len(description) <= MAX_SCANNED_LENGTH and _SAFE_DESCRIPTION.match(description)
    ):
        return status
    head = description[:MAX_SCANNED_LENGTH].split(":", 1)[0].strip()
    return Status(status.status_code, head if _SAFE_DESCRIPTION.match(head) else REDACTED)


def scrub_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of a finished span with no personal data in attributes, events, links or status."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=scrub_attributes(span.attributes),
        events=[_scrub_event(event) for event in span.events],
        links=[Link(link.context, scrub_attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=scrub_status(span.status),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class PersonalDataScrubber(SpanProcessor):
    """Hands every finished span, scrubbed, to the processor that exports it."""

    def __init__(self, delegate: SpanProcessor) -> None:
        self._delegate = delegate

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._delegate.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self._delegate.on_end(scrub_span(span))

    def shutdown(self) -> None:
        self._delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._delegate.force_flush(timeout_millis)


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per span to a file (mode 0600), for runs without a collector."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(
            json.dumps(span_to_json(span), ensure_ascii=False, separators=(",", ":")) + "\n"
            for span in spans
        )
        with self._lock:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as file:
                file.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing is held open between exports."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_to_json(span: ReadableSpan) -> dict[str, Any]:
    """The JSON-lines record of one span."""
    context = span.get_span_context()
    if context is None:
        raise ValueError("span without a context")
    return {
        "service": span.resource.attributes.get(SERVICE_NAME),
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
        "parent": trace.format_span_id(span.parent.span_id) if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start": _iso(span.start_time),
        "end": _iso(span.end_time),
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "attributes": _json_attributes(span.attributes),
        "events": [
            {
                "name": event.name,
                "at": _iso(event.timestamp),
                "attributes": _json_attributes(event.attributes),
            }
            for event in span.events
        ],
    }


def _json_attributes(attributes: Mapping[str, AttributeValue] | None) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, tuple | list) else value
        for key, value in (attributes or {}).items()
    }


def _iso(nanoseconds: int | None) -> str | None:
    if nanoseconds is None:
        return None
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="microseconds")


def setup_telemetry(
    service_name: str, settings: Settings, *, set_global: bool = True
) -> TracerProvider:
    """The service's tracer provider, exporting to OTLP or to the local JSON-lines file.

    With `set_global` (the default, for a service's main) it also becomes the process-wide
    provider that the instrumentation helpers use when given none.
    """
    exporter: SpanExporter
    if settings.otel_endpoint:
        exporter = OTLPSpanExporter(
            endpoint=settings.otel_endpoint,
            insecure=settings.otel_endpoint.startswith("http://"),
        )
    else:
        exporter = JsonLinesSpanExporter(settings.state_dir / "traces" / f"{service_name}.jsonl")
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(PersonalDataScrubber(BatchSpanProcessor(exporter)))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def instrument_grpc_server(tracer_provider: TracerProvider | None = None) -> grpc.ServerInterceptor:
    """The interceptor that opens a SERVER span per call; put it first in the server's list."""
    interceptor: grpc.ServerInterceptor = server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider
    )
    return interceptor


def instrument_grpc_client(
    channel: grpc.Channel, tracer_provider: TracerProvider | None = None
) -> grpc.Channel:
    """The channel wrapped so that each call opens a CLIENT span and propagates the trace."""
    interceptor = client_interceptor(tracer_provider=tracer_provider)  # type: ignore[no-untyped-call]
    wrapped: grpc.Channel = intercept_channel(channel, interceptor)  # type: ignore[no-untyped-call]
    return wrapped


def instrument_engine(engine: Engine, tracer_provider: TracerProvider | None = None) -> None:
    """Open a CLIENT span per SQL statement on this engine: statement text, no parameters."""
    tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
    connections_usage = metrics.get_meter(__name__).create_up_down_counter(
        name="db.client.connections.usage", unit="connections"
    )
    EngineTracer(  # type: ignore[no-untyped-call]
        tracer, engine, connections_usage, enable_commenter=False
    )


def shutdown(tracer_provider: TracerProvider | None = None) -> None:
    """Flush pending spans and stop exporting (the given or the global SDK provider)."""
    provider = tracer_provider or trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()
        provider.shutdown()
