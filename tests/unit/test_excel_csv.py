"""Excel CSV: formula cells neutralised, BOM and CRLF, both encodings, bad lines reported."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subsidy_platform.excel_csv import (
    BOM,
    CsvEncodingError,
    CsvFormatError,
    neutralise,
    read_excel_csv,
    read_excel_csv_lines,
    strip_neutralisation,
    write_excel_csv,
)

HEADER = ["申請番号", "氏名", "申請額"]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+81-3-1234", "'+81-3-1234"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("'=1", "''=1"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected
    assert strip_neutralisation(expected) == cell


@pytest.mark.parametrize("cell", ["", "山田 太郎", "R7-000123", "1=1", "'quoted", "'", "a-b"])
def test_other_cells_are_unchanged(cell: str) -> None:
    assert neutralise(cell) == cell
    assert strip_neutralisation(cell) == cell


def test_the_file_starts_with_a_bom_and_ends_lines_in_crlf() -> None:
    data = write_excel_csv(HEADER, [["R7-000001", "山田", 20000], ["R7-000002", "髙橋", None]])
    assert data.startswith(BOM)
    body = data[len(BOM) :]
    assert body.count(b"\r\n") == 3
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert body.decode("utf-8").splitlines()[0] == "申請番号,氏名,申請額"


def test_text_cells_are_neutralised_and_integers_written_as_digits() -> None:
    data = write_excel_csv(HEADER, [["=cmd|'/c calc'!A1", "-山田", -5]])
    _, rows = read_excel_csv(data)
    assert rows[1] == ["'=cmd|'/c calc'!A1", "'-山田", "-5"]


def test_quotes_only_where_needed() -> None:
    data = write_excel_csv(HEADER, [["R7-1", '山田,"太郎"', 1]])
    assert data[len(BOM) :].split(b"\r\n")[1] == 'R7-1,"山田,""太郎""",1'.encode()


def test_our_own_file_reads_back_exactly() -> None:
    rows = [
        ["R7-000001", "=1+1", "20000"],
        ["R7-000002", "𠮷野 髙子", ""],
        ["R7-000003", "複数行\r\nの備考", "-3"],
        ["R7-000004", "'@x", "0"],
    ]
    encoding, read = read_excel_csv(write_excel_csv(HEADER, rows))
    assert encoding == "utf-8-sig"
    assert [[strip_neutralisation(cell) for cell in row] for row in read] == [HEADER, *rows]


CELL_TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


@given(st.lists(st.lists(CELL_TEXT, min_size=3, max_size=3), max_size=5))
def test_any_text_survives_a_round_trip(rows: list[list[str]]) -> None:
    _, read = read_excel_csv(write_excel_csv(HEADER, rows))
    assert [[strip_neutralisation(cell) for cell in row] for row in read[1:]] == rows


def test_a_cp932_file_as_excel_saves_it_is_read() -> None:
    text = "申請番号,氏名,申請額\r\nR7-000001,髙橋 ～ 一郎,20000\r\n"
    encoding, rows = read_excel_csv(text.encode("cp932"))
    assert encoding == "cp932"
    assert rows == [HEADER, ["R7-000001", "髙橋 ～ 一郎", "20000"]]


def test_a_plain_utf8_file_without_bom_is_read_as_utf8() -> None:
    encoding, rows = read_excel_csv("申請番号,氏名\r\nR7-1,𠮷田\r\n".encode())
    assert encoding == "utf-8"
    assert rows[1] == ["R7-1", "𠮷田"]


def test_the_first_bad_line_of_a_bom_file_is_reported() -> None:
    data = (
        BOM
        + "申請番号,氏名\r\nR7-1,山田\r\n".encode()
        + "R7-2,佐藤\r\n".encode("cp932")
        + "R7-3,鈴木\r\n".encode("cp932")
    )
    with pytest.raises(CsvEncodingError) as error:
        read_excel_csv(data)
    assert error.value.line == 3
    assert "3行目" in error.value.message


def test_the_first_bad_line_of_a_mixed_file_without_bom_is_reported() -> None:
    data = (
        "申請番号,氏名\r\nR7-1,山田\r\nR7-2,佐藤\r\n".encode("cp932")
        + b"R7-3,\x85\x40\r\n"  # unassigned in CP932 and invalid UTF-8
        + "R7-4,鈴木\r\n".encode("cp932")
    )
    with pytest.raises(CsvEncodingError) as error:
        read_excel_csv(data)
    assert error.value.line == 4


def test_a_line_broken_in_a_quoted_cell_counts_as_a_physical_line() -> None:
    data = BOM + '申請番号,備考\r\nR7-1,"一行目\r\n二行目"\r\nR7-2,x\r\n'.encode()
    _, numbered = read_excel_csv_lines(data)
    assert [line for line, _ in numbered] == [1, 2, 4]
    bad = BOM + '申請番号,備考\r\nR7-1,"一行目\r\n'.encode() + "二行目\r\n".encode("cp932")
    with pytest.raises(CsvEncodingError) as error:
        read_excel_csv(bad)
    assert error.value.line == 3


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"a,b\r\nc,\x00d\r\n", 2),
        (BOM + b"a,b\r\nc,d\r\ne\x00\r\n", 3),
        ("R7-1,申請番号\r\n".encode("utf-16"), 1),
    ],
)
def test_a_nul_byte_is_refused_naming_its_line(data: bytes, line: int) -> None:
    with pytest.raises(CsvEncodingError) as error:
        read_excel_csv(data)
    assert error.value.line == line
    assert f"{line}行目にNUL文字" in error.value.message


def test_an_unterminated_quote_is_a_format_error_at_its_line() -> None:
    with pytest.raises(CsvFormatError) as error:
        read_excel_csv(BOM + b'a,b\r\nc,d\r\ne,"f\r\n')
    assert error.value.line == 3


def test_a_row_limit_stops_reading() -> None:
    data = write_excel_csv(HEADER, [["R7", "x", 1]] * 5)
    assert len(read_excel_csv_lines(data, max_rows=6)[1]) == 6
    with pytest.raises(CsvFormatError, match="上限"):
        read_excel_csv_lines(data, max_rows=5)


def test_errors_never_quote_the_file() -> None:
    secret = "=HYPERLINK(秘密)".encode("cp932")
    with pytest.raises(CsvEncodingError) as error:
        read_excel_csv(BOM + b"a\r\n" + secret + b"\r\n")
    assert "HYPERLINK" not in str(error.value)


def test_an_empty_file_has_no_rows() -> None:
    assert read_excel_csv(b"") == ("utf-8", [])
    assert read_excel_csv(BOM) == ("utf-8-sig", [])


def test_the_writer_refuses_rows_of_the_wrong_width_and_nul_cells() -> None:
    with pytest.raises(ValueError):
        write_excel_csv(HEADER, [["only one"]])
    with pytest.raises(ValueError):
        write_excel_csv(HEADER, [["a", "b\x00", 1]])
    with pytest.raises(TypeError):
        write_excel_csv(HEADER, [["a", "b", 1.5]])  # type: ignore[list-item]


def test_the_platform_neutralises_with_the_rules_librarys_pure_function() -> None:
    from subsidy_platform import excel_csv
    from subsidy_rules import spreadsheet

    assert excel_csv.neutralise is spreadsheet.neutralise
    assert excel_csv.strip_neutralisation is spreadsheet.strip_neutralisation
    assert frozenset("=+-@\t\r") == excel_csv.TRIGGERS
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'=x", "山田"):
        assert spreadsheet.strip_neutralisation(spreadsheet.neutralise(cell)) == cell
        assert spreadsheet.neutralise(cell)[:1] not in spreadsheet.TRIGGERS
