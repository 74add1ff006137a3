"""`subsidy-admin`: the operators' command line.

    subsidy-admin up                       start (or reuse) embedded PostgreSQL + OpenBao,
                                           migrate, provision Vault, certificates, keys,
                                           and every installed service, detached
    subsidy-admin down                     stop the services and the embedded servers
    subsidy-admin db migrate [COMPONENT]   create roles and schemas, run migrations
    subsidy-admin users add LOGIN --role R add a staff account (password prompted)
    subsidy-admin users list|disable|enable|unlock|reset-password
                                           the administrator's account commands (sign in
                                           as role admin; subsidy_platform.admin_users)
    subsidy-admin audit list|search|summary [filters] [--csv FILE]
                                           the auditor's search and regular review (sign
                                           in as role auditor; subsidy_platform.admin_audit)
    subsidy-admin outbox status|list|requeue
                                           events between services: counts per destination,
                                           the parked ones, requeue once the cause is fixed
                                           (sign in as role admin; subsidy_platform.admin_outbox)
    subsidy-admin audit verify             check the audit log's hash chain and checkpoints
    subsidy-admin audit checkpoint         sign the audit log's head in Vault (a checkpoint)
    subsidy-admin keys rotate --program P --class contact|bank
                                           rotate a transit key and rewrap stored ciphertext
    subsidy-admin protos                   regenerate the gRPC code

Configuration comes from the environment (DATABASE_URL, VAULT_ADDR, VAULT_TOKEN,
SUBSIDY_STATE_DIR); see docs/OPERATIONS.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from subsidy_platform.config import Settings


def _up(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="subsidy-admin up",
        description="Start the embedded servers (unless external ones are configured) and "
        "every installed service, detached; print the addresses, certificates and how to "
        "sign in (subsidy_platform.stack).",
    )
    parser.parse_args(argv)
    from subsidy_platform.errors import DependencyUnavailable
    from subsidy_platform.stack import up
    from subsidy_rules.program import load_programs

    try:
        return up(Settings.from_env(), list(load_programs()), sys.stdout)
    except (RuntimeError, DependencyUnavailable) as error:  # names the log or the folder
        print(f"subsidy-admin up: {error}", file=sys.stderr)
        return 1


def _down(argv: Sequence[str]) -> int:
    argparse.ArgumentParser(
        prog="subsidy-admin down",
        description="Stop every service and the embedded servers of the state folder "
        "(the data stays); say what was stopped.",
    ).parse_args(argv)
    from subsidy_platform.stack import down

    return down(Settings.from_env(), sys.stdout)


def _users(argv: Sequence[str]) -> int:
    if argv[:1] != ["add"]:
        from subsidy_platform.admin_users import main as users_main

        return users_main(argv)
    from subsidy_platform.db import make_engine
    from subsidy_platform.embedded import ensure_infrastructure
    from subsidy_platform.users import add_user_arguments, run_users_add

    parser = argparse.ArgumentParser(prog="subsidy-admin users")
    sub = parser.add_subparsers(dest="action", required=True)
    add_user_arguments(sub.add_parser("add", help="add a staff account"))
    args = parser.parse_args(argv)
    engine = make_engine(ensure_infrastructure(Settings.from_env()).database_url)
    try:
        return run_users_add(args, engine)
    finally:
        engine.dispose()


def _audit(argv: Sequence[str]) -> int:
    from subsidy_platform.admin_audit import main as audit_main
    from subsidy_platform.admin_audit import uses_service
    from subsidy_platform.audit_cli import checkpoint_main, verify_main

    if argv and argv[0] == "verify" and not uses_service(argv):
        return int(verify_main(argv[1:]))
    if argv and argv[0] == "checkpoint":
        return int(checkpoint_main(argv[1:]))
    return audit_main(argv)


def _outbox(argv: Sequence[str]) -> int:
    from subsidy_platform.admin_outbox import main as outbox_main

    return outbox_main(argv)


def _db(argv: Sequence[str]) -> int:
    from subsidy_platform.db import main as db_main

    if not argv or argv[0] != "migrate":
        print("usage: subsidy-admin db migrate [COMPONENT ...]", file=sys.stderr)
        return 2
    return db_main(argv[1:])


def _keys(argv: Sequence[str]) -> int:
    from subsidy_platform.declaration import declarations
    from subsidy_platform.rotation import rotate_main

    if not argv or argv[0] != "rotate":
        print("usage: subsidy-admin keys rotate --program ID --class contact|bank", file=sys.stderr)
        return 2
    columns = tuple(c for d in declarations().values() for c in d.ciphertext)
    return rotate_main(argv[1:], columns)


def _protos(argv: Sequence[str]) -> int:
    from subsidy_platform.protogen import main as protogen_main

    protogen_main()
    return 0


COMMANDS = {
    "up": _up,
    "down": _down,
    "users": _users,
    "audit": _audit,
    "outbox": _outbox,
    "db": _db,
    "keys": _keys,
    "protos": _protos,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not args or args[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
