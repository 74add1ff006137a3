"""Intake throughput and latency through gRPC, against plain psycopg inserts, in one run.

    .venv/bin/python bench/intake.py [--requests 600] [--import-rows 7000]

Starts its own embedded PostgreSQL and OpenBao (a temporary state folder, removed at the
end) and an intake server over mutual TLS, then measures:

1. SubmitApplication through gRPC at concurrency 1, 8 and 32: submissions per second and
   p50 / p99 latency, with validation, normalisation, Vault encryption and blind indexes,
   duplicate detection, the audit chain and PostgreSQL;
2. the baseline: the same number of rows inserted directly with psycopg (one transaction
   per row, plaintext, same concurrency) into a scratch table of the same shape;
3. one LoGoフォーム CSV of `--import-rows` applications imported through the streamed RPC.

The ratios (ours / baseline) are the result; absolute numbers depend on the machine.
Results go to stdout and bench/out/intake-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import psycopg
from sqlalchemy import make_url
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy_intake.convert import record_to_proto
from subsidy_intake.logo_csv import mapping_for, to_logo_csv
from subsidy_intake.main import build
from subsidy_intake.synthetic import online_applications

from subsidy_platform.config import STATE_ROOT, Settings
from subsidy_platform.db import make_engine
from subsidy_platform.embedded import stop_infrastructure
from subsidy_platform.runtime import prepare
from subsidy_platform.staff_client import TestTokens
from subsidy_platform.tls import channel_credentials, client_identity
from subsidy_rules.program import get_program

PROGRAM = "shinjuku-2025"
CONCURRENCY = (1, 8, 32)


def timed(calls: Sequence[Callable[[], object]], concurrency: int) -> dict[str, float]:
    """Run calls with `concurrency` workers; throughput and latency percentiles (ms)."""
    latencies: list[float] = []

    def one(call: Callable[[], object]) -> None:
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, calls))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "per_second": len(calls) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "seconds": elapsed,
    }


BASELINE_DDL = """
CREATE TABLE IF NOT EXISTS public.bench_applications (
    id bigserial PRIMARY KEY, application_number text, program_id text, channel text,
    received_on date, status text, name text, name_kana text, birth_date text, phone text,
    email text, postal_code text, address text, purchases jsonb, pledges jsonb,
    bank_code text, branch_code text, account_number text, account_holder text)
"""
BASELINE_INSERT = """
INSERT INTO public.bench_applications (application_number, program_id, channel, received_on, status,
    name, name_kana, birth_date, phone, email, postal_code, address, purchases, pledges, bank_code,
    branch_code, account_number, account_holder)
VALUES (%s, %s, %s, %s, 'RECEIVED', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def baseline_calls(
    conninfo: str, records: Sequence[dict[str, Any]]
) -> tuple[list[Callable[[], object]], Callable[[], None]]:
    """Direct psycopg inserts of the same rows (a connection per worker thread)."""
    import threading

    local = threading.local()
    opened: list[psycopg.Connection[Any]] = []
    lock = threading.Lock()

    def connection() -> psycopg.Connection[Any]:
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(conninfo, autocommit=True)
            with lock:
                opened.append(local.conn)
        return local.conn  # type: ignore[no-any-return]

    def insert(n: int, record: dict[str, Any]) -> Callable[[], object]:
        a, b = record["applicant"], record.get("bank_account") or {}
        row = (
            f"B-{n:07d}",
            PROGRAM,
            record["channel"],
            record["received_on"],
            a["name"],
            a["name_kana"],
            a["birth_date"],
            a.get("phone"),
            a.get("email"),
            a["postal_code"],
            a["address"],
            json.dumps(record["purchases"]),
            json.dumps(record["pledges"]),
            b.get("bank_code"),
            b.get("branch_code"),
            b.get("number"),
            b.get("holder_kana"),
        )
        return lambda: connection().execute(BASELINE_INSERT, row)

    def close() -> None:
        for conn in opened:
            conn.close()

    return [insert(n, r) for n, r in enumerate(records)], close


def run(requests: int, import_rows: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="subsidy-bench-", dir=STATE_ROOT.parent))
    settings = Settings(
        state_dir=state,
        database_url=os.environ.get("DATABASE_URL") or None,
        vault_addr=None,
        vault_token=None,
        otel_endpoint=None,
    )
    results: dict[str, Any] = {
        "requests_per_level": requests,
        "import_rows": import_rows,
        "cpu_count": os.cpu_count(),
        "when": datetime.now().isoformat(timespec="seconds"),
    }
    environment = prepare(settings, [PROGRAM])
    process = build(environment, {PROGRAM: get_program(PROGRAM)})
    try:
        accounts = make_engine(environment.infrastructure.database_url)
        tokens = TestTokens.of(state, accounts)
        metadata = tokens.staff("operator", "bench-operator")
        # one operator per worker: a caller has at most `per_caller` calls in flight
        # (subsidy_platform.call_limits), as many operators keying at once would
        operators = [
            tokens.staff("operator", f"bench-operator-{k}") for k in range(max(CONCURRENCY))
        ]
        accounts.dispose()
        credentials = channel_credentials(environment.pki, client_identity("console"))
        pool = online_applications(
            requests * len(CONCURRENCY) + import_rows, 31, mapping_for(PROGRAM)
        )
        submits, imports = pool[: requests * len(CONCURRENCY)], pool[requests * len(CONCURRENCY) :]
        conninfo = (
            make_url(environment.infrastructure.database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(BASELINE_DDL)
        with grpc.secure_channel(f"localhost:{process.port}", credentials) as channel:
            stub = intake_pb2_grpc.IntakeServiceStub(channel)
            for level, concurrency in enumerate(CONCURRENCY):
                batch = submits[level * requests : (level + 1) * requests]
                ours = timed(
                    [
                        _submit(stub, operators[n % concurrency], f"bench-{level}-{n}", r)
                        for n, r in enumerate(batch)
                    ],
                    concurrency,
                )
                calls, close = baseline_calls(conninfo, batch)
                try:
                    plain = timed(calls, concurrency)
                finally:
                    close()
                results[f"concurrency_{concurrency}"] = {
                    "ours": ours,
                    "psycopg": plain,
                    "throughput_ratio": plain["per_second"] / ours["per_second"],
                }
            data = to_logo_csv(imports, mapping_for(PROGRAM))
            started = time.perf_counter()
            report = stub.ImportLogoCsv(_chunks(data), metadata=metadata, timeout=600)
            results["logo_import"] = {
                "rows": import_rows,
                "committed": report.committed,
                "imported": report.imported,
                "seconds": time.perf_counter() - started,
            }
    finally:
        process.stop(grace=1)
        stop_infrastructure(settings)
        shutil.rmtree(state, ignore_errors=True)
    return results


def _submit(
    stub: intake_pb2_grpc.IntakeServiceStub, metadata: Any, request_id: str, record: dict[str, Any]
) -> Callable[[], object]:
    request = intake_pb2.SubmitApplicationRequest(
        request_id=request_id, program_id=PROGRAM, application=record_to_proto(record)
    )
    return lambda: stub.SubmitApplication(request, metadata=metadata, timeout=60)


def _chunks(data: bytes) -> Iterator[intake_pb2.ImportLogoCsvRequest]:
    yield intake_pb2.ImportLogoCsvRequest(
        header=intake_pb2.ImportLogoCsvRequest.Header(program_id=PROGRAM, file_name="bench.csv")
    )
    for start in range(0, len(data), 256 * 1024):
        yield intake_pb2.ImportLogoCsvRequest(chunk=data[start : start + 256 * 1024])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=600, help="submissions per concurrency level"
    )
    parser.add_argument("--import-rows", type=int, default=7000)
    args = parser.parse_args()
    results = run(args.requests, args.import_rows)
    print(
        f"{'concurrency':>11} {'ours/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'psycopg/s':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'ratio':>7}"
    )
    for concurrency in CONCURRENCY:
        row = results[f"concurrency_{concurrency}"]
        ours, plain = row["ours"], row["psycopg"]
        print(
            f"{concurrency:>11} {ours['per_second']:>9.0f} {ours['p50_ms']:>8.1f} {ours['p99_ms']:>8.1f} "
            f"{plain['per_second']:>10.0f} {plain['p50_ms']:>8.1f} {plain['p99_ms']:>8.1f} "
            f"{row['throughput_ratio']:>6.1f}x"
        )
    imported = results["logo_import"]
    print(
        f"LoGo CSV import: {imported['imported']:,} of {imported['rows']:,} rows in {imported['seconds']:.1f} s "
        f"(committed={imported['committed']})"
    )
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    path = out / f"intake-{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
