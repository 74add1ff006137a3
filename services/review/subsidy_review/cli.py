"""`subsidy-ward`: the checker's and the ward's daily commands against the review service.

    subsidy-ward worklist --program P [--filter to-check|flagged|missing|correction|ready|ward]
    subsidy-ward expire   --program P [--as-of YYYY-MM-DD]
    subsidy-ward export   --program P [--out DIR]        handover file for the ward (step 5)
    subsidy-ward import   --program P FILE               the ward's decision file (step 7)
    subsidy-ward ledger   --program P [--csv FILE]       the handover ledger (管理簿)
    subsidy-ward approve-reduction NUMBER                a second ward officer approves a
                                                         reduced grant (交付決定（減額）)
    subsidy-ward reject-reduction NUMBER                 ... or sends it back to the ward

Every command signs in at the platform's sign-in service (`--auth-server`, default
`AUTH_ADDRESS` or 127.0.0.1:50050) with `--login` and a password asked for (or read from the
first line of standard input with `--password-stdin`), and calls the review service
(`--server`, default `REVIEW_ADDRESS` or 127.0.0.1:50052) over mutual TLS with the staff
client certificate of the state folder (`--pki DIR` to name another). `export` writes the
AES-256 ZIP and prints its password once, for delivery by another route; `import` asks for
that password (or reads it from the next line of standard input). `expire --as-of` takes
today (the default, Asia/Tokyo) or a past day, never a future one. A reduced grant is
approved or sent back only by naming the verdict (two commands, no default). Exit status:
0 done, 1 refused (a decision file with errors, nothing changed), 2 an error.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
from subsidy.review.v1 import review_pb2, review_pb2_grpc

from subsidy_platform.clients import service_addresses
from subsidy_platform.config import Settings
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.tls import Pki

FILTERS = {
    "all": review_pb2.WORKLIST_FILTER_UNSPECIFIED,
    "to-check": review_pb2.TO_CHECK,
    "flagged": review_pb2.FLAGGED_DUPLICATES,
    "missing": review_pb2.MISSING_ATTACHMENTS,
    "correction": review_pb2.AWAITING_CORRECTION_FILTER,
    "ready": review_pb2.READY_FOR_WARD,
    "ward": review_pb2.WITH_THE_WARD,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subsidy-ward",
        description="審査・区への引渡し・決定の取込・管理簿 (review service)",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--server", default=None, help="review service host:port")
    parser.add_argument("--auth-server", default=None, help="sign-in service host:port")
    parser.add_argument("--login", default=None, help="sign-in ID (default: ask)")
    parser.add_argument("--password-stdin", action="store_true")
    parser.add_argument("--pki", type=Path, default=None, help="folder of ca.crt, client certs")
    commands = parser.add_subparsers(dest="command", required=True)
    worklist = commands.add_parser("worklist", help="審査対象の一覧")
    worklist.add_argument("--program", required=True)
    worklist.add_argument("--filter", choices=sorted(FILTERS), default="all")
    expire = commands.add_parser("expire", help="補正期限切れの申請を不交付案にする")
    expire.add_argument("--program", required=True)
    expire.add_argument("--as-of", default="")
    export = commands.add_parser("export", help="区への引渡しファイル (AES-256 ZIP) を作成")
    export.add_argument("--program", required=True)
    export.add_argument("--out", type=Path, default=Path("out/ward"))
    imported = commands.add_parser("import", help="区の決定ファイルを取り込む")
    imported.add_argument("--program", required=True)
    imported.add_argument("file", type=Path)
    ledger = commands.add_parser("ledger", help="引渡し管理簿")
    ledger.add_argument("--program", required=True)
    ledger.add_argument("--csv", type=Path, default=None, help="write the ledger as CSV")
    approve = commands.add_parser("approve-reduction", help="減額交付決定を承認する（2人目）")
    approve.add_argument("application_number")
    reject = commands.add_parser("reject-reduction", help="減額交付決定を差し戻す（2人目）")
    reject.add_argument("application_number")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "import" and not args.file.is_file():
        print("ファイルがありません", file=sys.stderr)
        return 2
    addresses = service_addresses()
    pki = Pki(args.pki or Settings.from_env().state_dir / "pki")
    login = args.login or input("ID: ")
    password = _secret(args.password_stdin, "パスワード: ")
    session = StaffSession(pki)
    try:
        session.sign_in(args.auth_server or addresses["auth"], login, password)
        stub = session.stub(args.server or addresses["review"], review_pb2_grpc.ReviewServiceStub)
        return COMMANDS[args.command](stub, session.metadata, args)
    except grpc.RpcError as error:
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        return 2
    finally:
        session.close()


def _secret(from_stdin: bool, prompt: str) -> str:
    return sys.stdin.readline().rstrip("\r\n") if from_stdin else getpass.getpass(prompt)


Stub = review_pb2_grpc.ReviewServiceStub
Metadata = tuple[tuple[str, str], ...]
Command = Callable[[Stub, Metadata, argparse.Namespace], int]


def _worklist(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    token, shown = "", 0
    while True:
        page = stub.ListWorklist(
            review_pb2.ListWorklistRequest(
                program_id=args.program,
                filter=FILTERS[args.filter],
                page_size=200,
                page_token=token,
            ),
            metadata=metadata,
        )
        for case in page.cases:
            print(
                f"{case.application_number}\t{case.received_on}\t{case.state_label}\t"
                f"{case.claimed_by or '-'}\t{case.rules_amount:,}円"
            )
            shown += 1
        token = page.next_page_token
        if not token:
            print(f"{shown} 件 / 該当 {page.total} 件", file=sys.stderr)
            return 0


def _expire(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    result = stub.ExpireCorrections(
        review_pb2.ExpireCorrectionsRequest(program_id=args.program, as_of=args.as_of),
        metadata=metadata,
    )
    for number in result.expired:
        print(number)
    print(f"補正期限切れ: {len(result.expired)} 件", file=sys.stderr)
    return 0


def _export(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    export = stub.ExportForWard(
        review_pb2.ExportForWardRequest(request_id=uuid.uuid4().hex, program_id=args.program),
        metadata=metadata,
        timeout=1800,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / export.file_name
    path.write_bytes(export.sealed_file)
    print(f"{path}: {export.records} 件, SHA-256 {export.sha256}")
    print(
        f"パスワード（この一度だけ表示します。ファイルとは別の方法で受け渡してください）: "
        f"{export.password}",
        file=sys.stderr,
    )
    return 0


def _import(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    zip_password = _secret(args.password_stdin, "ZIPのパスワード: ")
    report = stub.ImportWardDecisions(
        review_pb2.ImportWardDecisionsRequest(
            request_id=uuid.uuid4().hex,
            program_id=args.program,
            file_name=args.file.name,
            sealed_file=args.file.read_bytes(),
            password=zip_password,
        ),
        metadata=metadata,
        timeout=1800,
    )
    if not report.committed:
        print("取込不可（何も反映していません）:", file=sys.stderr)
        for error in report.errors:
            column = f" {error.column}" if error.column else ""
            print(f"  {error.line}行目{column}: {error.message}", file=sys.stderr)
        return 1
    print(
        f"取込完了: 交付 {report.granted} / 不交付 {report.not_granted} / 減額承認待ち "
        f"{report.pending_approval} / 未決定 {report.undecided} (文字コード {report.encoding})"
    )
    return 0


def _ledger(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    if args.csv is not None:
        exported = stub.ExportHandoverLedger(
            review_pb2.ExportHandoverLedgerRequest(program_id=args.program), metadata=metadata
        )
        args.csv.write_bytes(exported.csv)
        print(args.csv)
        return 0
    listed = stub.ListHandovers(
        review_pb2.ListHandoversRequest(program_id=args.program), metadata=metadata
    )
    for entry in listed.handovers:
        print(
            f"{entry.at}\t{entry.direction}\t{entry.handler}\t{entry.records}\t"
            f"{entry.file_name}\t{entry.sha256}\t{entry.content}"
        )
    return 0


def _verdict(verdict: review_pb2.ReductionVerdict.ValueType) -> Command:
    def run(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
        case = stub.ApproveReducedGrant(
            review_pb2.ApproveReducedGrantRequest(
                request_id=uuid.uuid4().hex,
                application_number=args.application_number,
                verdict=verdict,
            ),
            metadata=metadata,
        )
        amount = f" {case.granted_amount:,}円" if case.granted_amount else ""
        print(f"{case.application_number}\t{case.state_label}{amount}")
        return 0

    return run


COMMANDS: dict[str, Command] = {
    "worklist": _worklist,
    "expire": _expire,
    "export": _export,
    "import": _import,
    "ledger": _ledger,
    "approve-reduction": _verdict(review_pb2.REDUCTION_VERDICT_APPROVE),
    "reject-reduction": _verdict(review_pb2.REDUCTION_VERDICT_REJECT),
}


if __name__ == "__main__":
    sys.exit(main())
