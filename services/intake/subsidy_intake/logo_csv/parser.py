"""Parsing a LoGo CSV export into v1 records, with line-numbered Japanese errors.

Decoding (UTF-8 with BOM, strict UTF-8, then CP932), the header row matched against
the column mapping, then every row read cell by cell (cells), assembled into a v1
record and judged by ``parse_application``; a problem becomes a ``LineError`` at its
physical line (header = line 1) and never stops the other lines from being read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from subsidy_intake.logo_csv.cells import _READERS, _CellError, quoted
from subsidy_intake.logo_csv.mapping import ColumnMapping, MappingColumn, _fold_header
from subsidy_rules.application import FORMAT_VERSION, FormatError, parse_application

BOM = b"\xef\xbb\xbf"
_SAVE_AS = "UTF-8（BOM付き）またはShift_JISで保存してください"
_MESSAGE_ENGLISH = re.compile(r"\s*\([ -~]*\)\s*\Z")


class _CsvError(ValueError):
    """The CSV structure breaks at a line (e.g. a cell beyond the csv module's size limit)."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(detail)
        self.line = line
        self.detail = detail


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


def _decode(data: bytes) -> tuple[str, str] | LineError:
    """The text and the encoding name, or the error at the first line that does not fit.

    As ``subsidy_platform.excel_csv`` reads its files, line by line when the whole file
    does not decode: CR and LF are never part of a multi-byte character in UTF-8 or CP932,
    so each physical line can be tried alone. A file mixing the two (UTF-8 with one line
    saved as Shift_JIS, or the reverse) is reported at the first line of the minority
    encoding, not at line 1: the file's encoding is the one most of its non-ASCII lines
    decode in. A NUL byte (UTF-16 files are full of them) is refused at its line.
    """
    nul = data.find(b"\x00")
    if nul >= 0:
        line = _line_of(data, nul)
        return LineError(line, None, f"{line}行目にNUL文字（0x00）があります（UTF-16ではなく、"
                         f"{_SAVE_AS}）")  # fmt: skip
    if data.startswith(BOM):
        body = data[len(BOM) :]
        try:
            return body.decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            return _encoding_error(_first_line(body, lambda line: not _is(line, "utf-8")))
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    foreign = [line for line in data.splitlines(keepends=True) if not line.isascii()]
    in_utf8 = sum(1 for line in foreign if _is(line, "utf-8"))
    if in_utf8 * 2 >= len(foreign):  # mostly UTF-8: the lines that are not are the problem
        return _encoding_error(_first_line(data, lambda line: not _is(line, "utf-8")))
    # mostly CP932: a line that fails it, or a non-ASCII line that is UTF-8, is the problem
    bad = _first_line(
        data,
        lambda line: not _is(line, "cp932") or (not line.isascii() and _is(line, "utf-8")),
    )
    if bad is None:
        return data.decode("cp932"), "cp932"
    return _encoding_error(bad)


def _is(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _first_line(data: bytes, bad: Callable[[bytes], bool]) -> int | None:
    """The 1-based physical line that is `bad` first, None when none is."""
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        if bad(line):
            return number
    return None


def _line_of(data: bytes, offset: int) -> int:
    """The physical line of a byte (CRLF, LF or CR end a line, as for the csv module)."""
    return len(data[: offset + 1].splitlines())


def _encoding_error(line: int | None) -> LineError:
    number = line or 1
    return LineError(number, None, f"{number}行目の文字コードを判別できません（ファイル全体を"
                     f"一つの文字コード、{_SAVE_AS}）")  # fmt: skip


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
                                            f"{quoted(answer)}が{seen[answer]}行目と重複しています"))  # fmt: skip
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
