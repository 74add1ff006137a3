"""`subsidy-admin audit verify` and `audit checkpoint`: the audit log from the command line.

`verify` checks the hash chain and every signed checkpoint (subsidy_platform.checkpoints,
`<state>/audit-checkpoints`, or `--checkpoints DIR`): it prints the result as JSON and exits 0
when the chain is intact, 1 when a link is broken, a checkpoint does not verify or the chain
holds fewer rows than, or other rows than, a checkpoint, and 2 when the database cannot be
reached. `head` in the output is the last intact row as `SEQ:HASH`, exactly the form
`--anchor` takes: keep it outside the database (the handover ledger) and pass it back with
`--anchor SEQ:HASH` to check against it too (docs/OPERATIONS.md).

`checkpoint` brings the platform up (`runtime.prepare`) and signs the chain's head in Vault
as the checkpoint writer when it has grown; it prints the newest checkpoint as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy.exc import OperationalError

from subsidy_platform.checkpoints import CheckpointError, CheckpointStore, verify_with_checkpoints
from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine
from subsidy_platform.embedded import ensure_postgres
from subsidy_platform.errors import DependencyUnavailable, PlatformError

MESSAGE_UNREACHABLE = "データベースに接続できません"


def verify_main(argv: Sequence[str] | None = None) -> int:
    """`subsidy-admin audit verify`: print the result as JSON; exit 0 intact, 1 broken, 2 error."""
    parser = argparse.ArgumentParser(
        prog="subsidy-admin audit verify",
        description="監査ログのハッシュチェーンを検証します (データベースに直接接続)",
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
        "--checkpoints",
        type=Path,
        default=None,
        metavar="DIR",
        help="署名済みチェックポイントのフォルダ (既定: 状態フォルダの audit-checkpoints)",
    )
    args = parser.parse_args(argv)
    try:
        anchors = _parse_anchors(args.anchor)
    except ValueError as error:
        parser.error(str(error))
    settings = Settings.from_env()
    store = (
        CheckpointStore(args.checkpoints)
        if args.checkpoints
        else CheckpointStore.of(settings.state_dir)
    )
    url = args.database_url or _admin_database_url(settings)
    engine = make_engine(url)
    try:
        check = verify_with_checkpoints(engine, store, anchors)
    except (DependencyUnavailable, OperationalError):
        print(json.dumps({"ok": False, "error": MESSAGE_UNREACHABLE}, ensure_ascii=False))
        return 2
    except CheckpointError as error:
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
    document = {
        "ok": True,
        "checkpoint": checkpoint.anchor if checkpoint else None,
        "at": checkpoint.at if checkpoint else None,
    }
    print(json.dumps(document, ensure_ascii=False))
    return 0


def _admin_database_url(settings: Settings) -> str:
    """DATABASE_URL, else the embedded PostgreSQL (Vault is not needed to verify)."""
    return settings.database_url or ensure_postgres(settings.state_dir)


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
