"""`subsidy-intake-import`: send a LoGoフォーム CSV export to the intake service.

    subsidy-intake-import --program shinjuku-2025 [--server localhost:50051] \\
        [--auth-server localhost:50050] [--login sato] [--password-stdin] \\
        [--report-csv report.csv] export.csv

Signs in at the platform's sign-in service (the password is asked for, or read from
standard input; `--auth-server` defaults to `AUTH_ADDRESS` or 127.0.0.1:50050), streams the file
to intake (`--server`, default `INTAKE_ADDRESS` or 127.0.0.1:50051)
over mutual TLS with the staff client certificate of the state folder's private CA
(`SUBSIDY_STATE_DIR`, or `--pki DIR`), and prints the import report: committed or not,
counts, every bad line with its column and the problem, and the lines flagged as
probable duplicates. `--report-csv FILE` also writes the whole report, one row per line
(application number given, flags), as a CSV Excel opens in Japanese
(subsidy_intake.import_report). Exit status 0 when the file was imported (or was
already), 1 when it was refused for bad lines, 2 on errors.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc

from subsidy_intake.import_report import report_csv
from subsidy_platform.clients import service_addresses
from subsidy_platform.config import Settings
from subsidy_platform.private_files import write_private
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.tls import Pki

CHUNK = 256 * 1024


def chunks(program_id: str, path: Path) -> Iterator[intake_pb2.ImportLogoCsvRequest]:
    yield intake_pb2.ImportLogoCsvRequest(
        header=intake_pb2.ImportLogoCsvRequest.Header(program_id=program_id, file_name=path.name)
    )
    with path.open("rb") as stream:
        while block := stream.read(CHUNK):
            yield intake_pb2.ImportLogoCsvRequest(chunk=block)


def print_report(report: intake_pb2.ImportReport) -> None:
    state = "取込完了" if report.committed else "取込不可（何も登録していません）"
    print(
        f"{state}: 行数 {report.rows} / 新規 {report.imported} / 取込済み {report.already_present} "
        f"/ 重複の疑い {report.duplicates_flagged} / 文字コード {report.encoding}"
    )
    for error in report.errors:
        print(f"  {error.line}行目 {error.column}: {error.message}")
    for line in report.lines:
        if line.duplicates:
            others = "、".join(
                dict.fromkeys(flag.other_application_number for flag in line.duplicates)
            )
            print(f"  {line.line}行目 {line.application_number}: 重複の疑い（{others}）")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="subsidy-intake-import", description=__doc__.splitlines()[0]
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--program", required=True)
    parser.add_argument("--server", default=None, help="intake (host:port; default INTAKE_ADDRESS)")
    parser.add_argument("--auth-server", default=None, help="sign-in service (host:port)")
    parser.add_argument("--login", default=None, help="sign-in ID (default: ask)")
    parser.add_argument("--password-stdin", action="store_true")
    parser.add_argument(
        "--report-csv", type=Path, default=None, help="also write the report as CSV (UTF-8 BOM)"
    )
    parser.add_argument(
        "--pki", type=Path, default=None, help="folder of ca.crt and client-console.crt/.key"
    )
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"ファイルがありません: {args.file}", file=sys.stderr)
        return 2
    pki = Pki(args.pki or Settings.from_env().state_dir / "pki")
    login = args.login or input("ID: ")
    password = (
        sys.stdin.readline().rstrip("\r\n")
        if args.password_stdin
        else getpass.getpass("パスワード: ")
    )
    session = StaffSession(pki)
    try:
        session.sign_in(args.auth_server or service_addresses()["auth"], login, password)
        server = args.server or service_addresses()["intake"]
        report = session.stub(server, intake_pb2_grpc.IntakeServiceStub).ImportLogoCsv(
            chunks(args.program, args.file), metadata=session.metadata, timeout=1800
        )
    except grpc.RpcError as error:
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        return 2
    finally:
        session.close()
    print_report(report)
    if args.report_csv is not None:
        try:
            write_private(args.report_csv, report_csv(report))
        except OSError as error:
            print(f"報告CSVを書き込めません: {error.strerror}", file=sys.stderr)
            return 2
    return 0 if report.committed else 1


if __name__ == "__main__":
    sys.exit(main())
