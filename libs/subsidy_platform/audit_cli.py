"""`subsidy-admin audit verify` and `audit checkpoint`: the audit log from the command line.

`verify` checks the hash chain against the newest signed checkpoint, read from OpenBao with
its signing key's public key (subsidy_platform.checkpoints; never a local file), and passes
only when that checkpoint is at most `--max-age` seconds old (default
`AUDIT_MAX_AGE_SECONDS`, else 60): it prints the result as JSON and exits 0 when the chain is
intact and sealed by a fresh checkpoint, 1 when a link is broken, a row's writer is not its
service's login, the checkpoint does not verify, the chain holds fewer rows than, or other
rows than, the checkpoint, or no checkpoint is fresh enough, and 2 when the database or
OpenBao cannot be reached. OpenBao is `VAULT_ADDR` with `VAULT_TOKEN`, else the embedded one
of the state folder (its root token: this is the machine administrator's check). `head` in the
output is the last intact row as `SEQ:HASH`, exactly the form `--anchor` takes: keep it
outside the database (the handover ledger) and pass it back with `--anchor SEQ:HASH` to check
against it too (docs/OPERATIONS.md).

`checkpoint` brings the platform up (`runtime.prepare`) and signs the chain's head in Vault
as the checkpoint writer; it prints the checkpoint as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence

import hvac
from sqlalchemy.exc import OperationalError

from subsidy_platform.checkpoints import (
    CheckpointError,
    VaultCheckpoints,
    chain_name,
    max_age_from,
    verify_with_checkpoints,
)
from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine
from subsidy_platform.embedded import ensure_openbao, ensure_postgres
from subsidy_platform.errors import DependencyUnavailable, PlatformError

MESSAGE_UNREACHABLE = "データベースまたは Vault に接続できません"


def verify_main(argv: Sequence[str] | None = None) -> int:
    """`subsidy-admin audit verify`: print the result as JSON; exit 0 intact, 1 broken, 2 error."""
    parser = argparse.ArgumentParser(
        prog="subsidy-admin audit verify",
        description="監査ログのハッシュチェーンを、Vault に保管された署名済みチェックポイントで検証"
        "します (データベースと Vault に直接接続)",
        epilog="監査担当 (役割 auditor) は --login ID を付けると、サインインして"
        "サインインサービス経由で検証します (subsidy-admin audit --help)",
    )
    parser.add_argument(
        "--database-url", help="管理者の接続先 (既定: DATABASE_URL、未設定なら組み込み PostgreSQL)"
    )
    parser.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="SEQ:HASH",
        help="以前の検証で記録した seq とハッシュ (複数指定可)",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="最新のチェックポイントがこの秒数より古ければ不合格 "
        "(既定: AUDIT_MAX_AGE_SECONDS、未設定なら 60)",
    )
    args = parser.parse_args(argv)
    try:
        anchors = _parse_anchors(args.anchor)
        max_age = max_age_from() if args.max_age is None else args.max_age
    except ValueError as error:
        parser.error(str(error))
    if not 0 < max_age <= 86_400:
        parser.error("--max-age は 0 より大きく 86400 以下の秒数です")
    settings = Settings.from_env()
    url = args.database_url or _admin_database_url(settings)
    engine = make_engine(url)
    try:
        store = VaultCheckpoints(_vault_client(settings), chain_name(engine))
        check = verify_with_checkpoints(engine, store, anchors, max_age=max_age)
    except (DependencyUnavailable, OperationalError):
        print(json.dumps({"ok": False, "error": MESSAGE_UNREACHABLE}, ensure_ascii=False))
        return 2
    except (CheckpointError, PlatformError) as error:
        print(json.dumps({"ok": False, "problem": str(error)}, ensure_ascii=False))
        return 1
    finally:
        engine.dispose()
    print(json.dumps(check.as_json(), ensure_ascii=False))
    return 0 if check.ok else 1


def checkpoint_main(argv: Sequence[str] | None = None) -> int:
    """`subsidy-admin audit checkpoint`: sign the head; exit 0, 1 broken chain, 2 unreachable."""
    from subsidy_platform.runtime import checkpoint_audit, prepare
    from subsidy_rules.program import load_programs

    parser = argparse.ArgumentParser(
        prog="subsidy-admin audit checkpoint",
        description="監査ログの先頭に Vault で署名したチェックポイントを書きます",
    )
    parser.parse_args(argv)
    try:
        environment = prepare(Settings.from_env(), list(load_programs()))
        checkpoint = checkpoint_audit(environment)
    except CheckpointError as error:
        print(json.dumps({"ok": False, "problem": str(error)}, ensure_ascii=False))
        return 1
    except (PlatformError, OperationalError):
        print(json.dumps({"ok": False, "error": "データベースまたは Vault に接続できません"}))
        return 2
    document = {"ok": True, "checkpoint": checkpoint.anchor, "at": checkpoint.at}
    print(json.dumps(document, ensure_ascii=False))
    return 0


def _admin_database_url(settings: Settings) -> str:
    """DATABASE_URL, else the embedded PostgreSQL."""
    return settings.database_url or ensure_postgres(settings.state_dir)


def _vault_client(settings: Settings) -> hvac.Client:
    """VAULT_ADDR with VAULT_TOKEN, else the embedded OpenBao of the state folder."""
    if settings.vault_addr:
        if not settings.vault_token:
            raise PlatformError("VAULT_ADDR を指定する場合は VAULT_TOKEN も必要です")
        return hvac.Client(url=settings.vault_addr, token=settings.vault_token)
    server = ensure_openbao(settings.state_dir)
    return hvac.Client(url=server.addr, token=server.root_token)


def _parse_anchors(values: Iterable[str]) -> dict[int, str]:
    anchors: dict[int, str] = {}
    for value in values:
        seq, _, digest = value.partition(":")
        if not seq.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"アンカーは SEQ:HASH (64 桁の16進数) で指定してください: {value}")
        anchors[int(seq)] = digest
    return anchors


if __name__ == "__main__":
    sys.exit(verify_main())
