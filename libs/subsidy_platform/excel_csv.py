"""CSV that Excel opens correctly in Japanese: every file the system writes for people.

Encoding. Files are written as UTF-8 with a byte order mark (BOM). Excel treats a CSV
without a BOM as the ANSI code page of the PC, which on Japanese Windows is CP932
(Shift_JIS with the Windows extensions); it recognises UTF-8 only by the BOM. CP932
cannot be written instead because it cannot encode every name residents have: it
lacks characters outside JIS X 0208 and the vendor extensions, such as 𠮷 (つちよし),
many 旧字体 and variant kanji, and some symbols, while UTF-8 covers all of Unicode
(髙 is in CP932 only as an IBM extension that other tools may not read). Lines end in
CRLF as Excel writes them.

Formula injection (OWASP "CSV injection"). A text cell beginning with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return would be run by a spreadsheet as a formula, so
``neutralise`` (the rules library's ``subsidy_rules.spreadsheet``, shared so that the pure
library and the platform neutralise alike) puts an apostrophe ``'`` before it. A cell that already begins with
apostrophes followed by one of those characters gets one more, so that
``strip_neutralisation`` (remove one apostrophe when what follows needs it) gives back
the original text of every cell: a round trip of our own file is exact. Integers are
written as digits and are never neutralised (``-5`` written as an int stays ``-5``).

Reading. ``read_excel_csv`` accepts what Excel writes back: 「CSV UTF-8」 (UTF-8 with a
BOM) or 「CSV」 (CP932 on Japanese Windows); a file without a BOM that is valid UTF-8
as a whole is read as UTF-8 (other tools write that). Undecodable bytes raise
``CsvEncodingError`` naming the first bad physical line (1-based); so does a NUL byte,
which Excel never writes into a CSV (a file full of NULs is usually UTF-16, 「Unicode
テキスト」). A broken CSV structure (an unterminated quote) raises ``CsvFormatError``.
Messages are in Japanese and never quote the file's content.

Pure: the standard library and the rules library's ``spreadsheet`` only.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from subsidy_rules.spreadsheet import TRIGGERS, neutralise, strip_neutralisation

__all__ = [
    "BOM",
    "TRIGGERS",
    "CsvEncodingError",
    "CsvFormatError",
    "CsvTooManyRows",
    "ExcelCsvError",
    "neutralise",
    "read_excel_csv",
    "read_excel_csv_lines",
    "strip_neutralisation",
    "write_excel_csv",
]

BOM = codecs.BOM_UTF8

_SAVE_HINT = (
    "Excelで「CSV UTF-8（コンマ区切り）」または「CSV（コンマ区切り）」形式で保存してください"
)


class ExcelCsvError(ValueError):
    """A CSV file cannot be read; ``line`` is the 1-based physical line, ``message`` Japanese."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class CsvEncodingError(ExcelCsvError):
    """Bytes that are neither UTF-8 (with BOM) nor CP932, or a NUL byte, at ``line``."""


class CsvFormatError(ExcelCsvError):
    """The CSV structure breaks at ``line`` (e.g. a quote that is never closed)."""


class CsvTooManyRows(CsvFormatError):
    """The file has more rows than the caller's ``max_rows``; ``line`` is the first one over."""

    def __init__(self, line: int, limit: int) -> None:
        super().__init__(line, f"行数が上限（{limit:,}行）を超えています")
        self.limit = limit


def _cell(value: str | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"CSV cells are text, integers or None, not {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if "\x00" in value:
        raise ValueError("CSV cells must not contain NUL characters")
    return neutralise(value)


def write_excel_csv(header: Sequence[str], rows: Iterable[Sequence[str | int | None]]) -> bytes:
    """The CSV file as bytes: UTF-8 with BOM, CRLF, QUOTE_MINIMAL, text cells neutralised.

    Every row must have as many cells as the header (``ValueError`` otherwise).
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([_cell(name) for name in header])
    for index, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise ValueError(f"row {index} has {len(row)} cells, the header {len(header)}")
        writer.writerow([_cell(value) for value in row])
    try:
        return BOM + buffer.getvalue().encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a CSV cell holds text that cannot be written as UTF-8") from None


def read_excel_csv(data: bytes) -> tuple[str, list[list[str]]]:
    """The encoding name (utf-8-sig, utf-8 or cp932) and the rows of an Excel CSV file."""
    encoding, numbered = read_excel_csv_lines(data)
    return encoding, [row for _, row in numbered]


def read_excel_csv_lines(
    data: bytes, *, max_rows: int | None = None
) -> tuple[str, list[tuple[int, list[str]]]]:
    """Like ``read_excel_csv``, each row with the physical line it starts on (header = 1).

    A quoted cell may hold line breaks, so a row's line can be more than its index + 1.
    With ``max_rows``, a file with more rows (the header included) raises
    ``CsvTooManyRows`` at the first row beyond the limit without reading further.
    """
    _refuse_nul(data)
    encoding, text = _decode(data)
    return encoding, list(_rows(text, max_rows))


def _line_of(data: bytes, offset: int) -> int:
    """The physical line of a byte (CRLF, LF or CR end a line, as for the csv module)."""
    return len(data[: offset + 1].splitlines())


def _refuse_nul(data: bytes) -> None:
    offset = data.find(b"\x00")
    if offset >= 0:
        line = _line_of(data, offset)
        raise CsvEncodingError(
            line,
            f"{line}行目にNUL文字（0x00）があります。UTF-16（Unicode テキスト）ではなく、"
            f"{_SAVE_HINT}",
        )


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(BOM):
        body = data[len(BOM) :]
        try:
            return "utf-8-sig", body.decode("utf-8")
        except UnicodeDecodeError:
            raise _encoding_error(_first_bad_line(body, "utf-8"), "UTF-8") from None
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return "cp932", data.decode("cp932")
    except UnicodeDecodeError:
        pass
    # Neither decodes whole: report the line where the encoding that gets furthest fails.
    line_utf8 = _first_bad_line(data, "utf-8")
    line_cp932 = _first_bad_line(data, "cp932")
    if line_utf8 > line_cp932:
        raise _encoding_error(line_utf8, "UTF-8")
    raise _encoding_error(line_cp932, "Shift_JIS（CP932）")


def _first_bad_line(data: bytes, encoding: str) -> int:
    """The 1-based physical line that first fails to decode.

    Splitting the bytes first is safe: CR and LF are never part of a multi-byte
    character in UTF-8 or CP932 (CP932 trail bytes are 0x40-0xFC).
    """
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            return number
    return 1


def _encoding_error(line: int, encoding: str) -> CsvEncodingError:
    return CsvEncodingError(
        line,
        f"{line}行目の文字コードを読めません（{encoding}として読めない文字があります）。"
        f"ファイル全体を一つの文字コードで、{_SAVE_HINT}",
    )


def _rows(text: str, max_rows: int | None) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    count = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise CsvFormatError(
                start,
                f'{start}行目からCSVとして読めません（引用符「"」の対応が正しくないか、'
                "セルが長すぎます）",
            ) from None
        count += 1
        if max_rows is not None and count > max_rows:
            raise CsvTooManyRows(start, max_rows)
        yield start, row
        start = reader.line_num + 1
