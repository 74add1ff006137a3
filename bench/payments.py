"""Payment instructions into a 全銀 transfer file, against plain string formatting, in one run.

    .venv/bin/python bench/payments.py [--sizes 7000,100000]

Starts its own embedded PostgreSQL and OpenBao (a temporary state folder, removed at the
end) and a payments server over mutual TLS. For each size N it stores N grants and their
PENDING instructions (accounts encrypted under the program's bank key in envelope batches
of 500, as intake's submissions and imports seal them), then times one `BuildBatch` RPC
that takes all N: the pool claimed with row locks, every account decrypted through Vault,
payee names converted, bank and branch names looked up, the 120-byte records written and
checked, the file's SHA-256, the file encrypted and stored, the instructions moved into
the batch. The baseline writes the same records from the same plaintext with plain
f-strings and `str.encode` (no database, no Vault, no checks). The ratio (ours / baseline
seconds) is the result; absolute numbers depend on the machine. Results go to stdout and
bench/out/payments-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import hvac
import psycopg
from sqlalchemy import make_url
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc
from subsidy_payments.calendar_jp import next_bank_business_day
from subsidy_payments.main import build

from subsidy_platform.config import STATE_ROOT, Settings
from subsidy_platform.crypto import DataClass, FieldCipher
from subsidy_platform.db import make_engine
from subsidy_platform.embedded import stop_infrastructure
from subsidy_platform.runtime import prepare
from subsidy_platform.staff_client import TestTokens
from subsidy_platform.tls import channel_credentials, client_identity
from subsidy_platform.ward_clock import ward_today
from subsidy_rules.program import get_program

PROGRAM = "shinjuku-2025"
SEAL_BATCH = 500
HOLDER = "ｼﾝｼﾞﾕｸ ﾀﾛｳ"


def accounts(n: int, offset: int) -> list[tuple[str, str, str, int]]:
    """(application number, account number, holder kana, amount) of n synthetic grants."""
    return [
        (f"B{offset + k:09d}", f"{(offset + k) * 7 % 10_000_000:07d}", "シンジュク タロウ", 20000)
        for k in range(n)
    ]


def store(conninfo: str, cipher: FieldCipher, rows: list[tuple[str, str, str, int]]) -> None:
    sealed: list[str | None] = []
    for start in range(0, len(rows), SEAL_BATCH):
        chunk = rows[start : start + SEAL_BATCH]
        sealed += cipher.encrypt(DataClass.BANK, [r[1] for r in chunk] + [r[2] for r in chunk])
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO payments.program_limits VALUES (%s, 20000, 1000) ON CONFLICT DO NOTHING",
            (PROGRAM,),
        )
        with conn.cursor().copy(
            "COPY payments.grants (application_number, program_id, amount, decision_number, "
            "decided_on) FROM STDIN"
        ) as copy:
            for number, _, _, amount in rows:
                copy.write_row((number, PROGRAM, amount, f"D-{number}", date(2025, 7, 1)))
        with conn.cursor().copy(
            "COPY payments.instructions (program_id, application_number, amount, cap, unit, "
            "bank_code, branch_code, account_type, account_number_ct, account_holder_ct, "
            "account_version) FROM STDIN"
        ) as copy:
            for start in range(0, len(rows), SEAL_BATCH):
                chunk = rows[start : start + SEAL_BATCH]
                part = sealed[start * 2 : start * 2 + 2 * len(chunk)]
                for k, (number, _, _, amount) in enumerate(chunk):
                    copy.write_row(
                        (PROGRAM, number, amount, 20000, 1000, "0001", "001", "ordinary",
                         part[k], part[len(chunk) + k], 1)
                    )  # fmt: skip


def baseline(rows: list[tuple[str, str, str, int]], day: date) -> tuple[float, int]:
    """The same records with plain string formatting (no database, no Vault, no checks)."""
    started = time.perf_counter()
    head = (
        f"1210{'1310400001'}{'ｼﾝｼﾞﾕｸｸ':<40}{day:%m%d}0005{'ﾐｽﾞﾎ':<15}001{'ﾄｳｷﾖｳ':<15}21234567{'':17}"
    )
    lines = [head]
    for k, (_, number, _, amount) in enumerate(rows, start=1):
        lines.append(
            f"20001{'ﾐｽﾞﾎ':<15}001{'ﾄｳｷﾖｳ':<15}    1{number:>07}{HOLDER:<30}{amount:010d}0"
            f"{k:010d}{'':10}7 {'':7}"
        )
    lines.append(f"8{len(rows):06d}{sum(r[3] for r in rows):012d}{'':101}")
    lines.append(f"9{'':119}")
    data = ("\r\n".join(lines) + "\r\n").encode("shift_jis")
    return time.perf_counter() - started, len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="7000,100000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    state = Path(tempfile.mkdtemp(prefix="subsidy-bench-", dir=STATE_ROOT.parent))
    settings = Settings(
        state_dir=state,
        database_url=os.environ.get("DATABASE_URL") or None,
        vault_addr=None,
        vault_token=None,
        otel_endpoint=None,
    )
    results: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "when": datetime.now().isoformat(timespec="seconds"),
    }
    environment = prepare(settings, [PROGRAM])
    process = build(environment, {PROGRAM: get_program(PROGRAM)})
    try:
        engine = make_engine(environment.infrastructure.database_url)
        metadata = TestTokens.of(state, engine).staff("payments_officer", "bench-officer")
        engine.dispose()
        conninfo = (
            make_url(environment.infrastructure.database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        cipher = FieldCipher(
            hvac.Client(
                url=environment.infrastructure.vault_addr,
                token=environment.vault_tokens["payments"],
            ),
            PROGRAM,
        )
        day = next_bank_business_day(ward_today() + timedelta(days=3))
        credentials = channel_credentials(environment.pki, client_identity("console"))
        offset = 0
        with grpc.secure_channel(f"localhost:{process.port}", credentials) as channel:
            stub = payments_pb2_grpc.PaymentsServiceStub(channel)
            for size in sizes:
                rows = accounts(size, offset)
                offset += size
                store(conninfo, cipher, rows)
                started = time.perf_counter()
                batch = stub.BuildBatch(
                    payments_pb2.BuildBatchRequest(
                        request_id=uuid.uuid4().hex,
                        program_id=PROGRAM,
                        transfer_date=day.isoformat(),
                    ),
                    metadata=metadata,
                    timeout=600,
                )
                ours = time.perf_counter() - started
                assert batch.count == size, batch
                plain, length = baseline(rows, day)
                results[str(size)] = {
                    "build_seconds": ours,
                    "instructions_per_second": size / ours,
                    "baseline_seconds": plain,
                    "baseline_per_second": size / plain,
                    "ratio": ours / plain,
                    "file_bytes": length,
                }
                print(
                    f"{size:>7,} instructions: BuildBatch {ours:6.2f} s "
                    f"({size / ours:,.0f}/s); plain formatting {plain:.3f} s "
                    f"({size / plain:,.0f}/s); ratio {ours / plain:,.0f}x",
                    flush=True,
                )
    finally:
        process.stop(grace=1)
        stop_infrastructure(settings)
        shutil.rmtree(state, ignore_errors=True)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    path = out / f"payments-{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
