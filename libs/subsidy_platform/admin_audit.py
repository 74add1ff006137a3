"""`subsidy-admin audit list|search|summary|verify --login ...`: the auditor's commands.

    subsidy-admin audit list    [filters] [--limit N] [--csv FILE]   events, newest first
    subsidy-admin audit search  (the same as list)
    subsidy-admin audit summary --since D --until D [--csv FILE]     the regular review
    subsidy-admin audit verify  --login ID [--anchor SEQ:HASH ...]   chain and checkpoints

Filters: --actor, --role, --application, --action, --rpc, --service, --target (the staff
account an administrator changed), --since, --until. A time is RFC 3339 with its offset
(`2025-07-01T09:00:00+09:00`) or a date `YYYY-MM-DD` in Japan time: `--since` from its start,
`--until` through its end. These commands sign in as an account of role `auditor`
(subsidy_platform.staff_cli) and read AuditService on the sign-in service
(subsidy_platform.audit_reader): the auditor needs no database URL. `audit verify` without
`--login`/`--auth-server` is the machine administrator's check on the database URL
(subsidy_platform.audit_cli); both print the same JSON, whose `head` is the verified head as
`SEQ:HASH`, exactly the form `--anchor` takes, and exit 0 intact, 1 broken, 2 an error.

Output: a table (tab-separated, a header line) on standard output; with `--csv FILE` also a
CSV for Excel (UTF-8 with BOM, formula-like cells neutralised: subsidy_platform.excel_csv).
The summary prints per actor (events, events outside 07:00-22:00 Japan time, unusual volume),
per action, and per actor, role, action and RPC; its CSV holds all three, marked by a first
column.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import grpc
from subsidy.audit.v1 import audit_pb2, audit_pb2_grpc

from subsidy_platform.errors import field_violations
from subsidy_platform.excel_csv import write_excel_csv
from subsidy_platform.private_files import write_private
from subsidy_platform.staff_cli import Secrets, add_sign_in_arguments, signed_in
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.ward_clock import ward_stamp

EVENT_HEADER = (
    "seq",
    "日時",
    "実行者",
    "役割",
    "サービス",
    "RPC",
    "操作",
    "申請番号",
    "項目",
    "目的",
    "対象アカウント",
    "トレースID",
)
SUMMARY_HEADER = ("区分", "実行者", "役割", "操作", "RPC", "件数", "時間外件数", "件数が多い")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_LIST = 100_000
Stub = audit_pb2_grpc.AuditServiceStub


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="subsidy-admin audit",
        description="監査ログの検索・定期点検・検証 (役割 auditor でサインイン)",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True)
    for name in ("list", "search"):
        listing = commands.add_parser(name, help="監査イベントの一覧・検索")
        for option in ("actor", "role", "application", "action", "rpc", "service", "target"):
            listing.add_argument(f"--{option}", default="")
        listing.add_argument("--since", default="")
        listing.add_argument("--until", default="")
        listing.add_argument("--limit", type=int, default=1000, help="at most this many events")
        listing.add_argument("--csv", type=Path, default=None)
        add_sign_in_arguments(listing)
    summary = commands.add_parser("summary", help="定期点検用の集計")
    summary.add_argument("--since", required=True)
    summary.add_argument("--until", required=True)
    summary.add_argument("--csv", type=Path, default=None)
    add_sign_in_arguments(summary)
    verify = commands.add_parser("verify", help="ハッシュチェーンと署名済みチェックポイントの検証")
    verify.add_argument("--anchor", action="append", default=[], metavar="SEQ:HASH")
    add_sign_in_arguments(verify)
    return top


def uses_service(argv: Sequence[str]) -> bool:
    """Whether `audit verify` was asked of the service (the auditor) rather than the database."""
    return any(a.split("=", 1)[0] in ("--login", "--auth-server") for a in argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        since = moment(getattr(args, "since", ""), end=False)
        until = moment(getattr(args, "until", ""), end=True)
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    if args.command in ("list", "search") and not 1 <= args.limit <= MAX_LIST:
        print(f"--limit は 1〜{MAX_LIST} で指定してください", file=sys.stderr)
        return 2
    try:
        with signed_in(args, Secrets(args.password_stdin)) as (session, address):
            stub = session.stub(address, audit_pb2_grpc.AuditServiceStub)
            if args.command == "summary":
                return _summary(stub, session, args, since, until)
            if args.command == "verify":
                return _verify(stub, session, args)
            return _list(stub, session, args, since, until)
    except grpc.RpcError as error:
        for violation in field_violations(error):
            print(f"{violation.field}: {violation.description}", file=sys.stderr)
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        return 2


def moment(value: str, *, end: bool) -> str:
    """A command-line time as the RPC takes it: a date is Japan time, `end` its next day."""
    if not value or not _DATE.fullmatch(value):
        return value
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("日付は YYYY-MM-DD で指定してください") from None
    if end:
        day += timedelta(days=1)
    return f"{day.isoformat()}T00:00:00+09:00"


def event_row(event: audit_pb2.AuditEventRecord) -> tuple[str | int, ...]:
    return (
        event.seq,
        ward_stamp(event.at),
        event.actor,
        event.role,
        event.service,
        event.rpc,
        event.action,
        event.application_id,
        " ".join(event.fields),
        event.purpose,
        event.target,
        event.trace_id,
    )


def _list(
    stub: Stub, session: StaffSession, args: argparse.Namespace, since: str, until: str
) -> int:
    criteria = audit_pb2.EventFilter(
        actor=args.actor,
        role=args.role,
        application_id=args.application,
        action=args.action,
        rpc=args.rpc,
        service=args.service,
        target=args.target,
        since=since,
        until=until,
    )
    rows: list[tuple[str | int, ...]] = []
    token = ""
    while len(rows) < args.limit:
        page = stub.ListEvents(
            audit_pb2.ListEventsRequest(
                filter=criteria, page_size=min(1000, args.limit - len(rows)), page_token=token
            ),
            metadata=session.metadata,
            timeout=60,
        )
        rows.extend(event_row(event) for event in page.events)
        token = page.next_page_token
        if not token:
            break
    _emit(EVENT_HEADER, rows, args.csv)
    more = " (続きあり: --limit を増やしてください)" if token else ""
    print(f"{len(rows)} 件{more}", file=sys.stderr)
    return 0


def summary_rows(answer: audit_pb2.SummariseActivityResponse) -> list[tuple[str | int, ...]]:
    rows: list[tuple[str | int, ...]] = []
    for actor in answer.actors:
        rows.append(
            (
                "実行者別",
                actor.actor,
                actor.role,
                "",
                "",
                actor.events,
                actor.off_hours_events,
                "要確認" if actor.unusual_volume else "",
            )
        )
    for action in answer.actions:
        rows.append(("操作別", "", "", action.action, "", action.events, "", ""))
    for group in answer.activity:
        rows.append(
            ("明細", group.actor, group.role, group.action, group.rpc, group.events, "", "")
        )
    return rows


def _summary(
    stub: Stub, session: StaffSession, args: argparse.Namespace, since: str, until: str
) -> int:
    answer = stub.SummariseActivity(
        audit_pb2.SummariseActivityRequest(since=since, until=until),
        metadata=session.metadata,
        timeout=120,
    )
    _emit(SUMMARY_HEADER, summary_rows(answer), args.csv)
    print(
        f"期間 {answer.since} 〜 {answer.until}: {answer.total} 件、"
        f"実行者 {len(answer.actors)} 人 (中央値 {answer.median_events_per_actor:g} 件)"
        + ("、上位のみ表示" if answer.truncated else ""),
        file=sys.stderr,
    )
    return 0


def _verify(stub: Stub, session: StaffSession, args: argparse.Namespace) -> int:
    answer = stub.VerifyChain(
        audit_pb2.VerifyChainRequest(anchors=args.anchor), metadata=session.metadata, timeout=600
    )
    document = {
        "ok": answer.ok,
        "rows": answer.rows,
        "first_broken_seq": answer.first_broken_seq or None,
        "problem": answer.problem or None,
        "head": answer.head or None,
        "checkpoint": answer.checkpoint or None,
        "checkpoints": answer.checkpoints,
        "checkpoint_age_seconds": (
            answer.checkpoint_age_seconds if answer.checkpoint_age_seconds >= 0 else None
        ),
        "max_age_seconds": answer.max_age_seconds,
        "unsealed_rows": answer.unsealed_rows,
    }
    print(json.dumps(document, ensure_ascii=False))
    return 0 if answer.ok else 1


def _emit(header: Sequence[str], rows: list[tuple[str | int, ...]], csv_path: Path | None) -> None:
    if csv_path is not None:
        write_private(csv_path, write_excel_csv(header, rows))
    print("\t".join(header))
    for row in rows:
        print("\t".join(_plain(cell) for cell in row))


def _plain(cell: str | int) -> str:
    """A cell on one terminal line: tabs, line breaks and other control characters (which a
    terminal could act on) as spaces."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", str(cell))
