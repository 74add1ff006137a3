"""`subsidy-ward`: the checker's and the ward's daily commands against the review service.

    subsidy-ward worklist --program P [--filter to-check|flagged|missing|correction|ready|ward]
    subsidy-ward expire   --program P [--as-of YYYY-MM-DD]
    subsidy-ward export   --program P [--out DIR]        handover file for the ward (step 5)
    subsidy-ward import   --program P FILE               the ward's decision file (step 7)
    subsidy-ward ledger   --program P [--csv FILE]       the handover ledger (管理簿)
    subsidy-ward grant NUMBER --amount YEN [--reduction-reason TEXT] [--note TEXT]
                                                         a ward officer's direct grant (交付決定;
                                                         below the rules' amount: 減額, which
                                                         a second officer approves)
    subsidy-ward refuse NUMBER --reason CODE [--reason CODE ...] [--note TEXT]
                                                         ... or refusal (不交付決定)
    subsidy-ward approve-reduction NUMBER                a second ward officer approves a
                                                         reduced grant (交付決定（減額）)
    subsidy-ward reject-reduction NUMBER                 ... or sends it back to the ward
    subsidy-ward clearings --program P                   clearings of strong duplicate
                                                         evidence waiting for a second person
    subsidy-ward confirm-clearing ID                     the second person confirms one
    subsidy-ward reject-clearing ID                      ... or rejects it
    subsidy-ward revocations --program P [--all]         households with two live grants
    subsidy-ward revoke NUMBER --reason TEXT             交付決定の取消 of one of them

Every command signs in at the platform's sign-in service (`--auth-server`, default
`AUTH_ADDRESS` or 127.0.0.1:50050) with `--login` and a password asked for (or read from the
first line of standard input with `--password-stdin`), and calls the review service
(`--server`, default `REVIEW_ADDRESS` or 127.0.0.1:50052) over mutual TLS with the staff
client certificate of the state folder (`--pki DIR` to name another). `export` writes the
AES-256 ZIP and prints its password once, for delivery by another route; `import` asks for
that password (or reads it from the next line of standard input). `expire --as-of` takes
today (the default, Asia/Tokyo) or a past day, never a future one. A decision is made
only by naming its verdict (`grant` or `refuse`), and a reduced grant approved or sent back
only by naming the second officer's (`approve-reduction` or `reject-reduction`): two
commands each, no default; so is a clearing of strong duplicate evidence. Exit status: 0
done, 1 refused (a decision file with errors, nothing changed), 2 an error.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
from subsidy.common.v1 import common_pb2
from subsidy.review.v1 import review_pb2, review_pb2_grpc

from subsidy_platform.clients import service_addresses
from subsidy_platform.config import Settings
from subsidy_platform.private_files import write_private
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.tls import Pki
from subsidy_platform.ward_clock import ward_stamp

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
    grant = commands.add_parser("grant", help="交付決定する（減額は2人目の承認待ち）")
    grant.add_argument("application_number")
    grant.add_argument("--amount", type=int, required=True, help="交付決定額（円）")
    grant.add_argument("--reduction-reason", default="", help="減額の理由")
    grant.add_argument("--note", default="")
    refuse = commands.add_parser("refuse", help="不交付決定する")
    refuse.add_argument("application_number")
    refuse.add_argument(
        "--reason",
        dest="reasons",
        action="append",
        required=True,
        type=_reason_code,
        metavar="CODE",
        help="不交付の理由コード（例: NOT_RESIDENT）。複数指定できます",
    )
    refuse.add_argument("--note", default="")
    approve = commands.add_parser("approve-reduction", help="減額交付決定を承認する（2人目）")
    approve.add_argument("application_number")
    reject = commands.add_parser("reject-reduction", help="減額交付決定を差し戻す（2人目）")
    reject.add_argument("application_number")
    clearings = commands.add_parser("clearings", help="2人目の確認待ちの重複の解除")
    clearings.add_argument("--program", required=True)
    for name, text in (
        ("confirm-clearing", "重複の解除を確認する（2人目）"),
        ("reject-clearing", "重複の解除を承認しない（2人目）"),
    ):
        clearing = commands.add_parser(name, help=text)
        clearing.add_argument("clearing_id")
    cases = commands.add_parser("revocations", help="交付決定が2件ある世帯（取消案件）")
    cases.add_argument("--program", required=True)
    cases.add_argument("--all", action="store_true", help="include the cases already settled")
    revoke = commands.add_parser("revoke", help="交付決定を取り消す")
    revoke.add_argument("application_number")
    revoke.add_argument("--reason", required=True, help="取消の理由 (at most 200 characters)")
    return parser


def _reason_code(name: str) -> common_pb2.ReasonCode.ValueType:
    try:
        return common_pb2.ReasonCode.Value(name.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError("理由コードが正しくありません") from None


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
    path = write_private(args.out / Path(export.file_name).name, export.sealed_file)
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
        write_private(args.csv, exported.csv)
        print(args.csv)
        return 0
    listed = stub.ListHandovers(
        review_pb2.ListHandoversRequest(program_id=args.program), metadata=metadata
    )
    for entry in listed.handovers:
        print(
            f"{ward_stamp(entry.at)}\t{entry.direction}\t{entry.handler}\t{entry.records}\t"
            f"{entry.file_name}\t{entry.sha256}\t{entry.content}"
        )
    return 0


def _decision(verdict: review_pb2.DecisionVerdict.ValueType) -> Command:
    def run(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
        granting = verdict == review_pb2.DECISION_VERDICT_GRANT
        case = stub.DecideApplication(
            review_pb2.DecideRequest(
                request_id=uuid.uuid4().hex,
                application_number=args.application_number,
                verdict=verdict,
                amount=args.amount if granting else 0,
                reasons=[] if granting else args.reasons,
                reduction_reason=args.reduction_reason if granting else "",
                note=args.note,
            ),
            metadata=metadata,
        )
        return _print_case(case)

    return run


def _print_case(case: review_pb2.Case) -> int:
    amount = f" {case.granted_amount:,}円" if case.granted_amount else ""
    print(f"{case.application_number}\t{case.state_label}{amount}")
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
        return _print_case(case)

    return run


def _clearings(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    listed = stub.ListPendingClearings(
        review_pb2.ListPendingClearingsRequest(program_id=args.program), metadata=metadata
    )
    for c in listed.clearings:
        print(
            f"{c.clearing_id}\t{','.join(c.application_numbers)}\t{c.requested_by}\t"
            f"{ward_stamp(c.requested_at)}\t{c.reason}"
        )
    return 0


def _clearing(verdict: review_pb2.ClearingVerdict.ValueType) -> Command:
    def run(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
        group = stub.ConfirmClearing(
            review_pb2.ConfirmClearingRequest(
                request_id=uuid.uuid4().hex, clearing_id=args.clearing_id, verdict=verdict
            ),
            metadata=metadata,
        )
        state = "解除済" if group.resolved else "重複の疑いあり"
        print(f"{','.join(m.application_number for m in group.members)}\t{state}")
        return 0

    return run


def _revocations(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    listed = stub.ListRevocationCases(
        review_pb2.ListRevocationCasesRequest(program_id=args.program, include_closed=args.all),
        metadata=metadata,
    )
    for c in listed.cases:
        state = "取消案件" if c.open else "解消済"
        print(f"{c.case_id}\t{state}\t交付決定 {','.join(c.granted)}\t{','.join(c.members)}")
    return 0


def _revoke(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    revoked = stub.RevokeGrant(
        review_pb2.RevokeGrantRequest(
            request_id=uuid.uuid4().hex,
            application_number=args.application_number,
            reason=args.reason,
        ),
        metadata=metadata,
    )
    print(
        f"{revoked.application_number}\t交付決定取消 {revoked.revocation_number}\t"
        f"{revoked.amount:,}円\t{revoked.revoked_on}"
    )
    return 0


COMMANDS: dict[str, Command] = {
    "worklist": _worklist,
    "expire": _expire,
    "export": _export,
    "import": _import,
    "ledger": _ledger,
    "grant": _decision(review_pb2.DECISION_VERDICT_GRANT),
    "refuse": _decision(review_pb2.DECISION_VERDICT_REFUSE),
    "approve-reduction": _verdict(review_pb2.REDUCTION_VERDICT_APPROVE),
    "reject-reduction": _verdict(review_pb2.REDUCTION_VERDICT_REJECT),
    "clearings": _clearings,
    "confirm-clearing": _clearing(review_pb2.CLEARING_VERDICT_CONFIRM),
    "reject-clearing": _clearing(review_pb2.CLEARING_VERDICT_REJECT),
    "revocations": _revocations,
    "revoke": _revoke,
}


if __name__ == "__main__":
    sys.exit(main())
