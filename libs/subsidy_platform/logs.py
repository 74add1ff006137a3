"""Structured JSON log lines on stderr (DESIGN.md principle 11), free of personal data.

One JSON object per line: time, level, logger, service, message, the trace and span id of the
current span (so a log line leads to its trace), and only those `extra=` keys listed in
`ALLOWED_EXTRA_KEYS`; any other extra key is dropped, so a record such as `extra={"name": ...}`
cannot leak. Personal data must not reach the message either (principle 7): string arguments
holding Japanese text (names, addresses) are replaced before formatting, e-mail addresses and
phone, account and postal numbers are masked in the formatted message, and an exception is
logged as its type and code locations without its message (database errors quote values).
Every argument, extra value and the formatted message are capped before they are scanned
(`telemetry.bounded`, 2 KiB, marked `[truncated]`), so a huge value costs linear time and
never fills the log.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import IO, Any

from opentelemetry import trace

from subsidy_platform.telemetry import (
    REDACTED,
    bounded,
    has_japanese_text,
    redact_contact_values,
)

ALLOWED_EXTRA_KEYS = frozenset(
    {
        "application_id",
        "request_id",
        "program_id",
        "batch_id",
        "import_id",
        "rpc",
        "status",
        "code",
        "role",
        "action",
        "user_id",
        "peer_service",
        "count",
        "rows",
        "seq",
        "attempt",
        "duration_ms",
        "port",
        "phase",
        "topic",
        "event_key",
    }
)
"""Keys that carry identifiers, counts and states, never a person's data."""

_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line without personal data."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "service": self.service,
            "message": redact_contact_values(_message(record)),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            document["trace_id"] = trace.format_trace_id(context.trace_id)
            document["span_id"] = trace.format_span_id(context.span_id)
        for key, value in vars(record).items():
            if key in ALLOWED_EXTRA_KEYS and key not in _RECORD_ATTRIBUTES:
                document[key] = _safe_value(value)
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, exc_traceback = record.exc_info
            document["exception"] = {
                "type": exc_type.__name__,
                "frames": [
                    f"{frame.filename}:{frame.lineno} in {frame.name}"
                    for frame in traceback.extract_tb(exc_traceback)
                ],
            }
        return json.dumps(document, ensure_ascii=False, default=str)


def _message(record: logging.LogRecord) -> str:
    message = str(record.msg)
    if not record.args:
        return message
    args = record.args
    if isinstance(args, tuple):
        safe: Any = tuple(_safe_argument(arg) for arg in args)
    else:
        safe = {key: _safe_argument(value) for key, value in args.items()}
    try:
        return str(message % safe)
    except (TypeError, ValueError, KeyError):
        return message


def _safe_argument(value: object) -> object:
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = bounded(str(value))
    return REDACTED if has_japanese_text(text) else text


def _safe_value(value: object) -> object:
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = bounded(str(value))
    return REDACTED if has_japanese_text(text) else redact_contact_values(text)


def setup_logging(
    service: str, *, level: int = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Send the root logger's records to stderr (or `stream`) as JSON lines; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler.formatter, JsonFormatter):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
