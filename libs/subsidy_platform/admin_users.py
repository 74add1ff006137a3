"""`subsidy-admin users list|disable|enable|unlock|reset-password`: the administrator's commands.

    subsidy-admin users list [--role R] [--csv FILE]   every account, with its state
    subsidy-admin users disable LOGIN                  the account can no longer sign in
    subsidy-admin users enable LOGIN                   it can again
    subsidy-admin users unlock LOGIN                   lift a lock-out (failed sign-ins)
    subsidy-admin users reset-password LOGIN           set a new password (asked twice)

These sign in as an account of role `admin` (subsidy_platform.staff_cli) and call
UserAdminService on the sign-in service (subsidy_platform.user_admin), which checks, changes
and audits; no database URL is needed. `users add` (the first administrator, new accounts)
is the machine administrator's and stays on the database URL (subsidy_platform.users).
The new password is asked twice with getpass and never taken from the command line; with
`--password-stdin` the lines of standard input are: your own password, the new password,
the new password again. Exit status: 0 done (also when nothing had to change), 1 refused
(an unknown account, your own account, a role other than admin), 2 an error (bad input such
as a weak password, the passwords typed differ, a failed sign-in, the service unreachable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from subsidy.auth.v1 import admin_pb2, admin_pb2_grpc

from subsidy_platform.access import ROLES
from subsidy_platform.errors import field_violations
from subsidy_platform.excel_csv import write_excel_csv
from subsidy_platform.private_files import write_private
from subsidy_platform.staff_cli import Secrets, add_sign_in_arguments, signed_in
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.ward_clock import ward_stamp

HEADER = ("ID", "役割", "状態", "ロック解除予定", "連続失敗回数", "作成日時")
REFUSED = {
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="subsidy-admin users",
        description="職員アカウントの管理 (役割 admin でサインイン)",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="アカウントの一覧")
    add_sign_in_arguments(listing)
    listing.add_argument("--role", choices=ROLES, default="")
    listing.add_argument("--csv", type=Path, default=None, help="write the list as CSV")
    for name, text in (
        ("disable", "アカウントを無効にする"),
        ("enable", "アカウントを有効にする"),
        ("unlock", "ロックを解除する"),
        ("reset-password", "パスワードを再設定する"),
    ):
        change = commands.add_parser(name, help=text)
        change.add_argument("target", metavar="LOGIN")
        add_sign_in_arguments(change)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    secrets = Secrets(args.password_stdin)
    try:
        with signed_in(args, secrets) as (session, address):
            stub = session.stub(address, admin_pb2_grpc.UserAdminServiceStub)
            if args.command == "list":
                return _list(stub, session, args)
            return _change(stub, session, args, secrets)
    except grpc.RpcError as error:
        for violation in field_violations(error):
            print(f"{violation.field}: {violation.description}", file=sys.stderr)
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        return 1 if error.code() in REFUSED else 2


def state_of(account: admin_pb2.StaffAccount) -> str:
    if account.disabled:
        return "無効"
    return "ロック中" if account.locked else "有効"


def row_of(account: admin_pb2.StaffAccount) -> tuple[str, str, str, str, int, str]:
    return (
        account.login,
        account.role,
        state_of(account),
        ward_stamp(account.locked_until),
        account.failed_attempts,
        ward_stamp(account.created_at),
    )


def _list(
    stub: admin_pb2_grpc.UserAdminServiceStub, session: StaffSession, args: argparse.Namespace
) -> int:
    rows: list[tuple[str, str, str, str, int, str]] = []
    token = ""
    while True:
        page = stub.ListUsers(
            admin_pb2.ListUsersRequest(page_size=500, page_token=token, role=args.role),
            metadata=session.metadata,
            timeout=30,
        )
        rows.extend(row_of(account) for account in page.accounts)
        token = page.next_page_token
        if not token:
            break
    if args.csv is not None:
        write_private(args.csv, write_excel_csv(HEADER, rows))
    print("\t".join(HEADER))
    for row in rows:
        print("\t".join(str(cell) for cell in row))
    print(f"{len(rows)} 件", file=sys.stderr)
    return 0


def _change(
    stub: admin_pb2_grpc.UserAdminServiceStub,
    session: StaffSession,
    args: argparse.Namespace,
    secrets: Secrets,
) -> int:
    request = admin_pb2.ChangeUserRequest(login=args.target)
    if args.command == "reset-password":
        password = secrets.ask("新しいパスワード: ")
        if secrets.ask("新しいパスワード (確認): ") != password:
            print("パスワードが一致しません", file=sys.stderr)
            return 2
        answer = stub.ResetPassword(
            admin_pb2.ResetPasswordRequest(login=args.target, new_password=password),
            metadata=session.metadata,
            timeout=30,
        )
        done = "パスワードを再設定しました"
    else:
        call, done = {
            "disable": (stub.DisableUser, "無効にしました"),
            "enable": (stub.EnableUser, "有効にしました"),
            "unlock": (stub.UnlockUser, "ロックを解除しました"),
        }[args.command]
        answer = call(request, metadata=session.metadata, timeout=30)
    account = answer.account
    outcome = done if answer.changed else "変更はありません (既にその状態です)"
    print(f"{account.login}: {outcome} (状態: {state_of(account)})")
    return 0
