"""`subsidy-ward`: a ward officer exports the handover file, the ward's decision file comes
back and is imported, and the ledger is written as CSV, all from the command line against
real servers (sign-in, intake, review) over mutual TLS."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

from intake_support import PROGRAM, Client
from review_support import (
    check,
    deliver,
    person,
    submit,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from subsidy.review.v1 import review_pb2
from subsidy_review.handover import seal, unseal

from subsidy_platform.excel_csv import read_excel_csv, write_excel_csv
from subsidy_platform.process import ServiceProcess
from subsidy_platform.users import create_user

PASSWORD = "ward-officer passphrase 1"


def ward(
    environment: Any, auth: ServiceProcess, review: ServiceProcess, *args: str, stdin: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "subsidy_review.cli",
        "--server",
        review.address,
        "--auth-server",
        auth.address,
        "--login",
        "cli-ward",
        "--password-stdin",
        "--pki",
        str(environment.settings.state_dir / "pki"),
        *args,
    ]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)


def test_the_ward_command_exports_imports_and_writes_the_ledger(
    intake: Client,
    review: ServiceProcess,
    auth: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
    environment: Any,
    tmp_path: Path,
) -> None:
    with Session(admin_engine) as session:
        create_user(session, "cli-ward", "ward_officer", PASSWORD)
        session.commit()
    number = submit(intake, **person("コマンド"))
    deliver(intake, review, admin_engine)
    check(review_stub, intake, number)

    exported = ward(
        environment,
        auth,
        review,
        "export",
        "--program",
        PROGRAM,
        "--out",
        str(tmp_path),
        stdin=PASSWORD + "\n",
    )
    assert exported.returncode == 0, exported.stderr
    [zip_path] = tmp_path.glob("handover-*.zip")
    zip_password = exported.stderr.rsplit(": ", 1)[1].strip()
    assert zip_password not in exported.stdout  # the password goes to the terminal only

    files = unseal(zip_path.read_bytes(), zip_password)
    _, rows = read_excel_csv(files["applications.csv"])
    header, body = rows[0], rows[1:]
    for row in body:
        row[header.index("決定")] = "交付" if row[0] == number else "不交付"
        row[header.index("交付決定額")] = "16000" if row[0] == number else ""
        row[header.index("不交付理由コード")] = "" if row[0] == number else "WARD_DECISION"
    decided = tmp_path / "decisions.zip"
    decided.write_bytes(seal({"applications.csv": write_excel_csv(header, body)}, zip_password))

    refused = ward(
        environment,
        auth,
        review,
        "import",
        "--program",
        PROGRAM,
        str(decided),
        stdin=f"{PASSWORD}\nnot-the-zip-password\n",
    )
    assert refused.returncode == 1 and "何も反映していません" in refused.stderr
    done = ward(
        environment,
        auth,
        review,
        "import",
        "--program",
        PROGRAM,
        str(decided),
        stdin=f"{PASSWORD}\n{zip_password}\n",
    )
    assert done.returncode == 0, done.stderr
    assert "取込完了" in done.stdout
    granted = review_stub.GetCase(
        review_pb2.GetCaseRequest(application_number=number), metadata=intake.staff("checker")
    )
    assert granted.state == review_pb2.GRANTED and granted.granted_amount == 16_000

    ledger_csv = tmp_path / "ledger.csv"
    listed = ward(
        environment,
        auth,
        review,
        "ledger",
        "--program",
        PROGRAM,
        "--csv",
        str(ledger_csv),
        stdin=PASSWORD + "\n",
    )
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.reader(io.StringIO(ledger_csv.read_bytes().decode("utf-8-sig"))))
    assert rows[0][:3] == ["日時", "方向", "担当者"]
    assert {"引渡し（区へ）", "受領（区から）"} <= {r[1] for r in rows[1:]}


def test_every_ward_command_answers_help_without_starting_anything() -> None:
    for command in ([], ["export"], ["import"], ["ledger"], ["worklist"], ["expire"]):
        result = subprocess.run(
            [sys.executable, "-m", "subsidy_review.cli", *command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0 and "usage" in result.stdout
