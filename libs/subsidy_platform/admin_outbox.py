"""`subsidy-admin outbox status|list|requeue`: the administrator's parked-event commands.

    subsidy-admin outbox status  [--service S ...]            per service and destination:
                                 pending, failing (retried), parked, delivered, oldest pending
    subsidy-admin outbox list    --service S [--destination D] [--limit N] [--csv FILE]
                                 the parked events: key, topic, destination, attempts,
                                 the receiver's status code, created and parked times
    subsidy-admin outbox requeue --service S --destination D (--key K ... | --all)
                                 --reason TEXT     deliver them again once the cause is fixed

An event its receiver refuses for good (invalid, not found, not permitted, a failed
precondition) is parked by the outbox relay after five attempts (subsidy_platform.outbox):
kept, no longer retried. These commands sign in as an account of role `admin`
(subsidy_platform.staff_cli) and call the platform's MaintenanceService on the service
(`--server`, default `<SERVICE>_ADDRESS` or its default port; subsidy_platform.maintenance):
`requeue` clears the events' parked state so that the relay delivers them again with the
same key (the receiver applies each at most once), audited with the account and the reason.
`--all` requeues the destination's parked events 100 at a time (one audited call each).
docs/OPERATIONS.md ("Parked events") gives the procedure.

Exit status: `status` 0 when nothing is parked, 1 when an event is parked anywhere (an
alarm, for a monitoring job), 2 when a service cannot be asked; `list` 0; `requeue` 0 done,
1 refused (not admin, a key that is not parked); every command 2 on an error (bad input, a
failed sign-in, a service unreachable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from subsidy.maintenance.v1 import maintenance_pb2, maintenance_pb2_grpc

from subsidy_platform.clients import service_addresses
from subsidy_platform.declaration import service_names
from subsidy_platform.errors import field_violations
from subsidy_platform.excel_csv import write_excel_csv
from subsidy_platform.private_files import write_private
from subsidy_platform.staff_cli import Secrets, add_sign_in_arguments, signed_in
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.ward_clock import ward_stamp

STATUS_HEADER = ("サービス", "配信先", "未配信", "再試行中", "保留", "配信済", "最古の未配信")
LIST_HEADER = (
    "サービス",
    "キー",
    "トピック",
    "配信先",
    "試行回数",
    "拒否理由",
    "作成日時",
    "保留日時",
)
REFUSED = {
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
}
MAX_ROUNDS = 1000  # `--all`: at most this many calls of 100 events
Stub = maintenance_pb2_grpc.MaintenanceServiceStub


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="subsidy-admin outbox",
        description="送信待ちイベントの状況と保留イベントの再送 (役割 admin でサインイン)",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="配信先ごとの件数 (保留があれば終了コード 1)")
    status.add_argument("--service", action="append", choices=service_names(), default=None)
    status.add_argument("--server", default=None, help="host:port (with one --service)")
    listing = commands.add_parser("list", help="保留イベントの一覧")
    listing.add_argument("--service", required=True, choices=service_names())
    listing.add_argument("--server", default=None, help="the service's host:port")
    listing.add_argument("--destination", default="")
    listing.add_argument("--limit", type=int, default=1000, help="at most this many (1-1000)")
    listing.add_argument("--csv", type=Path, default=None, help="write the list as CSV")
    requeue = commands.add_parser("requeue", help="原因を直した保留イベントを再送する")
    requeue.add_argument("--service", required=True, choices=service_names())
    requeue.add_argument("--server", default=None, help="the service's host:port")
    requeue.add_argument("--destination", required=True)
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", action="append", default=None, help="an event key (repeatable)")
    which.add_argument("--all", action="store_true", help="every parked event of the destination")
    requeue.add_argument("--reason", required=True, help="why the cause is fixed (audited)")
    for command in (status, listing, requeue):
        add_sign_in_arguments(command)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "status" and args.server and len(args.service or ()) != 1:
        print("--server needs exactly one --service", file=sys.stderr)
        return 2
    try:
        with signed_in(args, Secrets(args.password_stdin)) as (session, _):
            if args.command == "status":
                return _status(session, args)
            stub = session.stub(_address(args.service, args.server), Stub)
            if args.command == "list":
                return _list(stub, session, args)
            return _requeue(stub, session, args)
    except grpc.RpcError as error:
        _report(error)
        return 1 if error.code() in REFUSED else 2


def _address(service: str, server: str | None) -> str:
    return server or service_addresses()[service]


def _report(error: grpc.RpcError) -> None:
    for violation in field_violations(error):
        print(f"{violation.field}: {violation.description}", file=sys.stderr)
    print(f"{error.code().name}: {error.details()}", file=sys.stderr)


def _status(session: StaffSession, args: argparse.Namespace) -> int:
    services = args.service or list(service_names())
    print("\t".join(STATUS_HEADER))
    parked = 0
    unreachable = False
    for service in services:
        stub = session.stub(_address(service, args.server), Stub)
        try:
            found: maintenance_pb2.GetOutboxStatusResponse = stub.GetOutboxStatus(
                maintenance_pb2.GetOutboxStatusRequest(), metadata=session.metadata, timeout=30
            )
        except grpc.RpcError as error:
            print(f"{service}\t-\t{error.code().name}", file=sys.stderr)
            unreachable = True
            continue
        for d in found.destinations:
            row = (
                d.pending,
                d.failing,
                d.parked,
                d.delivered,
                ward_stamp(d.oldest_pending_at) or "-",
            )
            print("\t".join(str(cell) for cell in (service, d.destination, *row)))
        parked += found.parked_total
    if parked:
        print(f"保留イベント {parked} 件: subsidy-admin outbox list で確認してください")
    return 2 if unreachable else (1 if parked else 0)


def _list(stub: Stub, session: StaffSession, args: argparse.Namespace) -> int:
    found: maintenance_pb2.ListParkedEventsResponse = stub.ListParkedEvents(
        maintenance_pb2.ListParkedEventsRequest(destination=args.destination, limit=args.limit),
        metadata=session.metadata,
        timeout=30,
    )
    rows = [
        (
            found.service,
            e.key,
            e.topic,
            e.destination,
            e.attempts,
            e.last_error,
            ward_stamp(e.created_at),
            ward_stamp(e.parked_at),
        )
        for e in found.events
    ]
    if args.csv is not None:
        write_private(args.csv, write_excel_csv(LIST_HEADER, rows))
    print("\t".join(LIST_HEADER))
    for row in rows:
        print("\t".join(str(cell) for cell in row))
    print(
        f"保留イベント {found.total} 件"
        + (f" (うち {len(rows)} 件を表示)" if found.total > len(rows) else "")
    )
    return 0


def _requeue(stub: Stub, session: StaffSession, args: argparse.Namespace) -> int:
    scope = maintenance_pb2.REQUEUE_SCOPE_ALL if args.all else maintenance_pb2.REQUEUE_SCOPE_KEYS
    requeued: list[str] = []
    remaining = 0
    for _ in range(MAX_ROUNDS if args.all else 1):
        done: maintenance_pb2.RequeueParkedResponse = stub.RequeueParked(
            maintenance_pb2.RequeueParkedRequest(
                destination=args.destination,
                scope=scope,
                keys=[] if args.all else args.key,
                reason=args.reason,
            ),
            metadata=session.metadata,
            timeout=60,
        )
        requeued.extend(done.requeued_keys)
        remaining = done.remaining_parked
        if not done.requeued_keys or not remaining:
            break
    for key in requeued:
        print(key)
    print(f"再送 {len(requeued)} 件 (配信先 {args.destination}、残りの保留 {remaining} 件)")
    return 0
