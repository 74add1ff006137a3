"""Key rotation with rewrap of stored ciphertext (DESIGN.md principle 6).

`rotate_and_rewrap` rotates one program's transit key of one data class, then walks every
table and column that holds that class's ciphertext for the program (keyset pages of
`PAGE` rows, one transaction per page) and replaces each value by Vault's rewrap of it:
the plaintext never leaves Vault. The walk is restartable: rewrapping a value already
under the latest version is harmless. With `retire=True` the key's
`min_decryption_version` is then raised to the new version, so ciphertext under older
versions (a stolen backup) can no longer be decrypted.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import hvac
from sqlalchemy import Engine, text

from subsidy_platform.crypto import DataClass, FieldCipher, key_name, vault_errors

PAGE = 400
_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class CiphertextColumns:
    """Columns of one table that hold one data class's ciphertext, keyed by `program_id`."""

    table: str  # schema.table
    columns: tuple[str, ...]
    data_class: DataClass

    def __post_init__(self) -> None:
        if not _NAME.match(self.table) or not all(
            re.fullmatch(r"[a-z_][a-z0-9_]*", c) for c in self.columns
        ):
            raise ValueError(f"not a plain table/column name: {self.table} {self.columns}")


def rotate_and_rewrap(
    engine: Engine,
    cipher: FieldCipher,
    data_class: DataClass,
    places: Sequence[CiphertextColumns],
    *,
    retire: bool = False,
) -> dict[str, int]:
    """Rotate, rewrap every stored value; returns values rewrapped per table (and the version)."""
    version = cipher.rotate(data_class)
    counts: dict[str, int] = {"version": version}
    for place in (p for p in places if p.data_class == data_class):
        counts[place.table] = counts.get(place.table, 0) + _rewrap_table(
            engine, cipher, data_class, place
        )
    if retire:
        key = key_name(cipher.program_id, data_class)
        with vault_errors("retire"):
            cipher.client.adapter.post(
                f"/v1/{cipher.mount}/keys/{key}/config", json={"min_decryption_version": version}
            )
    return counts


def _rewrap_table(
    engine: Engine, cipher: FieldCipher, data_class: DataClass, place: CiphertextColumns
) -> int:
    columns = ", ".join(place.columns)
    select = text(
        f"SELECT id, {columns} FROM {place.table} "
        "WHERE program_id = :program AND id > :after ORDER BY id LIMIT :page FOR UPDATE"
    )
    assignments = ", ".join(f"{c} = :{c}" for c in place.columns)
    update = text(f"UPDATE {place.table} SET {assignments} WHERE id = :id")
    after, total = 0, 0
    while True:
        with engine.begin() as connection:
            rows = connection.execute(
                select, {"program": cipher.program_id, "after": after, "page": PAGE}
            ).all()
            if not rows:
                return total
            values = [v for row in rows for v in row[1:] if v is not None]
            renewed = iter(cipher.rewrap(data_class, values)) if values else iter(())
            for row in rows:
                params: dict[str, object] = {"id": row[0]}
                for name, old in zip(place.columns, row[1:], strict=True):
                    params[name] = next(renewed) if old is not None else None
                connection.execute(update, params)
            total += len(values)
            after = rows[-1][0]


def rotate_main(
    argv: Sequence[str] | None = None, places: Sequence[CiphertextColumns] | None = None
) -> int:
    """`subsidy-admin keys rotate --program ID --class contact|bank [--retire]`."""
    from subsidy_platform.config import Settings
    from subsidy_platform.db import make_engine
    from subsidy_platform.embedded import ensure_infrastructure

    parser = argparse.ArgumentParser(
        prog="subsidy-admin keys rotate",
        description="鍵を更新し、保存済みの暗号文を新しい版で再暗号化します",
    )
    parser.add_argument("--program", required=True)
    parser.add_argument(
        "--class", dest="data_class", required=True, choices=[c.value for c in DataClass]
    )
    parser.add_argument(
        "--retire", action="store_true", help="古い版での復号を禁止する (min_decryption_version)"
    )
    args = parser.parse_args(argv)
    infrastructure = ensure_infrastructure(Settings.from_env())
    client = hvac.Client(url=infrastructure.vault_addr, token=infrastructure.vault_admin_token)
    engine = make_engine(infrastructure.database_url)
    try:
        counts = rotate_and_rewrap(
            engine,
            FieldCipher(client, args.program),
            DataClass(args.data_class),
            places or (),
            retire=args.retire,
        )
    finally:
        engine.dispose()
    for name, count in counts.items():
        print(f"{name}: {count}", file=sys.stdout)
    return 0
