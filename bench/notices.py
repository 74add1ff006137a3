"""Notice print batches: postcards per second through the notices service, beside ReportLab
alone drawing the same pages with the same font, in one run (issue 8).

    .venv/bin/python bench/notices.py [--notices 7000]

Starts its own embedded PostgreSQL and OpenBao (a temporary state folder, removed at the
end) and a notices server over mutual TLS; stores `--notices` notices of the synthetic
Shinjuku program (realistic names, postal codes and addresses; grants, refusals and
correction requests in turn) encrypted as the service stores them, then measures:

1. ours: one CreatePrintBatch RPC taking them all (decrypt every notice, Jinja2 wording,
   layout with the font's metrics and the checks for text that does not fit or lacks
   glyphs, sort by postal code, one merged PDF, SHA-256, encryption of the PDF, the batch
   and its items in PostgreSQL) plus DownloadPrintFile (decrypt, check, stream);
2. the baseline: ReportLab alone drawing the same postcards (laid out beforehand) into one
   PDF with the same embedded IPAex font: no service, no database, no Vault, no templates.

The ratio (ours / baseline seconds) is the result; absolute numbers depend on the machine.
The aim (issue 8) is 7,000 postcards in under 60 s through the service.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import grpc
from sqlalchemy.orm import Session
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy_notices.content import NoticeContent, addressee, item_names
from subsidy_notices.main import build
from subsidy_notices.postcard import lay_out, render
from subsidy_notices.repository import NoticesRepository
from subsidy_notices.wording import wording_for

from subsidy_platform.config import STATE_ROOT, Settings
from subsidy_platform.crypto import FieldCipher
from subsidy_platform.db import make_engine
from subsidy_platform.embedded import stop_infrastructure
from subsidy_platform.runtime import prepare
from subsidy_platform.staff_client import TestTokens
from subsidy_platform.tls import channel_credentials, client_identity
from subsidy_rules.program import get_program
from subsidy_rules.synth import generate

PROGRAM = "shinjuku-2025"
KINDS = ("GRANT", "REFUSAL", "CORRECTION")


def contents(count: int) -> list[NoticeContent]:
    out: list[NoticeContent] = []
    for n, synthetic in enumerate(generate(count + count // 10, 8)):
        if len(out) == count:
            break
        record = synthetic.record
        try:
            name, postal_code, address = addressee(record)
            received_on = date.fromisoformat(record["received_on"])
        except (KeyError, ValueError):  # a planted defect: intake would have refused it
            continue
        kind = KINDS[n % 3]
        out.append(
            NoticeContent(
                kind=kind,
                application_number=f"S2025-{n + 1:06d}",
                program_id=PROGRAM,
                document_number=n + 1,
                issued_on=date(2025, 7, 1),
                name=name,
                postal_code=postal_code,
                address=address,
                received_on=received_on,
                items=item_names(record),
                applied_amount=sum(int(p.get("amount", 0)) for p in record["purchases"]),
                granted_amount=20_000 if kind == "GRANT" else 0,
                reasons=("BELOW_MINIMUM_COST",) if kind == "REFUSAL" else (),
                deadline=date(2025, 7, 15) if kind == "CORRECTION" else None,
                corrections=(("receipt", "領収書の写しが添付されていません"),)
                if kind == "CORRECTION"
                else (),
            )
        )
    return out


def baseline(notices: list[NoticeContent]) -> dict[str, Any]:
    wording = wording_for(PROGRAM)
    started = time.perf_counter()
    cards = []
    for content in notices:
        try:
            cards.append(lay_out(content, wording, with_barcode=False))
        except ValueError:
            continue
    laid = time.perf_counter() - started
    started = time.perf_counter()
    pdf = render(cards)
    drawn = time.perf_counter() - started
    return {
        "postcards": len(cards),
        "layout_seconds": laid,
        "reportlab_seconds": drawn,
        "reportlab_per_second": len(cards) / drawn,
        "pdf_bytes": len(pdf),
    }


def run(count: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="subsidy-bench-", dir=STATE_ROOT.parent))
    settings = Settings(
        state_dir=state, database_url=None, vault_addr=None, vault_token=None, otel_endpoint=None
    )
    notices = contents(count)
    results: dict[str, Any] = {"notices": count, "cpu_count": os.cpu_count()}
    environment = prepare(settings, [PROGRAM])
    process = build(environment, {PROGRAM: get_program(PROGRAM)})
    try:
        engine = make_engine(environment.infrastructure.database_url)
        cipher = FieldCipher(environment.vault_client("notices"), PROGRAM)
        with Session(engine) as session, session.begin():
            repo = NoticesRepository(session, cipher)
            for content in notices:
                repo.add_notice(content, f"bench:{content.application_number}", "新宿区", 2025)
        metadata = TestTokens.of(state, engine).staff("operator", "bench-printer")
        engine.dispose()
        credentials = channel_credentials(environment.pki, client_identity("console"))
        with grpc.secure_channel(f"localhost:{process.port}", credentials) as channel:
            stub = notices_pb2_grpc.NoticesServiceStub(channel)
            started = time.perf_counter()
            batch = stub.CreatePrintBatch(
                notices_pb2.CreatePrintBatchRequest(
                    request_id=uuid.uuid4().hex, program_id=PROGRAM
                ),
                metadata=metadata,
                timeout=1800,
            )
            created = time.perf_counter() - started
            size = 0
            for chunk in stub.DownloadPrintFile(
                notices_pb2.DownloadPrintFileRequest(batch_id=batch.batch_id),
                metadata=metadata,
                timeout=600,
            ):
                size += len(chunk.data)
            total = time.perf_counter() - started
        results["ours"] = {
            "postcards": batch.count,
            "left_out": len(batch.problems),
            "create_seconds": created,
            "with_download_seconds": total,
            "per_second": batch.count / total,
            "pdf_bytes": size,
        }
    finally:
        process.stop(grace=1)
        stop_infrastructure(settings)
        shutil.rmtree(state, ignore_errors=True)
    results["baseline"] = baseline(notices)
    results["ratio_ours_to_reportlab"] = (
        results["ours"]["with_download_seconds"] / results["baseline"]["reportlab_seconds"]
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=7000)
    args = parser.parse_args()
    results = run(args.notices)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    ours, base = results["ours"], results["baseline"]
    print(
        f"\nours: {ours['postcards']:,} postcards in {ours['with_download_seconds']:.1f} s "
        f"({ours['per_second']:.0f}/s, {ours['left_out']} left out); ReportLab alone "
        f"{base['reportlab_seconds']:.1f} s ({base['reportlab_per_second']:.0f}/s); "
        f"ratio {results['ratio_ours_to_reportlab']:.2f}"
    )


if __name__ == "__main__":
    main()
