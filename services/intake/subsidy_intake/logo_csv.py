"""LoGoフォーム CSV exports -> interchange-format v1 application records.

LoGoフォーム (the e-form service of the Shinjuku FY2025 program, DOMAIN.md flow step ②')
exports one row per answer with Japanese column headers and a 回答ID column. A
per-program column mapping file (``mappings/<program_id>.yaml``; its comments document
the shape) says which header fills which v1 field (libs/subsidy_rules/application.py).

``parse_application`` is the judge: every record produced here has passed it, and a
``FormatError`` becomes a ``LineError`` naming the physical CSV line (header = line 1),
the Japanese column and the problem in Japanese. Bad lines never stop the other lines
from being read, so one import reports every problem at once (issue 3: the service then
imports all or nothing). Online application numbers are ``<prefix>-L<回答ID>``: stable, so
importing the same answers again yields the same ids.

Encoding (LoGo offers both): a UTF-8 BOM means ``utf-8-sig``; otherwise strict UTF-8;
otherwise CP932 (Shift_JIS with the Windows extensions); a file that is neither is
reported as an error at the first line that decodes in neither.

Pure: no I/O besides reading the shipped mapping files.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from subsidy_rules.application import FORMAT_VERSION, FormatError, parse_application
from subsidy_rules.items import LABELS, Item

__all__ = [
    "ColumnMapping",
    "LineError",
    "MappingColumn",
    "MappingError",
    "ParsedFile",
    "UnknownProgramError",
    "load_mapping",
    "mapping_for",
    "parse_date",
    "parse_logo_csv",
    "parse_yen",
    "to_logo_csv",
]

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
MAX_PURCHASE_GROUPS = 10

# ------------------------------------------------------------------ vocabularies

# What kind of answer each v1 field holds; the kind picks the reader and the writer.
_FIELD_KINDS: dict[str, str] = {
    "logo_answer_id": "answer_id",
    "received_on": "datetime",
    "applicant.name": "text",
    "applicant.name_kana": "text",
    "applicant.birth_date": "date",
    "applicant.phone": "text",
    "applicant.email": "text",
    "applicant.postal_code": "text",
    "applicant.address": "text",
    "household.head_name": "text",
    "household.relationship": "text",
    "resident_registered": "yes_no",
    "bank_account.bank_code": "code4",
    "bank_account.branch_code": "code3",
    "bank_account.type": "account_type",
    "bank_account.number": "text",
    "bank_account.holder_kana": "text",
    "pledges.not_antisocial": "checkbox",
    "pledges.no_tax_arrears": "checkbox",
    "pledges.consent_to_checks": "checkbox",
}
_PURCHASE_FIELD_KINDS: dict[str, str] = {
    "item": "item",
    "kind": "kind",
    "amount": "yen",
    "purchased_on": "date",
    "description": "text",
    "points_used": "yen",
}
_PURCHASE_TARGET = re.compile(r"purchases\[(\d+)\]\.([a-z_]+)")
_REQUIRED_FIELDS = ("logo_answer_id", "received_on")

_ITEM_SYNONYMS: dict[str, Item] = {
    "監視カメラ": Item.SECURITY_CAMERA,
    "防犯ビデオカメラ": Item.SECURITY_CAMERA,
    "カメラ付インターホン": Item.CAMERA_INTERCOM,
    "カメラ付きインターフォン": Item.CAMERA_INTERCOM,
    "カメラ付インターフォン": Item.CAMERA_INTERCOM,
    "テレビドアホン": Item.CAMERA_INTERCOM,
    "テレビインターホン": Item.CAMERA_INTERCOM,
    "モニター付きインターホン": Item.CAMERA_INTERCOM,
    "モニター付インターホン": Item.CAMERA_INTERCOM,
    "録画機能付きインターホン": Item.CAMERA_INTERCOM,
    "人感センサーライト": Item.SENSOR_LIGHT,
    "防犯ライト": Item.SENSOR_LIGHT,
    "防犯用フィルム": Item.SECURITY_FILM,
    "ガラス用防犯フィルム": Item.SECURITY_FILM,
    "補助鍵": Item.AUXILIARY_LOCK,
    "補助ロック": Item.AUXILIARY_LOCK,
    "窓用補助鍵": Item.WINDOW_LOCK,
    "玄関鍵": Item.DOOR_LOCK,
    "玄関ドア錠": Item.DOOR_LOCK,
    "防犯アラーム": Item.SENSOR_ALARM,
    "窓格子": Item.WINDOW_GRILLE,
    "自動通話録音装置": Item.CALL_BLOCKING_PHONE,
    "迷惑電話防止機能付き電話": Item.CALL_BLOCKING_PHONE,
    "自動通話録音機・迷惑電話防止機能付き電話": Item.CALL_BLOCKING_PHONE,
}
_KINDS = {"購入": "purchase", "設置": "installation", "取付": "installation",
          "取付け": "installation", "取り付け": "installation", "設置工事": "installation",
          "取付工事": "installation"}  # fmt: skip
_KIND_LABELS = {"purchase": "購入", "installation": "設置"}
_ACCOUNT_TYPES = {"普通": "ordinary", "普通預金": "ordinary", "総合": "ordinary",
                  "当座": "current", "当座預金": "current", "貯蓄": "savings",
                  "貯蓄預金": "savings"}  # fmt: skip
_ACCOUNT_TYPE_LABELS = {"ordinary": "普通", "current": "当座", "savings": "貯蓄"}
_YES = frozenset({"はい", "有", "あり"})
_NO = frozenset({"いいえ", "無", "なし"})
_CHECKED = frozenset({"はい", "同意する", "同意します", "誓約する", "誓約します", "チェック済",
                      "チェック済み", "✓", "✔", "○", "〇"})  # fmt: skip
_UNCHECKED = frozenset({"いいえ", "同意しない", "同意しません"})

# Era name -> (first day, last day or None); year n of the era is first.year + n - 1.
_ERAS: dict[str, tuple[date, date | None]] = {
    "明治": (date(1868, 10, 23), date(1912, 7, 29)),
    "大正": (date(1912, 7, 30), date(1926, 12, 24)),
    "昭和": (date(1926, 12, 25), date(1989, 1, 7)),
    "平成": (date(1989, 1, 8), date(2019, 4, 30)),
    "令和": (date(2019, 5, 1), None),
}
_ERA_LETTERS = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}
_WESTERN_DATE = re.compile(r"(\d{4})\s*[/\-.年]\s*(\d{1,2})\s*[/\-.月]\s*(\d{1,2})\s*日?")
_ERA_DATE = re.compile(
    r"(明治|大正|昭和|平成|令和|[MTSHR])\s*(元|\d{1,2})\s*[年/\-.]\s*(\d{1,2})\s*[月/\-.]"
    r"\s*(\d{1,2})\s*日?"
)
_DATETIME = re.compile(r"(.*?)[\sT]+\d{1,2}:\d{2}(?::\d{2})?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEN_NOISE = re.compile(r"[,\s円¥￥]")
_ANSWER_ID = re.compile(r"[0-9A-Za-z_-]+")
_MESSAGE_ENGLISH = re.compile(r"\s*\([ -~]*\)\s*\Z")


class MappingError(ValueError):
    """A column mapping file is malformed; ``key`` names the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class UnknownProgramError(LookupError):
    """No shipped column mapping exists for the program."""


class _CsvError(ValueError):
    """The CSV structure breaks at a line (e.g. a cell beyond the csv module's size limit)."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(detail)
        self.line = line
        self.detail = detail


class _CellError(ValueError):
    """One answer cannot be read; the message is Japanese and names the column."""


# ---------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class LineError:
    """A problem at a physical CSV line (header = 1); ``column`` is the Japanese header."""

    line: int
    column: str | None
    message: str


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The records that passed, with their line numbers, and every problem found."""

    records: tuple[tuple[int, dict[str, Any]], ...]
    errors: tuple[LineError, ...]
    encoding: str
    sha256: str

    @property
    def ok(self) -> bool:
        """True when the file has no problem at all (the service imports all or nothing)."""
        return not self.errors


# ---------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class MappingColumn:
    """One mapped column: header, v1 field path and whether the export must have it.

    ``kind`` (date, yen, item, ...) decides how a cell is read and written; ``group`` is
    the purchase group (0-based) of ``purchases[n].*`` fields; ``section`` and ``key``
    place the value in the record (section "" = top level, "purchases" = a group).
    """

    header: str
    field: str
    required: bool = True
    kind: str = dataclasses.field(init=False, compare=False)
    group: int | None = dataclasses.field(init=False, compare=False)
    section: str = dataclasses.field(init=False, compare=False)
    key: str = dataclasses.field(init=False, compare=False)

    def __post_init__(self) -> None:
        match = _PURCHASE_TARGET.fullmatch(self.field)
        place: tuple[str, int | None, str]
        if match:
            place = ("purchases", int(match.group(1)), match.group(2))
            kind = _PURCHASE_FIELD_KINDS[match.group(2)]
        else:
            section, _, key = self.field.rpartition(".")
            place = (section, None, key)
            kind = _FIELD_KINDS[self.field]
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "section", place[0])
        object.__setattr__(self, "group", place[1])
        object.__setattr__(self, "key", place[2])


@dataclass(frozen=True)
class ColumnMapping:
    """A program's LoGo column mapping, loaded from YAML and strictly validated."""

    program_id: str
    application_prefix: str
    columns: tuple[MappingColumn, ...]
    item_labels: tuple[tuple[str, str], ...] = ()
    description: str = ""
    _headers: dict[str, str] = dataclasses.field(init=False, repr=False, compare=False)
    _items: dict[str, Item] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        headers = {column.field: column.header for column in self.columns}
        if "logo_answer_id" in headers:
            headers.setdefault("application_id", headers["logo_answer_id"])
        items = {_fold_label(label): item for item, label in LABELS.items()}
        items.update((_fold_label(label), item) for label, item in _ITEM_SYNONYMS.items())
        items.update((_fold_label(label), Item(code)) for label, code in self.item_labels)
        object.__setattr__(self, "_headers", headers)
        object.__setattr__(self, "_items", items)

    @property
    def headers(self) -> tuple[str, ...]:
        """The mapped headers in file order (the order ``to_logo_csv`` writes)."""
        return tuple(column.header for column in self.columns)

    @property
    def purchase_groups(self) -> int:
        """How many purchase groups (購入品目1, 2, ...) the form has."""
        groups = [c.group for c in self.columns if c.group is not None]
        return max(groups) + 1 if groups else 0

    def header_for(self, field: str) -> str | None:
        """The header that fills a v1 field path, or None when it is not mapped."""
        return self._headers.get(field)

    def application_id(self, answer_id: str) -> str:
        """The stable application number of an online answer: ``<prefix>-L<回答ID>``."""
        return f"{self.application_prefix}-L{answer_id}"

    def item_for(self, label: str) -> Item | None:
        """The item code an answer label means, or None when the label is unknown."""
        return self._items.get(_fold_label(label))


def _fold_label(label: str) -> str:
    return "".join(unicodedata.normalize("NFKC", label).split())


_MAPPING_KEYS = ("program_id", "application_prefix", "description", "columns", "item_labels")
_PROGRAM_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_PREFIX = re.compile(r"[A-Z0-9]+")


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read and validate a column mapping file; ``MappingError`` names the bad key."""
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise MappingError("(file)", f"not valid YAML: {error}") from None
    return mapping_from_dict(data)


def mapping_from_dict(data: Any) -> ColumnMapping:
    """Validate a decoded mapping document (the YAML file's content)."""
    if not isinstance(data, dict):
        raise MappingError("(file)", "the mapping must be a YAML mapping")
    for key in data:
        if key not in _MAPPING_KEYS:
            raise MappingError(str(key), "unknown key")
    program_id = _required_text(data, "program_id", _PROGRAM_ID)
    prefix = _required_text(data, "application_prefix", _PREFIX)
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise MappingError("description", "must be text")
    columns = _columns(data.get("columns"))
    return ColumnMapping(program_id, prefix, columns, _item_labels(data.get("item_labels")),
                         description)  # fmt: skip


def _required_text(data: dict[Any, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise MappingError(key, f"required, must match {pattern.pattern}")
    return value


def _columns(raw: Any) -> tuple[MappingColumn, ...]:
    if not isinstance(raw, dict) or not raw:
        raise MappingError("columns", "required, a mapping of header -> field")
    columns = tuple(_column(header, target) for header, target in raw.items())
    _check_columns(columns)
    return columns


def _column(header: Any, target: Any) -> MappingColumn:
    if not isinstance(header, str) or not header.strip():
        raise MappingError(str(header), "a header must be non-empty text")
    required = True
    if isinstance(target, dict):
        for key in target:
            if key not in ("field", "required"):
                raise MappingError(f"{header}.{key}", "unknown key")
        required = target.get("required", True)
        if not isinstance(required, bool):
            raise MappingError(f"{header}.required", "must be true or false")
        target = target.get("field")
    if not isinstance(target, str) or not _known_field(target):
        raise MappingError(header, f"unknown target field {target!r}")
    return MappingColumn(header.strip(), target, required)


def _known_field(target: str) -> bool:
    match = _PURCHASE_TARGET.fullmatch(target)
    if match:
        group_ok = int(match.group(1)) < MAX_PURCHASE_GROUPS
        return group_ok and match.group(2) in _PURCHASE_FIELD_KINDS
    return target in _FIELD_KINDS


def _check_columns(columns: tuple[MappingColumn, ...]) -> None:
    seen_fields: dict[str, str] = {}
    seen_headers: set[str] = set()
    for column in columns:
        folded = _fold_header(column.header)
        if folded in seen_headers:
            raise MappingError(column.header, "the same header (after NFKC) is mapped twice")
        seen_headers.add(folded)
        if column.field in seen_fields:
            raise MappingError(column.header, f"{column.field} is already filled by "
                               f"{seen_fields[column.field]}")  # fmt: skip
        seen_fields[column.field] = column.header
    for field in _REQUIRED_FIELDS:
        if field not in seen_fields:
            raise MappingError("columns", f"{field} must be mapped")
    groups = {c.group for c in columns if c.group is not None}
    if groups != set(range(len(groups))):
        raise MappingError("columns", "purchase groups must be numbered from 0 without gaps")


def _item_labels(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise MappingError("item_labels", "must be a mapping of label -> item code")
    codes = {item.value for item in Item}
    for label, code in raw.items():
        if not isinstance(label, str) or code not in codes:
            raise MappingError(f"item_labels.{label}", f"unknown item code {code!r}")
    return tuple((str(label), str(code)) for label, code in raw.items())


@cache
def mapping_for(program_id: str) -> ColumnMapping:
    """The shipped mapping ``mappings/<program_id>.yaml``; ``UnknownProgramError`` if none."""
    path = MAPPINGS_DIR / f"{program_id}.yaml"
    if not _PROGRAM_ID.fullmatch(program_id) or not path.is_file():
        raise UnknownProgramError(f"no LoGo column mapping for program {program_id!r}")
    mapping = load_mapping(path)
    if mapping.program_id != program_id:
        raise MappingError("program_id", f"{path.name} declares {mapping.program_id!r}")
    return mapping


# ---------------------------------------------------------------- cell readers


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
    digits = _YEN_NOISE.sub("", _nfkc(text))
    if not digits.isascii() or not digits.isdigit():
        raise _CellError("の金額の形式が正しくありません（例: 32000、32,000円）")
    return int(digits)


def _read_datetime(text: str, _: ColumnMapping) -> str:
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
    folded = _nfkc(text)
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


def _read_item(text: str, mapping: ColumnMapping) -> str:
    item = mapping.item_for(text)
    if item is None:
        raise _CellError(f"の品目「{_nfkc(text)}」は対象の品目一覧にありません")
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
    raise _CellError(f"の回答「{folded}」を判別できません（はい／いいえ）")


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

# ---------------------------------------------------------------------- decoding


def _decode(data: bytes) -> tuple[str, str] | LineError:
    """The text and the encoding name, or the error for an undecodable file."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as error:
            return _encoding_error(data, error.start)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as error:
        return _encoding_error(data, error.start)


def _encoding_error(data: bytes, offset: int) -> LineError:
    line = data.count(b"\n", 0, offset) + 1
    return LineError(line, None, "文字コードを判別できません（UTF-8（BOM付き）またはShift_JISで"
                     "保存してください）")  # fmt: skip


def _fold_header(header: str) -> str:
    return unicodedata.normalize("NFKC", header).strip().lstrip("\ufeff")


# ---------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where each mapped column sits in this file's rows."""

    width: int
    cells: tuple[tuple[int, MappingColumn, Callable[[str, ColumnMapping], Any]], ...]
    answer_header: str


def _plan(header_row: list[str], mapping: ColumnMapping) -> _Plan | list[LineError]:
    positions: dict[str, int] = {}
    errors: list[LineError] = []
    for index, cell in enumerate(header_row):
        folded = _fold_header(cell)
        if folded in positions:
            errors.append(LineError(1, folded, f"列「{folded}」が見出し行に複数あります"))
        positions.setdefault(folded, index)
    cells = []
    for column in mapping.columns:
        index = positions.get(_fold_header(column.header), -1)
        if index >= 0:
            cells.append((index, column, _READERS[column.kind]))
        elif column.required:
            errors.append(LineError(1, column.header, f"必須の列「{column.header}」がありません"))
    if errors:
        return errors
    answer_header = mapping.header_for("logo_answer_id") or "回答ID"
    return _Plan(len(header_row), tuple(cells), answer_header)


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with the physical line each starts on (quoted cells may hold newlines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _CsvError(start, str(error)) from None
        yield start, row
        start = reader.line_num + 1


def parse_logo_csv(data: bytes, mapping: ColumnMapping) -> ParsedFile:
    """Read a LoGo CSV export into v1 records, reporting every bad line (see module doc)."""
    digest = hashlib.sha256(data).hexdigest()
    decoded = _decode(data)
    if isinstance(decoded, LineError):
        return ParsedFile((), (decoded,), "unknown", digest)
    text, encoding = decoded
    records: list[tuple[int, dict[str, Any]]] = []
    errors: list[LineError] = []
    try:
        _parse_rows(_rows(text), mapping, records, errors)
    except _CsvError as error:
        errors.append(LineError(error.line, None, f"CSVとして読めません（{error.detail}）"))
    return ParsedFile(tuple(records), tuple(errors), encoding, digest)


def _parse_rows(
    rows: Iterator[tuple[int, list[str]]],
    mapping: ColumnMapping,
    records: list[tuple[int, dict[str, Any]]],
    errors: list[LineError],
) -> None:
    first = next(rows, None)
    if first is None or not any(cell.strip() for cell in first[1]):
        errors.append(LineError(1, None, "見出し行がありません（空のファイルです）"))
        return
    plan = _plan(first[1], mapping)
    if isinstance(plan, list):
        errors.extend(plan)
        return
    seen: dict[str, int] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        record, row_errors = _parse_row(line, row, plan, mapping)
        answer = record.get("logo_answer_id") if record is not None else None
        if isinstance(answer, str):
            if answer in seen:
                row_errors.append(LineError(line, plan.answer_header, f"{plan.answer_header}"
                                            f"「{answer}」が{seen[answer]}行目と重複しています"))  # fmt: skip
            seen.setdefault(answer, line)
        if row_errors:
            errors.extend(row_errors)
        elif record is not None:
            records.append((line, record))


def _parse_row(
    line: int, row: list[str], plan: _Plan, mapping: ColumnMapping
) -> tuple[dict[str, Any] | None, list[LineError]]:
    if len(row) != plan.width:
        message = f"列の数が見出し行と一致しません（見出し{plan.width}列、この行{len(row)}列）"
        return None, [LineError(line, None, message)]
    values: list[tuple[MappingColumn, Any]] = []
    errors: list[LineError] = []
    for index, column, read in plan.cells:
        cell = row[index]
        if not cell or cell.isspace():
            values.append((column, False if column.kind == "checkbox" else None))
            continue
        try:
            values.append((column, read(cell, mapping)))
        except _CellError as error:
            errors.append(LineError(line, column.header, f"{column.header}{error}"))
    record, groups = _assemble(values, mapping)
    if errors:
        return record, errors
    try:
        parse_application(record)
    except FormatError as error:
        return record, [_format_error(line, error, groups, mapping)]
    return record, []


def _assemble(
    values: list[tuple[MappingColumn, Any]], mapping: ColumnMapping
) -> tuple[dict[str, Any], list[int]]:
    """The v1 record from the read cells; also which purchase group each line came from."""
    sections: dict[str, dict[str, Any]] = {"": {}, "applicant": {}, "household": {},
                                           "bank_account": {}, "pledges": {}}  # fmt: skip
    groups: dict[int, dict[str, Any]] = {}
    for column, value in values:
        if value is None:
            continue
        if column.group is not None:
            groups.setdefault(column.group, {})[column.key] = value
        else:
            sections[column.section][column.key] = value
    top = sections[""]
    record: dict[str, Any] = {"version": FORMAT_VERSION}
    answer = top.get("logo_answer_id")
    if isinstance(answer, str):
        record["application_id"] = mapping.application_id(answer)
    record["channel"] = "online"
    record.update(top)
    record["applicant"] = sections["applicant"]
    if sections["household"]:
        record["household"] = sections["household"]
    used = sorted(groups)
    record["purchases"] = [groups[group] for group in used]
    if sections["bank_account"]:
        record["bank_account"] = sections["bank_account"]
    record["pledges"] = sections["pledges"]
    return record, used


def _format_error(
    line: int, error: FormatError, groups: list[int], mapping: ColumnMapping
) -> LineError:
    field = error.field
    match = re.match(r"purchases\[(\d+)\]", field)
    if match and int(match.group(1)) < len(groups):
        field = f"purchases[{groups[int(match.group(1))]}]" + field[match.end() :]
    header = mapping.header_for(field)
    message = _MESSAGE_ENGLISH.sub("", error.message)
    return LineError(line, header, f"{header}：{message}" if header else f"{field}：{message}")


# ---------------------------------------------------------------------- writing


def _answered_at(record: dict[str, Any]) -> str:
    """回答日時 as LoGo writes it; the time of day is made up (stable per answer id)."""
    day = date.fromisoformat(str(record["received_on"]))
    seconds = 8 * 3600 + zlib.crc32(str(record.get("logo_answer_id", "")).encode()) % 50_000
    hours, rest = divmod(seconds, 3600)
    return f"{day:%Y/%m/%d} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _write_date(value: Any) -> str:
    text = str(value)
    return f"{text[:4]}/{text[5:7]}/{text[8:10]}" if _ISO_DATE.fullmatch(text) else text


_WRITERS: dict[str, Callable[[Any], str]] = {
    "answer_id": str,
    "date": _write_date,
    "text": str,
    "yen": str,
    "item": lambda value: LABELS[Item(value)],
    "kind": lambda value: _KIND_LABELS[value],
    "account_type": lambda value: _ACCOUNT_TYPE_LABELS[value],
    "code4": str,
    "code3": str,
    "yes_no": lambda value: "はい" if value else "いいえ",
    "checkbox": lambda value: "はい" if value else "",
}


def _lookup(record: dict[str, Any], column: MappingColumn) -> Any:
    if column.group is not None:
        purchases = record.get("purchases") or []
        group = column.group
        return purchases[group].get(column.key) if group < len(purchases) else None
    if column.section:
        return (record.get(column.section) or {}).get(column.key)
    return record.get(column.key)


def _row_of(record: dict[str, Any], mapping: ColumnMapping) -> list[str]:
    if len(record.get("purchases") or []) > mapping.purchase_groups:
        raise ValueError(f"{record.get('application_id')}: more purchases than the form's "
                         f"{mapping.purchase_groups} groups")  # fmt: skip
    cells = []
    for column in mapping.columns:
        if column.kind == "datetime":
            cells.append(_answered_at(record))
            continue
        value = _lookup(record, column)
        cells.append("" if value is None else _WRITERS[column.kind](value))
    return cells


def to_logo_csv(
    records: Iterable[dict[str, Any]], mapping: ColumnMapping, *, encoding: str = "utf-8-sig"
) -> bytes:
    """Write records as a LoGo CSV export (the inverse of ``parse_logo_csv``).

    For tests, the demo and benchmarks. Every record needs ``logo_answer_id`` and
    ``received_on``; dates are written as LoGo does (1980/01/02, 回答日時 with a time),
    amounts plain, pledges ``はい`` or blank. Characters the encoding cannot hold (e.g.
    𠮷 in CP932) raise ``UnicodeEncodeError``.
    """
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(mapping.headers)
    for record in records:
        writer.writerow(_row_of(record, mapping))
    return out.getvalue().encode(encoding)
