"""Reading one LoGo answer cell: dates (incl. Japanese eras), yen, codes, items, yes/no.

Each reader takes the cell text and the column mapping and returns the v1 value, or
raises ``_CellError`` with a Japanese message that follows the column name
(生年月日 + 「の形式が正しくありません…」). Text is folded with NFKC first, so
full-width digits and letters read as ASCII.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from subsidy_intake.logo_csv.mapping import ColumnMapping
from subsidy_intake.logo_csv.vocabulary import (
    _ACCOUNT_TYPES,
    _CHECKED,
    _KINDS,
    _NO,
    _UNCHECKED,
    _YES,
)
from subsidy_rules.application import MAX_ID

# Era name -> (first day, last day or None); year n of the era is first.year + n - 1.
_ERAS: dict[str, tuple[date, date | None]] = {
    "明治": (date(1868, 10, 23), date(1912, 7, 29)),
    "大正": (date(1912, 7, 30), date(1926, 12, 24)),
    "昭和": (date(1926, 12, 25), date(1989, 1, 7)),
    "平成": (date(1989, 1, 8), date(2019, 4, 30)),
    "令和": (date(2019, 5, 1), None),
}
_ERA_LETTERS = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}
# Digits are ASCII ([0-9], after NFKC folded full-width ones): digits of other scripts
# (٣, ३), which `\d` would take, are refused.
_WESTERN_DATE = re.compile(r"([0-9]{4})\s*[/\-.年]\s*([0-9]{1,2})\s*[/\-.月]\s*([0-9]{1,2})\s*日?")
_ERA_DATE = re.compile(
    r"(明治|大正|昭和|平成|令和|[MTSHR])\s*(元|[0-9]{1,2})\s*[年/\-.]\s*([0-9]{1,2})\s*[月/\-.]"
    r"\s*([0-9]{1,2})\s*日?"
)
_DATETIME = re.compile(r"(.{0,40}?)[\sT]+[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?")
MAX_ANSWER_ID = MAX_ID  # the format's limit of ids
MAX_YEN_DIGITS = 12  # far above any amount the format accepts (subsidy_rules.application)
MAX_DATE_LENGTH = 40
_YEN_NOISE = re.compile(r"[,\s円¥￥]")
_ANSWER_ID = re.compile(r"[0-9A-Za-z_-]+")


class _CellError(ValueError):
    """One answer cannot be read; the message is Japanese and names the column."""


def _nfkc(text: str) -> str:
    if text.isascii():
        return text.strip()
    return unicodedata.normalize("NFKC", text).strip()


def _era_date(era: str, year_text: str, month: int, day: int) -> date:
    """A Japanese-era date (明治..令和, 元年 = year 1), checked against the era's span."""
    name = _ERA_LETTERS.get(era, era)
    first, last = _ERAS[name]
    year = 1 if year_text == "元" else int(year_text)
    if year < 1:
        raise _CellError("の和暦の年が正しくありません")
    try:
        result = date(first.year + year - 1, month, day)
    except ValueError:
        raise _CellError("は存在しない日付です") from None
    if result < first or (last is not None and result > last):
        raise _CellError(f"は{name}の期間外の日付です")
    return result


def parse_date(text: str) -> date:
    """Read a date answer: 1980/01/02, 1980-01-02, 1980年1月2日, 昭和55年1月2日 or S55.1.2.

    Era years count from 1 (元年) at the era's first day; a date outside the era's span
    (昭和64年1月8日) is refused. Dates are proleptic Gregorian (the lunisolar calendar
    before 明治6年 is not modelled). Raises ``ValueError`` whose Japanese message follows
    the column name (生年月日 + 「の形式が正しくありません…」).
    """
    if len(text) > MAX_DATE_LENGTH:
        raise _CellError("の形式が正しくありません（例: 1980/01/02、昭和55年1月2日）")
    folded = _nfkc(text)
    match = _WESTERN_DATE.fullmatch(folded)
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            raise _CellError("は存在しない日付です") from None
    match = _ERA_DATE.fullmatch(folded)
    if match:
        era, year, month, day = match.groups()
        return _era_date(era, year, int(month), int(day))
    raise _CellError("の形式が正しくありません（例: 1980/01/02、昭和55年1月2日）")


def parse_yen(text: str) -> int:
    """Read an amount: 32000, 32,000, ３２，０００, 32,000円 or ￥32,000 (whole yen).

    Negative, fractional or written-out amounts raise ``ValueError`` (message as in
    ``parse_date``).
    """
    digits = _YEN_NOISE.sub("", _nfkc(text)) if len(text) <= 4 * MAX_YEN_DIGITS else "-"
    if not digits.isascii() or not digits.isdigit():
        raise _CellError("の金額の形式が正しくありません（例: 32000、32,000円）")
    if len(digits) > MAX_YEN_DIGITS:
        raise _CellError("の金額が大きすぎます")
    return int(digits)


def _read_datetime(text: str, _: ColumnMapping) -> str:
    if len(text) > MAX_DATE_LENGTH:
        raise _CellError("の形式が正しくありません（例: 2025/06/10 14:03:22）")
    folded = _nfkc(text)
    match = _DATETIME.fullmatch(folded)
    try:
        return parse_date(match.group(1) if match else folded).isoformat()
    except _CellError:
        raise _CellError("の形式が正しくありません（例: 2025/06/10 14:03:22）") from None


def _read_date(text: str, _: ColumnMapping) -> str:
    return parse_date(text).isoformat()


def _read_yen(text: str, _: ColumnMapping) -> int:
    return parse_yen(text)


def _read_text(text: str, _: ColumnMapping) -> str:
    return text.strip()


def _read_answer_id(text: str, _: ColumnMapping) -> str:
    folded = _nfkc(text) if len(text) <= 2 * MAX_ANSWER_ID else text
    if len(folded) > MAX_ANSWER_ID:
        raise _CellError(f"は{MAX_ANSWER_ID}文字以内です")
    if not _ANSWER_ID.fullmatch(folded):
        raise _CellError("の形式が正しくありません（英数字）")
    return folded


def _read_code(width: int) -> Callable[[str, ColumnMapping], str]:
    def read(text: str, _: ColumnMapping) -> str:
        folded = _nfkc(text)
        if not folded.isascii() or not folded.isdigit() or len(folded) > width:
            raise _CellError(f"は{width}桁の数字で記入してください")
        return folded.zfill(width)  # spreadsheets drop leading zeros of codes

    return read


MAX_QUOTED = 20
"""The longest answer a message quotes; a longer or odd one is not repeated."""


def quoted(text: str) -> str:
    """「answer」 for a message when short and printable, else nothing (never a long value)."""
    folded = _nfkc(text) if len(text) <= MAX_QUOTED * 2 else text
    if len(folded) <= MAX_QUOTED and folded.isprintable():
        return f"「{folded}」"
    return ""


def _read_item(text: str, mapping: ColumnMapping) -> str:
    item = mapping.item_for(text) if len(text) <= 100 else None
    if item is None:
        raise _CellError(f"の品目{quoted(text)}は対象の品目一覧にありません")
    return item.value


def _read_choice(table: Mapping[str, str], message: str) -> Callable[[str, ColumnMapping], str]:
    def read(text: str, _: ColumnMapping) -> str:
        value = table.get(_nfkc(text))
        if value is None:
            raise _CellError(message)
        return value

    return read


def _read_yes_no(text: str, _: ColumnMapping) -> bool:
    folded = _nfkc(text)
    if folded in _YES or folded in _NO:
        return folded in _YES
    raise _CellError("は「はい」または「いいえ」で回答してください")


def _read_checkbox(text: str, _: ColumnMapping) -> bool:
    folded = _nfkc(text)
    if folded in _CHECKED or folded in _UNCHECKED:
        return folded in _CHECKED
    raise _CellError(f"の回答{quoted(text)}を判別できません（はい／いいえ）")


_READERS: dict[str, Callable[[str, ColumnMapping], Any]] = {
    "answer_id": _read_answer_id,
    "datetime": _read_datetime,
    "date": _read_date,
    "text": _read_text,
    "yen": _read_yen,
    "item": _read_item,
    "kind": _read_choice(_KINDS, "は「購入」または「設置」で回答してください"),
    "account_type": _read_choice(_ACCOUNT_TYPES, "は「普通」「当座」「貯蓄」のいずれかです"),
    "code4": _read_code(4),
    "code3": _read_code(3),
    "yes_no": _read_yes_no,
    "checkbox": _read_checkbox,
}
