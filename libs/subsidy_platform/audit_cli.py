"""`subsidy-admin audit verify`: check the audit log's hash chain from the command line.

Prints the result (subsidy_platform.audit.VerifyResult) as JSON and exits 0 when the
chain is intact, 1 when a link is broken, 2 when the database cannot be reached. Keep
the printed `head_hash` outside the database (the handover ledger) and pass it back with
`--anchor SEQ:HASH`: a chain rewritten consistently by a database administrator is then
found too (docs/OPERATIONS.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from sqlalchemy.exc import OperationalError

from subsidy_platform.audit import verify
from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine
from subsidy_platform.embedded import ensure_postgres
from subsidy_platform.errors import DependencyUnavailable


def verify_main(argv: Sequence[str] | None = None) -> int:
    """`subsidy-admin audit verify`: print the result as JSON; exit 0 intact, 1 broken, 2 error."""
    parser = argparse.ArgumentParser(
        prog="subsidy-admin audit verify", description="監査ログのハッシュチェーンを検証します"
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
    args = parser.parse_args(argv)
    try:
        anchors = _parse_anchors(args.anchor)
    except ValueError as error:
        parser.error(str(error))
    url = args.database_url or _admin_database_url(Settings.from_env())
    engine = make_engine(url)
    try:
        result = verify(engine, anchors=anchors)
    except (DependencyUnavailable, OperationalError):
        print(
            json.dumps({"ok": False, "error": "データベースに接続できません"}, ensure_ascii=False)
        )
        return 2
    finally:
        engine.dispose()
    print(json.dumps(asdict(result), ensure_ascii=False))
    return 0 if result.ok else 1


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
