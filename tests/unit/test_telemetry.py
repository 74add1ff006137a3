"""Traces and logs carry what operators need and no personal data (DESIGN.md 7 and 11)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import create_engine, text

from subsidy_platform.config import Settings
from subsidy_platform.logs import setup_logging
from subsidy_platform.telemetry import (
    MAX_SCANNED_LENGTH,
    REDACTED,
    TRUNCATED,
    instrument_engine,
    instrument_grpc_client,
    instrument_grpc_server,
    redact_contact_values,
    scrub_attributes,
    scrub_status,
    setup_telemetry,
)

PLANTED = (
    "新宿 太郎",
    "シンジュク タロウ",
    "taro@example.jp",
    "03-1234-5678",
    "1234567",
    "1980-01-02",
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path,
        database_url=None,
        vault_addr=None,
        vault_token=None,
        otel_endpoint=None,
    )


@pytest.fixture
def provider(settings: Settings) -> Iterator[TracerProvider]:
    provider = setup_telemetry("intake", settings, set_global=False)
    yield provider
    provider.shutdown()


def _spans(provider: TracerProvider, settings: Settings) -> tuple[str, list[dict[str, Any]]]:
    provider.force_flush()
    raw = (settings.state_dir / "traces" / "intake.jsonl").read_text(encoding="utf-8")
    return raw, [json.loads(line) for line in raw.splitlines()]


def test_a_span_with_personal_attributes_is_written_without_them(
    provider: TracerProvider, settings: Settings
) -> None:
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span("SubmitApplication") as span:
        span.set_attribute("application_id", "S2025-000001")
        span.set_attribute("applicant.name", "新宿 太郎")
        span.set_attribute("name_kana", "シンジュク タロウ")
        span.set_attribute("birth_date", "1980-01-02")
        span.set_attribute("contact.email", "taro@example.jp")
        span.set_attribute("bank.account_number", "1234567")
        span.set_attribute("detail", "折り返し先 03-1234-5678")
        span.set_attribute("rpc.method", "SubmitApplication")
        span.record_exception(ValueError("Key (email)=(taro@example.jp) already exists"))

    raw, spans = _spans(provider, settings)

    assert not [value for value in PLANTED if value in raw]
    (written,) = spans
    assert written["attributes"]["application_id"] == "S2025-000001"
    assert written["attributes"]["rpc.method"] == "SubmitApplication"
    assert written["attributes"]["applicant.name"] == REDACTED
    assert written["attributes"]["detail"] == REDACTED
    assert written["events"][0]["attributes"]["exception.type"] == "ValueError"
    assert written["events"][0]["attributes"]["exception.message"] == REDACTED


def test_sql_spans_hold_the_statement_but_never_its_parameters(
    provider: TracerProvider, settings: Settings
) -> None:
    engine = create_engine("sqlite://")
    instrument_engine(engine, provider)
    with engine.connect() as connection:
        connection.execute(text("SELECT :email AS email"), {"email": "taro@example.jp"})
    engine.dispose()

    raw, spans = _spans(provider, settings)

    assert "taro@example.jp" not in raw
    (statement,) = [span for span in spans if span["kind"] == "CLIENT"]
    assert statement["attributes"]["db.statement"].startswith("SELECT ?")


def _identity(message: bytes) -> bytes:
    return message


def _echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    logging.getLogger("echo").info("answering")
    return request


def test_client_and_server_spans_of_one_grpc_call_share_one_trace(
    provider: TracerProvider, settings: Settings
) -> None:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2),
        interceptors=[instrument_grpc_server(provider)],
    )
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Say": grpc.unary_unary_rpc_method_handler(_echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as plain:
            channel = instrument_grpc_client(plain, provider)
            say = channel.unary_unary("/test.Echo/Say", _identity, _identity)
            assert say(b"ping", timeout=5) == b"ping"
    finally:
        server.stop(grace=None)

    _, spans = _spans(provider, settings)

    (client,) = [span for span in spans if span["kind"] == "CLIENT"]
    (server_span,) = [span for span in spans if span["kind"] == "SERVER"]
    assert server_span["trace_id"] == client["trace_id"]
    assert server_span["parent"] == client["span_id"]
    assert server_span["name"] == "/test.Echo/Say"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging("intake", stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_log_lines_are_json_and_carry_the_trace_id(
    provider: TracerProvider, log_stream: io.StringIO
) -> None:
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span("SubmitApplication") as span:
        logging.getLogger("subsidy_intake.service").info(
            "stored %s applications", 3, extra={"application_id": "S2025-000001"}
        )
    context = span.get_span_context()

    line = json.loads(log_stream.getvalue())

    assert line["message"] == "stored 3 applications"
    assert line["level"] == "INFO"
    assert line["logger"] == "subsidy_intake.service"
    assert line["application_id"] == "S2025-000001"
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"


def test_log_lines_drop_unknown_extra_keys_and_mask_personal_values(
    log_stream: io.StringIO,
) -> None:
    logger = logging.getLogger("subsidy_intake.service")
    logger.warning(
        "duplicate of %s, mail %s", "新宿 太郎", "taro@example.jp", extra={"holder": "シンジユク"}
    )
    try:
        raise ValueError("Key (phone)=(03-1234-5678) already exists")
    except ValueError:
        logger.exception("could not store")

    raw = log_stream.getvalue()
    first, second = (json.loads(line) for line in raw.splitlines())

    assert not [value for value in PLANTED if value in raw]
    assert "シンジユク" not in raw
    assert "holder" not in first
    assert first["message"] == f"duplicate of {REDACTED}, mail {REDACTED}"
    assert second["exception"]["type"] == "ValueError"
    assert "trace_id" not in first


MIB = 2**20
CAPPED = MAX_SCANNED_LENGTH + len(TRUNCATED)


def test_a_1_mib_id_in_a_span_is_written_capped_and_marked_truncated(
    provider: TracerProvider, settings: Settings
) -> None:
    huge = "S2025-" + "0" * MIB
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span("GetApplication") as span:
        span.set_attribute("application_id", huge)
        span.set_attribute("lookup.keys", [huge, "S2025-000001"])
        span.set_status(Status(StatusCode.ERROR, f"NotFound: no application {huge}"))
        span.record_exception(LookupError(f"no application {huge}"))

    raw, (written,) = _spans(provider, settings)

    assert len(raw) < 4 * CAPPED
    kept = written["attributes"]["application_id"]
    assert kept.endswith(TRUNCATED) and len(kept) <= CAPPED
    assert written["attributes"]["lookup.keys"][1] == "S2025-000001"
    assert written["status"]["description"] == "NotFound"
    assert written["events"][0]["attributes"]["exception.message"] == REDACTED


def test_a_value_cut_at_the_cap_keeps_no_part_of_an_address_it_cut_in_half() -> None:
    words = "see " * (MAX_SCANNED_LENGTH // 4 - 2)
    value = words + "taro@example.jp and more"  # the address straddles the cap
    assert len(words) < MAX_SCANNED_LENGTH < len(words) + len("taro@example.jp")

    kept = scrub_attributes({"detail": value})["detail"]
    logged = redact_contact_values(value)

    assert kept == logged == words + TRUNCATED
    assert scrub_attributes({"detail": "折り返し " + value}) == {"detail": REDACTED}


def test_a_1_mib_log_argument_gives_a_capped_line(log_stream: io.StringIO) -> None:
    logging.getLogger("subsidy_intake.service").warning(
        "no application %s", "S2025-" + "0" * MIB, extra={"application_id": "A" * MIB}
    )

    line = json.loads(log_stream.getvalue())

    assert line["message"].endswith(TRUNCATED) and len(line["message"]) <= CAPPED
    assert line["application_id"].endswith(TRUNCATED)


ADVERSARIAL_SCRUB = textwrap.dedent(
    """
    from opentelemetry.trace import Status, StatusCode
    from subsidy_platform import telemetry
    from subsidy_platform.logs import JsonFormatter
    import logging

    MIB = 2**20
    inputs = ["a" * MIB, "a@a." * (MIB // 4), "a@" * (MIB // 2), "0" * MIB, "0-0-" * (MIB // 4)]
    for value in inputs:
        telemetry._CONTACT_VALUE.search(value)  # every pattern is bounded, even uncapped
        assert len(telemetry.scrub_attributes({"id": value})["id"]) <= 2 * telemetry.MAX_SCANNED_LENGTH
        telemetry.scrub_status(Status(StatusCode.ERROR, value))
        telemetry.redact_contact_values(value)
        telemetry.looks_personal(value)
        record = logging.LogRecord("x", logging.ERROR, "x", 1, "failed %s", (value,), None)
        JsonFormatter("intake").format(record)
    print("scrubbed", len(inputs))
    """
)


def test_scrubbing_adversarial_1_mib_values_finishes_instead_of_hanging() -> None:
    # A regular expression holds the GIL for as long as it runs, so a thread could not be
    # abandoned after a timeout: the scrubbing runs in a child process that is killed if it
    # has not finished within 30 seconds (with bounded patterns it takes well under one).
    try:
        finished = subprocess.run(
            [sys.executable, "-c", ADVERSARIAL_SCRUB],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("scrubbing 1 MiB of adversarial input did not finish within 30 seconds")
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "scrubbed 5"


def test_a_status_description_that_names_only_an_error_is_kept() -> None:
    assert scrub_status(Status(StatusCode.ERROR, "IntegrityError")).description == "IntegrityError"
    long_name = scrub_status(Status(StatusCode.ERROR, "E" * MIB + ": taro@example.jp"))
    assert long_name.description == "E" * MAX_SCANNED_LENGTH
