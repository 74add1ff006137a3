"""`subsidy-notices`: the print operator's daily commands, and the customer barcode.

    subsidy-notices barcode POSTAL_CODE ADDRESS      the カスタマバーコード characters (STC .. SPC)
    subsidy-notices preview  --program P [--out DIR] sample notices of each kind (PDF + PNG)
    subsidy-notices batch    --program P [--limit N] [--out DIR]   render a batch, save PDF + manifest
    subsidy-notices download --batch ID [--out DIR]  save a batch's PDF and manifest again
    subsidy-notices printed  --batch ID              the batch is printed
    subsidy-notices mailed   --batch ID [--on YYYY-MM-DD]   the batch is mailed
    subsidy-notices reprint  --number N --kind grant|refusal|correction --reason TEXT
    subsidy-notices returned --number N --kind grant|refusal|correction [--on YYYY-MM-DD]
    subsidy-notices manual   --number N --kind ... --reason TEXT [--on YYYY-MM-DD]  mailed by hand
    subsidy-notices batches  --program P             the batches and their state
    subsidy-notices held     --program P             print data still held
    subsidy-notices purge    --program P [--out DIR] delete print data past its retention,
                                                     and the copies saved in DIR

`barcode` and `preview` need no server. Every other command signs in at the platform's sign-in service
(`--auth-server`, default `AUTH_ADDRESS` or 127.0.0.1:50050) with `--login` and a password
asked for (or read from standard input with `--password-stdin`), and calls the notices
service (`--server`, default `NOTICES_ADDRESS` or 127.0.0.1:50054) over mutual TLS with the
staff client certificate of the state folder (`--pki DIR` to name another). Exit status: 0
done, 1 refused (a barcode the rules refuse, a batch with notices left out), 2 an error.

Print files hold residents' names and addresses: `batch` and `download` save them owner-only
(0600, in a folder made 0700; subsidy_platform.private_files), and `purge` deletes, besides
the service's print data, the saved copies in `--out` (default `out/notices`) of the
program's batches whose print data the service no longer holds (read from each copy's
manifest), so that nothing outlives its retention on the operator's machine.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc

from subsidy_notices import _customer_barcode as barcode
from subsidy_platform.clients import service_addresses
from subsidy_platform.config import Settings
from subsidy_platform.private_files import remove_copies, write_private
from subsidy_platform.staff_cli import add_sign_in_arguments
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.tls import Pki

Stub = notices_pb2_grpc.NoticesServiceStub
Metadata = tuple[tuple[str, str], ...]
DEFAULT_OUT = "out/notices"
MANIFEST_SUFFIX = ".manifest.json"
KINDS = {
    "grant": notices_pb2.GRANT,
    "refusal": notices_pb2.REFUSAL,
    "correction": notices_pb2.CORRECTION,
    "revocation": notices_pb2.REVOCATION,
}
STATES = {
    notices_pb2.RENDERED: "作成済",
    notices_pb2.PRINTED: "印刷済",
    notices_pb2.MAILED: "発送済",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subsidy-notices",
        description="通知書（圧着はがき）の印刷・発送・返戻・印刷データの削除 (notices service)",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--server", default=None, help="notices service host:port")
    add_sign_in_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    code = commands.add_parser("barcode", help="カスタマバーコードの文字列")
    code.add_argument("postal_code")
    code.add_argument("address")
    sample = commands.add_parser("preview", help="見本の通知書 (PDF と PNG)")
    sample.add_argument("--program", required=True)
    sample.add_argument("--out", type=Path, default=Path("out/notices/preview"))
    batch = commands.add_parser("batch", help="印刷バッチを作成し PDF と manifest を保存")
    batch.add_argument("--program", required=True)
    batch.add_argument("--limit", type=int, default=0)
    batch.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    download = commands.add_parser("download", help="印刷バッチの PDF と manifest を保存")
    download.add_argument("--batch", required=True)
    download.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    for name, text in (("printed", "印刷済みの確認"), ("mailed", "発送済みの確認")):
        confirm = commands.add_parser(name, help=text)
        confirm.add_argument("--batch", required=True)
        confirm.add_argument("--on", default="")
    for name, text in (
        ("reprint", "再印刷"),
        ("returned", "返戻（宛所不明）の記録"),
        ("manual", "手作業で印刷・発送した通知の記録"),
    ):
        follow = commands.add_parser(name, help=text)
        follow.add_argument("--number", required=True)
        follow.add_argument("--kind", choices=sorted(KINDS), required=True)
        follow.add_argument("--reason", default="")
        follow.add_argument("--on", default="")
    for name, text in (
        ("batches", "印刷バッチの一覧"),
        ("held", "保持中の印刷データ"),
        ("purge", "保存期間を過ぎた印刷データの削除"),
    ):
        listing = commands.add_parser(name, help=text)
        listing.add_argument("--program", required=True)
        if name == "purge":
            listing.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "barcode":
        return _barcode(args.postal_code, args.address)
    if args.command == "preview":
        from subsidy_notices.samples import preview

        for path in preview(args.program, args.out):
            print(path)
        return 0
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
        stub = session.stub(args.server or addresses["notices"], Stub)
        return COMMANDS[args.command](stub, session.metadata, args)
    except grpc.RpcError as error:
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        return 2
    finally:
        session.close()


def _barcode(postal_code: str, address: str) -> int:
    try:
        print(barcode.format_barcode(postal_code, address))
    except ValueError as error:
        print(f"カスタマバーコードを作れません: {error}", file=sys.stderr)
        return 1
    return 0


def save_print_file(stub: Stub, metadata: Metadata, batch_id: str, out: Path) -> tuple[Path, Path]:
    """Download a batch's PDF and manifest into `out` (`<batch>.pdf`, `<batch>.manifest.json`),
    owner-only."""
    manifest, data = "", bytearray()
    for chunk in stub.DownloadPrintFile(
        notices_pb2.DownloadPrintFileRequest(batch_id=batch_id), metadata=metadata, timeout=600
    ):
        manifest = manifest or chunk.manifest_json
        data.extend(chunk.data)
    pdf, listing = out / f"{batch_id}.pdf", out / f"{batch_id}{MANIFEST_SUFFIX}"
    write_private(pdf, bytes(data))
    write_private(
        listing,
        (json.dumps(json.loads(manifest), ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )
    return pdf, listing


def saved_batches(out: Path, program_id: str) -> set[str]:
    """The batch ids of the program whose print files are saved in `out` (by their manifests)."""
    found: set[str] = set()
    for listing in out.glob(f"*{MANIFEST_SUFFIX}") if out.is_dir() else ():
        try:
            manifest = json.loads(listing.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("program_id") == program_id:
            found.add(listing.name.removesuffix(MANIFEST_SUFFIX))
    return found


def remove_purged_copies(stub: Stub, metadata: Metadata, program_id: str, out: Path) -> list[Path]:
    """Delete the copies saved in `out` of the program's batches whose print data is gone."""
    held = stub.ListHeldPrintData(
        notices_pb2.ListHeldPrintDataRequest(program_id=program_id), metadata=metadata
    )
    gone = saved_batches(out, program_id) - {b.batch_id for b in held.batches}
    return remove_copies(
        out, [f"{b}{suffix}" for b in gone for suffix in (".pdf", MANIFEST_SUFFIX)]
    )


def _batch(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    batch = stub.CreatePrintBatch(
        notices_pb2.CreatePrintBatchRequest(
            request_id=uuid.uuid4().hex, program_id=args.program, limit=args.limit
        ),
        metadata=metadata,
        timeout=1800,
    )
    for problem in batch.problems:
        print(f"印刷から除外: {problem.application_number}: {problem.problem}", file=sys.stderr)
    if not batch.batch_id:
        return 1
    pdf, listing = save_print_file(stub, metadata, batch.batch_id, args.out)
    print(
        f"{batch.batch_id}: {batch.count} 件 (再印刷 {batch.reprints}) {pdf} {listing} SHA-256 {batch.sha256}"
    )
    return 1 if batch.problems else 0


def _download(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    pdf, listing = save_print_file(stub, metadata, args.batch, args.out)
    print(f"{pdf} {listing}")
    return 0


def _confirm(method: str) -> Callable[[Stub, Metadata, argparse.Namespace], int]:
    def confirm(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
        batch = getattr(stub, method)(
            notices_pb2.ConfirmBatchRequest(
                request_id=uuid.uuid4().hex, batch_id=args.batch, mailed_on=args.on
            ),
            metadata=metadata,
        )
        print(f"{batch.batch_id}: {STATES.get(batch.state, '')} {batch.count} 件 {batch.mailed_on}")
        return 0

    return confirm


def _reprint(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    notice = stub.ReprintNotice(
        notices_pb2.ReprintNoticeRequest(
            request_id=uuid.uuid4().hex,
            application_number=args.number,
            kind=KINDS[args.kind],
            reason=args.reason,
        ),
        metadata=metadata,
    )
    print(f"{notice.application_number}: 再印刷 {notice.reprints} 回目（次の印刷バッチに入ります）")
    return 0


def _returned(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    notice = stub.RecordReturnedMail(
        notices_pb2.RecordReturnedMailRequest(
            request_id=uuid.uuid4().hex,
            application_number=args.number,
            kind=KINDS[args.kind],
            returned_on=args.on,
        ),
        metadata=metadata,
    )
    print(f"{notice.application_number}: 返戻 {notice.returned_on}")
    return 0


def _manual(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    notice = stub.RecordManualMailing(
        notices_pb2.RecordManualMailingRequest(
            request_id=uuid.uuid4().hex,
            application_number=args.number,
            kind=KINDS[args.kind],
            mailed_on=args.on,
            reason=args.reason,
        ),
        metadata=metadata,
    )
    print(f"{notice.application_number}: 手作業で発送 {notice.mailed_on}")
    return 0


def _batches(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    listed = stub.ListPrintBatches(
        notices_pb2.ListPrintBatchesRequest(program_id=args.program), metadata=metadata
    )
    for b in listed.batches:
        print(
            f"{b.batch_id}\t{STATES.get(b.state, '')}\t{b.count}件\t再印刷{b.reprints}\t{b.mailed_on or '-'}\t{b.sha256}"
        )
    return 0


def _held(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    held = stub.ListHeldPrintData(
        notices_pb2.ListHeldPrintDataRequest(program_id=args.program), metadata=metadata
    )
    for b in held.batches:
        print(
            f"{b.batch_id}\t{STATES.get(b.state, '')}\t{b.count}件\t削除予定 {b.delete_after or '発送確認後'}"
        )
    print(f"保持中: 印刷ファイル {len(held.batches)} 件, 宛名 {held.addressees_held} 件")
    return 0


def _purge(stub: Stub, metadata: Metadata, args: argparse.Namespace) -> int:
    done = stub.PurgeExpiredPrintData(
        notices_pb2.PurgeExpiredPrintDataRequest(program_id=args.program), metadata=metadata
    )
    print(f"削除: 印刷ファイル {done.print_files_deleted} 件, 宛名 {done.addressees_deleted} 件")
    removed = remove_purged_copies(stub, metadata, args.program, args.out)
    print(f"削除: 保存していた写し {len(removed)} ファイル（{args.out}）")
    return 0


COMMANDS: dict[str, Callable[[Stub, Metadata, argparse.Namespace], int]] = {
    "batch": _batch,
    "download": _download,
    "printed": _confirm("ConfirmPrinted"),
    "mailed": _confirm("ConfirmMailed"),
    "reprint": _reprint,
    "returned": _returned,
    "manual": _manual,
    "batches": _batches,
    "held": _held,
    "purge": _purge,
}
