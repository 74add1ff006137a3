"""Event delivery through the transactional outbox, against direct RPC calls, in one run.

    .venv/bin/python bench/outbox.py [--rows 3000]

Starts its own embedded PostgreSQL and OpenBao (a temporary state folder, removed at the
end), intake and review servers over mutual TLS, then measures:

1. the outbox: one LoGoフォーム CSV of `--rows` applications is imported; intake's outbox
   relay delivers one `intake.application` event per application to review, which opens a
   case for each. Measured: events per second from the import's commit until review holds
   every case (relay reading and marking rows, the RPC, review's transaction);
2. the baseline: the same number of events (other application numbers) sent straight to
   review's ApplicationChanged RPC by one caller, one after the other, as the relay does.

The ratio (outbox / direct) is the cost of the outbox's bookkeeping; absolute numbers depend
on the machine. Results go to stdout and bench/out/outbox-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy import text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy.review.v1 import review_pb2_grpc
from subsidy_intake.logo_csv import mapping_for, to_logo_csv
from subsidy_intake.main import build as build_intake
from subsidy_intake.synthetic import online_applications
from subsidy_review.main import build as build_review

from subsidy_platform.config import STATE_ROOT, Settings
from subsidy_platform.db import make_engine
from subsidy_platform.declaration import declarations
from subsidy_platform.embedded import stop_infrastructure
from subsidy_platform.runtime import prepare
from subsidy_platform.staff_client import TestTokens
from subsidy_platform.tls import channel_credentials, client_identity
from subsidy_rules.program import get_program

PROGRAM = "shinjuku-2025"
CHUNK = 256 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(rows: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="bench-outbox-", dir=STATE_ROOT.parent))
    settings = Settings(state, None, None, None, None)
    try:
        environment = prepare(settings, [PROGRAM])
        addresses = {n: f"127.0.0.1:{free_port()}" for n in ("auth", *declarations())}
        programs = {PROGRAM: get_program(PROGRAM)}
        intake = build_intake(environment, programs, addresses["intake"], addresses=addresses)
        review = build_review(environment, programs, addresses["review"], addresses=addresses)
        admin = make_engine(environment.infrastructure.database_url)
        tokens = TestTokens.of(state, admin)
        try:
            data = to_logo_csv(
                online_applications(rows, 7, mapping_for(PROGRAM)), mapping_for(PROGRAM)
            )
            credentials = channel_credentials(environment.pki, client_identity("console"))
            with grpc.secure_channel(addresses["intake"], credentials) as channel:
                report = intake_pb2_grpc.IntakeServiceStub(channel).ImportLogoCsv(
                    _chunks(data), metadata=tokens.staff("operator"), timeout=900
                )
            committed = time.perf_counter()
            while _cases(admin) < report.imported:
                time.sleep(0.05)
            outbox_seconds = time.perf_counter() - committed
            direct_seconds = _direct(environment, addresses["review"], report.imported)
        finally:
            intake.stop(1.0)
            review.stop(1.0)
            admin.dispose()
        events = report.imported
        result = {
            "events": events,
            "outbox_events_per_second": events / outbox_seconds,
            "direct_events_per_second": events / direct_seconds,
            "ratio_outbox_over_direct": (events / outbox_seconds) / (events / direct_seconds),
            "outbox_seconds": outbox_seconds,
            "direct_seconds": direct_seconds,
        }
        return result
    finally:
        stop_infrastructure(settings)
        shutil.rmtree(state, ignore_errors=True)


def _cases(admin: Any) -> int:
    with admin.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM review.cases")).scalar_one())


def _direct(environment: Any, address: str, count: int) -> float:
    """The baseline: the same number of events straight to review, one caller, in order."""
    credentials = channel_credentials(environment.pki, "intake")  # intake's own identity
    today = datetime.now(UTC).date().isoformat()
    with grpc.secure_channel(address, credentials) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        started = time.perf_counter()
        for n in range(count):
            stub.ApplicationChanged(
                events_pb2.ApplicationEvent(
                    event_id=f"bench-{n}",
                    kind=events_pb2.ApplicationEvent.RECEIVED,
                    application_number=f"B2025-{n:06d}",
                    program_id=PROGRAM,
                    received_on=today,
                    channel=common_pb2.ONLINE,
                ),
                timeout=30,
            )
        return time.perf_counter() - started


def _chunks(data: bytes) -> Any:
    yield intake_pb2.ImportLogoCsvRequest(
        header=intake_pb2.ImportLogoCsvRequest.Header(program_id=PROGRAM, file_name="bench.csv")
    )
    for start in range(0, len(data), CHUNK):
        yield intake_pb2.ImportLogoCsvRequest(chunk=data[start : start + CHUNK])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args()
    result = run(args.rows)
    for key, value in result.items():
        print(f"{key:28} {value:,.2f}" if isinstance(value, float) else f"{key:28} {value}")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"outbox-{stamp}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
