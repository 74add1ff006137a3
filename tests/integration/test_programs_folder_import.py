"""A ward's program added from a programs folder outside the package (docs/PROGRAMS.md's
worked example): the real `subsidy-intake` process started with `SUBSIDY_PROGRAMS_DIR`
serves it, and `subsidy-intake-import` streams a LoGo CSV for it over gRPC and writes
the per-line report as CSV (application number given, probable duplicates)."""

from __future__ import annotations

import copy
import csv
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy_intake.import_report import HEADER
from subsidy_intake.logo_csv import load_mapping, to_logo_csv
from subsidy_intake.synthetic import online_applications

from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.tls import channel_credentials, client_identity
from subsidy_platform.users import create_user
from subsidy_rules.program import PROGRAMS_DIR
from subsidy_rules.reasons import Reason

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "programs"
PROGRAM = "shibuya-2025"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def programs_folder(root: Path) -> Path:
    """The shipped programs (so the Vault policies keep covering them) plus the example."""
    folder = root / "ward-programs"
    shutil.copytree(PROGRAMS_DIR, folder)
    for name in (f"{PROGRAM}.yaml", f"{PROGRAM}.logo.yaml"):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder


def wait_serving(environment: Environment, port: int, process: subprocess.Popen[bytes]) -> None:
    credentials = channel_credentials(environment.pki, client_identity("console"))
    with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 90
        while True:
            try:
                request = health_pb2.HealthCheckRequest(service="")
                if (
                    health.Check(request, timeout=2).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return
            except grpc.RpcError:
                pass
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "intake did not start"
            time.sleep(0.3)


def export(folder: Path) -> bytes:
    """Three LoGo answers for the example program: the third is the first person again
    (another 回答ID), and the second bought with shipping (送料)."""
    mapping = load_mapping(folder / f"{PROGRAM}.logo.yaml")
    first, second = online_applications(2, 4242, mapping)
    second = copy.deepcopy(second)
    second["purchases"] = [*second["purchases"][:1], {**second["purchases"][0], "kind": "shipping",
                           "amount": 800}]  # fmt: skip
    again = copy.deepcopy(first)
    again["logo_answer_id"] = "9" + str(first["logo_answer_id"])[1:]
    return to_logo_csv([first, second, again], mapping)


def test_a_program_from_an_outside_folder_is_imported_through_intake(
    environment: Environment, auth: ServiceProcess, admin_engine: Engine, tmp_path: Path
) -> None:
    folder = programs_folder(tmp_path)
    with Session(admin_engine) as session:
        create_user(session, "folder-operator", "operator", "correct horse battery")
        session.commit()
    port = free_port()
    env = {
        **os.environ,
        "SUBSIDY_STATE_DIR": str(environment.settings.state_dir),
        "SUBSIDY_PROGRAMS_DIR": str(folder),
        "INTAKE_LISTEN": f"127.0.0.1:{port}",
    }
    if environment.settings.database_url is None:
        env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "subsidy_intake.main"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_serving(environment, port, process)
        path = tmp_path / "shibuya-logo.csv"
        path.write_bytes(export(folder))
        report_path = tmp_path / "report.csv"

        def run_import() -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "subsidy_intake.cli", str(path), "--program",
                       PROGRAM, "--server", f"localhost:{port}", "--auth-server", auth.address,
                       "--login", "folder-operator", "--password-stdin", "--pki",
                       str(environment.settings.state_dir / "pki"), "--report-csv",
                       str(report_path)]  # fmt: skip
            return subprocess.run(command, input="correct horse battery\n", capture_output=True,
                                  text=True, timeout=180, env=env)  # fmt: skip

        first = run_import()
        assert first.returncode == 0, first.stderr + first.stdout
        assert "取込完了" in first.stdout and "新規 3" in first.stdout
        assert report_path.read_bytes().startswith(b"\xef\xbb\xbf")
        with report_path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        assert tuple(rows[0]) == HEADER
        lines = {row[0]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
        assert sorted(lines) == ["2", "3", "4"]
        assert all(row["状態"] == "新規" for row in lines.values())
        numbers = {line: row["申請番号"] for line, row in lines.items()}
        assert all(number.startswith("SB2025") for number in numbers.values())
        assert len(set(numbers.values())) == 3
        assert lines["4"]["重複の疑い（申請番号）"] == numbers["2"]  # the same person again
        assert Reason.SAME_PERSON.message in lines["4"]["重複の理由"]
        assert lines["3"]["重複の疑い（申請番号）"] == ""
        assert f"4行目 {numbers['4']}: 重複の疑い（{numbers['2']}）" in first.stdout

        again = run_import()
        assert again.returncode == 0, again.stderr
        with report_path.open(encoding="utf-8-sig", newline="") as handle:
            repeated = list(csv.reader(handle))[1:]
        assert {row[0]: (row[2], row[3]) for row in repeated} == {
            line: (number, "取込済み") for line, number in numbers.items()
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # No review of this session serves the example program: its applications' events
        # would be refused there for good and park (an alarm for every later test), so the
        # example's events leave the shared outbox with the example.
        with admin_engine.begin() as connection:
            connection.execute(
                text("DELETE FROM intake.outbox WHERE key LIKE :k"), {"k": "%-SB2025-%"}
            )
