"""`out/summary.json`: what one `make demo` run did, in a shape other tools can read.

The summary holds four parts, each measured after the run, not predicted:
- `counts` and `yen`: applications, duplicate groups, decisions, corrections, notices,
  transfers (paid, returned, re-transferred) and what is still outstanding, read from the
  services' schemas by the demo's administrator connection (the demo runs the machine, as
  an operator of a single-machine installation would);
- `released_files`: the 全銀 files the demo wrote under `out/payments/`, read back
  record by record (count and yen of the data records, and each file's trailer), so the
  money released can be checked against the files themselves;
- `reconciliation`: the cross-service reconciliation (照合) an auditor runs, with its
  differences and the number of parked events;
- `audit`: the audit chain's verification;
- `seconds`: the wall-clock seconds of each step, and `total`.

Yen: `granted` is the sum of live grants (a revoked grant is not counted); `released` the
sum of every transfer in a released file; `returned` what the bank sent back (口座不備);
`paid` what the bank confirmed; `outstanding` = granted - paid.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

RECORD = 120


@dataclass
class Stopwatch:
    """Seconds per named step, in the order the steps ran."""

    seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        begun = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - begun, 1)

    def as_json(self) -> dict[str, float]:
        return {**self.seconds, "total": round(time.perf_counter() - self.started, 1)}


def _scalar(engine: Engine, sql: str, program_id: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), {"p": program_id}).scalar_one() or 0)


def duplicate_groups(engine: Engine, program_id: str) -> int:
    """Connected groups of applications linked by any duplicate flag (union-find)."""
    with engine.connect() as connection:
        pairs = connection.execute(
            text(
                "SELECT first_number, second_number FROM review.duplicate_flags "
                "WHERE program_id = :p"
            ),
            {"p": program_id},
        ).all()
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for first, second in pairs:
        parent[root(first)] = root(second)
    return len({root(node) for node in parent})


COUNTS = {
    "applications": "SELECT count(*) FROM intake.applications WHERE program_id = :p",
    "granted": (
        "SELECT count(*) FROM review.decisions d WHERE d.program_id = :p AND d.granted "
        "AND NOT EXISTS (SELECT 1 FROM review.revocations r "
        "WHERE r.application_number = d.application_number)"
    ),
    "revoked": "SELECT count(*) FROM review.revocations WHERE program_id = :p",
    "not_granted": "SELECT count(*) FROM review.decisions WHERE program_id = :p AND NOT granted",
    "undecided": (
        "SELECT count(*) FROM review.cases c WHERE c.program_id = :p AND NOT EXISTS "
        "(SELECT 1 FROM review.decisions d WHERE d.application_number = c.application_number)"
    ),
    "corrections": "SELECT count(*) FROM review.corrections WHERE program_id = :p",
    "notices_printed": (
        "SELECT count(*) FROM notices.notices WHERE program_id = :p "
        "AND state IN ('PRINTED', 'MAILED', 'RETURNED')"
    ),
    "paid": "SELECT count(*) FROM payments.instructions WHERE program_id = :p AND state = 'PAID'",
    "returned": (
        "SELECT count(*) FROM payments.instructions WHERE program_id = :p "
        "AND state = 'FAILED' AND batch_id IS NOT NULL"
    ),
    "re_transferred": (
        "SELECT count(*) FROM payments.instructions i WHERE i.program_id = :p "
        "AND i.state IN ('SENT', 'PAID') AND EXISTS (SELECT 1 FROM payments.instructions f "
        "WHERE f.application_number = i.application_number AND f.state = 'FAILED' "
        "AND f.id < i.id)"
    ),
}

YEN = {
    "granted": (
        "SELECT sum(d.amount) FROM review.decisions d WHERE d.program_id = :p AND d.granted "
        "AND NOT EXISTS (SELECT 1 FROM review.revocations r "
        "WHERE r.application_number = d.application_number)"
    ),
    "released": (
        "SELECT sum(i.amount) FROM payments.instructions i JOIN payments.batches b "
        "ON b.id = i.batch_id WHERE i.program_id = :p AND b.state IN ('RELEASED', 'CONFIRMED')"
    ),
    "paid": (
        "SELECT sum(amount) FROM payments.instructions WHERE program_id = :p AND state = 'PAID'"
    ),
    "returned": (
        "SELECT sum(amount) FROM payments.instructions WHERE program_id = :p "
        "AND state = 'FAILED' AND batch_id IS NOT NULL"
    ),
}


def counts_and_yen(engine: Engine, program_id: str) -> tuple[dict[str, int], dict[str, int]]:
    counts = {name: _scalar(engine, sql, program_id) for name, sql in COUNTS.items()}
    counts["duplicate_groups"] = duplicate_groups(engine, program_id)
    counts["outstanding"] = counts["granted"] - counts["paid"]
    yen = {name: _scalar(engine, sql, program_id) for name, sql in YEN.items()}
    yen["outstanding"] = yen["granted"] - yen["paid"]
    return counts, yen


def released_files(folder: Path) -> dict[str, Any]:
    """The 全銀 files under `folder`, read back: data records (type 2) and trailers (type 8).

    A file whose trailer disagrees with its records is listed in `inconsistent`."""
    files, records, total, inconsistent = 0, 0, 0, []
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        data = path.read_bytes()
        lines = (
            [line for line in data.split(b"\r\n") if line]
            if b"\r\n" in data
            else [data[i : i + RECORD] for i in range(0, len(data), RECORD)]
        )
        if not lines or lines[0][:1] != b"1" or any(len(line) != RECORD for line in lines):
            continue  # not a transfer file (the bank's return CSVs live here too)
        amounts = [int(line[80:90]) for line in lines if line[:1] == b"2"]
        trailer = next((line for line in lines if line[:1] == b"8"), b"")
        if not trailer or (int(trailer[1:7]), int(trailer[7:19])) != (len(amounts), sum(amounts)):
            inconsistent.append(path.name)
        files += 1
        records += len(amounts)
        total += sum(amounts)
    return {"files": files, "records": records, "yen": total, "inconsistent": inconsistent}


def write_summary(
    path: Path,
    *,
    engine: Engine,
    program_id: str,
    payments_out: Path,
    reconciliation: dict[str, Any],
    audit: dict[str, Any],
    stopwatch: Stopwatch,
) -> dict[str, Any]:
    counts, yen = counts_and_yen(engine, program_id)
    summary = {
        "program_id": program_id,
        "counts": counts,
        "yen": yen,
        "released_files": released_files(payments_out),
        "reconciliation": reconciliation,
        "audit": audit,
        "seconds": stopwatch.as_json(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return summary
