"""`subsidy-payments-admin`: the payments officer's, approver's and auditor's commands.

    subsidy-payments-admin reconcile  --program P       granted = paid + failed + not yet paid
    subsidy-payments-admin reconcile  --program P --across [--json]
                                      review's decisions = grants = instructions = files (照合)
    subsidy-payments-admin held-files --program P       transfer files still held (encrypted)
    subsidy-payments-admin purge-files --program P [--out DIR]
                                      delete files past their retention, and the released
                                      copies saved in DIR of the batches no longer held
    subsidy-payments-admin build   --program P --date YYYY-MM-DD    build a batch (officer)
    subsidy-payments-admin show    BATCH                count, total, largest, over cap, SHA-256,
                                                        shared-account pairs in the batch
    subsidy-payments-admin release BATCH --sha256 H [--out DIR]     release (approver)
    subsidy-payments-admin cancel  BATCH --reason R     before release: back to the pool
    subsidy-payments-admin held    --program P          instructions held back (shared account)
    subsidy-payments-admin clear-shared   --program P A B --reason R    record (officer)
    subsidy-payments-admin approve-shared --program P A B               approve (approver)
    subsidy-payments-admin confirm BATCH [--on YYYY-MM-DD]          the bank confirmed
    subsidy-payments-admin returns --program P FILE     import the bank's return CSV

Every command signs in at the platform's sign-in service (`--auth-server`, default
`AUTH_ADDRESS` or 127.0.0.1:50050) with `--login` and a password asked for (or read from the
first line of standard input with `--password-stdin`), and calls the payments service
(`--server`, default `PAYMENTS_ADDRESS` or 127.0.0.1:50053) over mutual TLS with the staff
client certificate of the state folder (`--pki DIR`). Exit status: 0 done, 1 refused (a
return file with errors, or a reconciliation that does not balance), 2 an error.
A released 全銀 file is saved owner-only (0600, folder 0700; subsidy_platform.private_files)
in `--out` (default `out/payments`); `purge-files` deletes those copies too once the service no
longer holds their batch's file, so that no bank data outlives its retention on the machine.
`reconcile --across --json` prints the reconciliation across services as one JSON object
(subsidy_payments.cross_report); `--json` alone implies `--across`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import grpc
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc

from subsidy_payments import cross_report
from subsidy_payments.reconciliation import Line, Reconciliation, render
from subsidy_payments.repository import Totals
from subsidy_platform.clients import service_addresses
from subsidy_platform.config import Settings
from subsidy_platform.private_files import remove_copies, write_private
from subsidy_platform.staff_cli import add_sign_in_arguments
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.tls import Pki
from subsidy_platform.ward_clock import ward_stamp

Stub = payments_pb2_grpc.PaymentsServiceStub
Metadata = tuple[tuple[str, str], ...]
DEFAULT_OUT = "out/payments"


def saved_copies(out: Path, program_id: str, held: set[int]) -> list[str]:
    """Names of the program's released files saved in `out` whose batch is no longer held."""
    pattern = re.compile(rf"zengin-{re.escape(program_id)}-(\d{{6,}})-\d{{8}}\.txt")
    names = []
    for path in out.iterdir() if out.is_dir() else ():
        match = pattern.fullmatch(path.name)
        if match and int(match.group(1)) not in held:
            names.append(path.name)
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subsidy-payments-admin",
        description="振込: バッチ作成・承認・返却取込・照合 (payments service)",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--server", default=None, help="payments service host:port")
    add_sign_in_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    reconcile = commands.add_parser("reconcile", help="照合")
    reconcile.add_argument("--program", required=True)
    reconcile.add_argument(
        "--across", action="store_true", help="審査の交付決定・振込指図・振込ファイルの照合"
    )
    reconcile.add_argument("--json", action="store_true", help="JSON で出力（--across）")
    commands.add_parser("held-files", help="保管中の振込ファイル").add_argument(
        "--program", required=True
    )
    purge = commands.add_parser("purge-files", help="保存期間を過ぎた振込ファイルの削除")
    purge.add_argument("--program", required=True)
    purge.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    build = commands.add_parser("build", help="振込バッチの作成")
    build.add_argument("--program", required=True)
    build.add_argument("--date", required=True)
    build.add_argument("--max", type=int, default=0)
    commands.add_parser("show", help="振込バッチの確認").add_argument("batch", type=int)
    cancel = commands.add_parser("cancel", help="承認前の取消")
    cancel.add_argument("batch", type=int)
    cancel.add_argument("--reason", required=True)
    commands.add_parser("held", help="共用口座で保留中の振込指図").add_argument(
        "--program", required=True
    )
    for name, text in (
        ("clear-shared", "共用口座の確認の記録"),
        ("approve-shared", "共用口座の確認の承認"),
    ):
        pair = commands.add_parser(name, help=text)
        pair.add_argument("--program", required=True)
        pair.add_argument("application")
        pair.add_argument("other")
        if name == "clear-shared":
            pair.add_argument("--reason", required=True)
    release = commands.add_parser("release", help="振込バッチの承認・送信")
    release.add_argument("batch", type=int)
    release.add_argument("--sha256", required=True)
    release.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    confirm = commands.add_parser("confirm", help="着金確認")
    confirm.add_argument("batch", type=int)
    confirm.add_argument("--on", default="")
    returns = commands.add_parser("returns", help="返却ファイルの取込")
    returns.add_argument("--program", required=True)
    returns.add_argument("file", type=Path)
    return parser


def reconciliation_of(message: payments_pb2.Reconciliation) -> Reconciliation:
    return Reconciliation(
        message.program_id,
        tuple(
            Line(
                line.scope,
                Totals(
                    line.granted, line.paid, line.failed_awaiting, line.not_yet_paid, line.grants
                ),
            )
            for line in message.lines
        ),
    )


def show_batch(batch: payments_pb2.Batch) -> str:
    """The approver's check: count, total, largest, over the cap, builder, SHA-256, and
    every member whose account another grant shares (cleared by two people)."""
    lines = [
        f"振込バッチ {batch.batch_id} ({batch.state}) 振込日 {batch.transfer_date}: "
        f"{batch.count:,}件 合計 {batch.total:,}円 最大 {batch.largest:,}円 "
        f"上限超過 {batch.over_cap}件 作成 {batch.built_by} 承認 {batch.released_by or '-'}",
        f"  SHA-256 {batch.file_sha256}",
        f"  共用口座 {len(batch.shared_accounts)}組",
    ]
    lines += [
        f"    {p.application_number} と {p.other_application_number}"
        f"（{p.other_state}{f' バッチ {p.other_batch_id}' if p.other_batch_id else ''}）"
        f" 確認 {p.recorded_by or '-'} 承認 {p.approved_by or '-'}"
        for p in batch.shared_accounts
    ]
    if batch.held_back:
        lines.append(f"  保留（共用口座の確認待ち） {batch.held_back}件")
    if batch.cancel_reason:
        lines.append(f"  取消理由 {batch.cancel_reason}")
    return "\n".join(lines)


def _run(stub: Stub, md: Metadata, args: argparse.Namespace) -> int:
    if args.command == "reconcile" and (args.across or args.json):
        across = stub.ReconcileAcross(
            payments_pb2.ReconcileAcrossRequest(program_id=args.program), metadata=md
        )
        if args.json:
            print(json.dumps(cross_report.as_json(across), ensure_ascii=False, indent=2))
        else:
            print(cross_report.render(across))
        return 0 if across.balanced else 1
    if args.command == "reconcile":
        result = stub.Reconcile(payments_pb2.ReconcileRequest(program_id=args.program), metadata=md)
        print(render(reconciliation_of(result)))
        return 0 if result.balanced else 1
    if args.command == "held-files":
        held = stub.ListHeldFiles(
            payments_pb2.ListHeldFilesRequest(program_id=args.program), metadata=md
        )
        for f in held.files:
            print(
                f"{f.batch_id}\t{f.state}\t{ward_stamp(f.built_at)}\t{f.confirmed_on or '-'}\t{f.delete_after or '-'}\t{f.file_sha256}"
            )
        print(f"{len(held.files)}件保管中")
        return 0
    if args.command == "purge-files":
        purged = stub.PurgeFiles(
            payments_pb2.PurgeFilesRequest(program_id=args.program), metadata=md
        )
        print(f"{purged.deleted}件削除")
        held = stub.ListHeldFiles(
            payments_pb2.ListHeldFilesRequest(program_id=args.program), metadata=md
        )
        removed = remove_copies(
            args.out, saved_copies(args.out, args.program, {f.batch_id for f in held.files})
        )
        print(f"保存していた写し {len(removed)} ファイルを削除（{args.out}）")
        return 0
    if args.command == "build":
        batch = stub.BuildBatch(
            payments_pb2.BuildBatchRequest(
                request_id=uuid.uuid4().hex, program_id=args.program,
                transfer_date=args.date, max_instructions=args.max,
            ),
            metadata=md,
        )  # fmt: skip
        print(show_batch(batch))
        return 0
    if args.command == "show":
        print(
            show_batch(
                stub.GetBatch(payments_pb2.GetBatchRequest(batch_id=args.batch), metadata=md)
            )
        )
        return 0
    if args.command == "cancel":
        cancelled = stub.CancelBatch(
            payments_pb2.CancelBatchRequest(batch_id=args.batch, reason=args.reason), metadata=md
        )
        print(show_batch(cancelled))
        return 0
    if args.command == "release":
        released = stub.ReleaseBatch(
            payments_pb2.ReleaseBatchRequest(
                request_id=uuid.uuid4().hex, batch_id=args.batch, file_sha256=args.sha256
            ),
            metadata=md,
        )
        path = write_private(args.out / Path(released.batch.file_name).name, released.content)
        print(show_batch(released.batch))
        print(f"  -> {path}")
        return 0
    if args.command == "held":
        holds = stub.ListHeldInstructions(
            payments_pb2.ListHeldInstructionsRequest(program_id=args.program), metadata=md
        )
        for h in holds.instructions:
            waiting = f" 承認待ち {','.join(h.awaiting_approval)}" if h.awaiting_approval else ""
            print(
                f"{h.instruction_id}\t{h.application_number}\t{h.amount:,}円\t"
                f"同じ口座: {','.join(h.other_application_numbers)}{waiting}\t{h.reason}"
            )
        print(f"{len(holds.instructions)}件保留中")
        return 0
    if args.command in ("clear-shared", "approve-shared"):
        if args.command == "clear-shared":
            cleared = stub.ClearSharedAccount(
                payments_pb2.ClearSharedAccountRequest(
                    request_id=uuid.uuid4().hex, program_id=args.program,
                    application_number=args.application, other_application_number=args.other,
                    reason=args.reason,
                ),
                metadata=md,
            )  # fmt: skip
        else:
            cleared = stub.ApproveSharedAccountClearance(
                payments_pb2.ApproveSharedAccountClearanceRequest(
                    request_id=uuid.uuid4().hex, program_id=args.program,
                    application_number=args.application, other_application_number=args.other,
                ),
                metadata=md,
            )  # fmt: skip
        state = f"承認 {cleared.approved_by}" if cleared.approved_by else "承認待ち"
        print(
            f"共用口座の確認 {cleared.application_number}・{cleared.other_application_number}: "
            f"記録 {cleared.recorded_by} {state}"
        )
        return 0
    if args.command == "confirm":
        print(
            show_batch(
                stub.ConfirmBatch(
                    payments_pb2.ConfirmBatchRequest(batch_id=args.batch, confirmed_on=args.on),
                    metadata=md,
                )
            )
        )
        return 0
    imported = stub.ImportReturns(
        payments_pb2.ImportReturnsRequest(
            request_id=uuid.uuid4().hex, program_id=args.program,
            file_name=args.file.name, content=args.file.read_bytes(),
        ),
        metadata=md,
    )  # fmt: skip
    for p in imported.problems:
        print(f"{p.row}行目 {p.field}: {p.problem}")
    verdict = "取込" if imported.accepted else "全体を拒否"
    print(f"{verdict}: {imported.rows}行 振込不能 {imported.failed}件")
    return 0 if imported.accepted else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "returns" and not args.file.is_file():
        print("ファイルがありません", file=sys.stderr)
        return 2
    addresses = service_addresses()
    pki = Pki(args.pki or Settings.from_env().state_dir / "pki")
    login = args.login or input("ID: ")
    password = (
        sys.stdin.readline().rstrip("\r\n")
        if args.password_stdin
        else getpass.getpass("パスワード: ")
    )
    session = StaffSession(pki)
    try:
        session.sign_in(args.auth_server or addresses["auth"], login, password)
        stub = session.stub(args.server or addresses["payments"], Stub)
        return _run(stub, session.metadata, args)
    except grpc.RpcError as error:
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        return 2
    finally:
        session.close()


if __name__ == "__main__":
    sys.exit(main())
