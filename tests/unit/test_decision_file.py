"""The ward's decision file: every rule, mixed decisions, CP932 from Excel, all errors reported;
amounts by the rules library's grant rule and decision dates against the ward's today."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from subsidy_review.decision_file import (
    MAX_ROWS,
    REFUSAL_REASONS,
    DecisionFileResult,
    ExportedCase,
    RowError,
    WardDecision,
    decision_date_problem,
    excerpt,
    read_decision_file,
)
from subsidy_review.handover import HEADER, HandoverRow, handover_csv

from subsidy_platform.excel_csv import BOM, write_excel_csv
from subsidy_rules.program import get_program
from subsidy_rules.reasons import Reason

PROGRAM = "shinjuku-2025"
SHINJUKU = get_program(PROGRAM)
RECEIVED = date(2025, 5, 12)
CHECKED = date(2025, 6, 2)
TODAY = date(2025, 7, 15)  # the ward's today in these tests
EXPORTED = {
    number: ExportedCase(number, PROGRAM, amount, RECEIVED, CHECKED)
    for number, amount in [("R7-000001", 20000), ("R7-000002", 15000), ("R7-000003", 8000)]
}


def row(number: str = "R7-000001", **decision: str) -> dict[str, str]:
    """A returned row: the handover cells of ``number`` plus the given decision cells."""
    cells = {column: "" for column in HEADER}
    cells.update({"申請番号": number, "制度ID": PROGRAM, "氏名": "新宿 花子", "申請額": "20000"})
    cells.update(decision)
    return cells


def csv_file(*rows: dict[str, str]) -> bytes:
    return write_excel_csv(HEADER, [[cells[column] for column in HEADER] for cells in rows])


def read(*rows: dict[str, str]) -> DecisionFileResult:
    return read_decision_file(csv_file(*rows), EXPORTED, SHINJUKU, TODAY)


def only_error(result: DecisionFileResult) -> RowError:
    assert len(result.errors) == 1, result.errors
    assert not result.ok
    return result.errors[0]


def test_a_good_file_of_mixed_decisions_is_read_whole() -> None:
    result = read(
        row("R7-000001", 決定="交付", 交付決定額="20000", 決定日="2025-06-30"),
        row(
            "R7-000002",
            決定="交付",
            交付決定額="12000",
            減額理由="領収書の一部が対象外",
            備考="電話確認済",
        ),
        row(
            "R7-000003",
            決定="不交付",
            不交付理由コード="DUPLICATE_HOUSEHOLD／TAX_ARREARS",
            決定日="2025/7/1",
        ),
    )
    assert result.ok
    assert result.encoding == "utf-8-sig"
    assert result.undecided == 0
    assert result.decisions == (
        WardDecision("R7-000001", True, 20000, (), "", date(2025, 6, 30), "", 2),
        WardDecision("R7-000002", True, 12000, (), "領収書の一部が対象外", None, "電話確認済", 3),
        WardDecision(
            "R7-000003",
            False,
            0,
            ("DUPLICATE_HOUSEHOLD", "TAX_ARREARS"),
            "",
            date(2025, 7, 1),
            "",
            4,
        ),
    )


def test_the_handover_file_itself_reads_back_as_all_undecided() -> None:
    handed = HandoverRow(
        "R7-000001", PROGRAM, "2025-05-12", "online", "", "=cmd", "", "1980-01-02", "160-0022",
        "新宿区", 20000, 20000, "交付", (), "", "", "",
    )  # fmt: skip
    result = read_decision_file(handover_csv([handed]), EXPORTED, SHINJUKU, TODAY)
    assert result.ok
    assert (result.undecided, result.decisions) == (1, ())


def test_a_cp932_file_as_excel_saves_it_is_accepted() -> None:
    lines = [",".join(HEADER)]
    lines.append(
        "R7-000001,shinjuku-2025,2025-05-12,オンライン,,'=髙橋,,1980/1/2,160-0022,新宿区新宿1-2-3,"
        "20000,20000,交付,,,,,交付,２０，０００,,,2025/6/3,"
    )
    lines.append(
        "R7-000002,shinjuku-2025,2025-05-12,紙,,佐藤,,,,,15000,15000,交付,,,,,不交付,,"
        "NOT_RESIDENT，TAX_ARREARS,,2025/6/3,住民登録なし～確認済"
    )
    data = ("\r\n".join(lines) + "\r\n").encode("cp932")
    result = read_decision_file(data, EXPORTED, SHINJUKU, TODAY)
    assert result.encoding == "cp932"
    assert [error.column for error in result.errors] == ["交付決定額"]  # 20,000 is not digits
    fixed = data.replace("２０，０００".encode("cp932"), "２００００".encode("cp932"))
    result = read_decision_file(fixed, EXPORTED, SHINJUKU, TODAY)
    assert result.ok, result.errors
    first, second = result.decisions
    assert (first.amount, first.decided_on) == (20000, date(2025, 6, 3))
    assert second.reasons == ("NOT_RESIDENT", "TAX_ARREARS")
    assert second.note == "住民登録なし～確認済"


def test_a_file_whose_every_row_is_wrong_reports_every_row() -> None:
    result = read(
        row("R7-999999", 決定="交付", 交付決定額="1000"),
        row("R7-000001", 決定="交付", 交付決定額="30000"),
        row("R7-000002", 決定="不交付", 不交付理由コード="NO_SUCH_CODE"),
        row("R7-000003", 決定="保留"),
        row("R7-000003", 決定="交付", 交付決定額="8000", 決定日="2025-02-30"),
    )
    assert result.decisions == ()
    assert [(error.line, error.column) for error in result.errors] == [
        (2, "申請番号"),
        (3, "交付決定額"),
        (4, "不交付理由コード"),
        (5, "決定"),
        (6, "申請番号"),
        (6, "決定日"),
    ]
    for error in result.errors:
        assert error.message.startswith(f"{error.line}行目")
        assert error.column in error.message


def test_the_header_must_be_the_handover_header() -> None:
    renamed = [*HEADER]
    renamed[18] = "=金額"
    data = write_excel_csv(renamed, [])
    error = only_error(read_decision_file(data, EXPORTED, SHINJUKU, TODAY))
    assert (error.line, error.column) == (1, "交付決定額")
    assert "19列目" in error.message
    extra = write_excel_csv([*HEADER, "追加"], [])
    assert (
        "列が多すぎます" in only_error(read_decision_file(extra, EXPORTED, SHINJUKU, TODAY)).message
    )
    assert only_error(read_decision_file(BOM, EXPORTED, SHINJUKU, TODAY)).line == 1


def test_an_unknown_application_is_an_error() -> None:
    error = only_error(read(row("R7-123456", 決定="交付", 交付決定額="1000")))
    assert (error.line, error.column) == (2, "申請番号")
    assert "R7-123456" in error.message


def test_an_application_may_appear_only_once() -> None:
    result = read(row("R7-000001"), row("R7-000001", 決定="交付", 交付決定額="20000"))
    error = only_error(result)
    assert (error.line, error.column) == (3, "申請番号")
    assert "2行目と重複" in error.message


def test_the_program_must_match() -> None:
    error = only_error(
        read(row("R7-000001", 制度ID="setagaya-2025", 決定="交付", 交付決定額="20000"))
    )
    assert error.column == "制度ID"


def test_an_empty_decision_is_undecided_and_must_leave_the_other_columns_empty() -> None:
    result = read(row("R7-000001"), row("R7-000002", 備考="確認中"))
    assert result.ok
    assert result.undecided == 2
    error = only_error(read(row("R7-000001", 交付決定額="20000")))
    assert error.column == "交付決定額"


@pytest.mark.parametrize("amount", ["20000", "２００００", " 20000 ", "020000"])
def test_the_amount_may_be_ascii_or_full_width_digits(amount: str) -> None:
    result = read(row(決定="交付", 交付決定額=amount))
    assert result.ok, result.errors
    assert result.decisions[0].amount == 20000


@pytest.mark.parametrize(
    "amount", ["２０，０００", "20,000", "20000円", "¥20000", "٢٠٠٠٠", "②0000", "2e4", "-1", "1.5"]
)
def test_an_amount_in_any_other_form_is_refused(amount: str) -> None:
    error = only_error(read(row(決定="交付", 交付決定額=amount)))
    assert error.column == "交付決定額"


def test_a_grant_needs_an_amount_of_at_least_one_yen() -> None:
    assert only_error(read(row(決定="交付"))).column == "交付決定額"
    assert "1円以上" in only_error(read(row(決定="交付", 交付決定額="0"))).message


def test_an_amount_above_the_rules_amount_names_the_rules_amount_not_the_cell() -> None:
    error = only_error(read(row("R7-000003", 決定="交付", 交付決定額="9000")))
    assert error.column == "交付決定額" and "算定額（8,000円）" in error.message
    assert "9,000" not in error.message


def test_an_amount_in_part_of_a_thousand_yen_is_refused_at_its_row() -> None:
    # shinjuku-2025 rounds down to 1,000 yen: 14,500 is below the rules' 15,000 and the cap
    result = read(
        row("R7-000001", 決定="交付", 交付決定額="20000"),
        row("R7-000002", 決定="交付", 交付決定額="14500", 減額理由="一部対象外"),
    )
    error = only_error(result)  # the file is not ok: the caller applies none of it
    assert (error.line, error.column) == (3, "交付決定額")
    assert error.message.startswith("3行目「交付決定額」") and "1,000円単位" in error.message


def test_an_amount_above_the_programs_cap_is_refused_even_for_an_unknown_application() -> None:
    result = read(row("R7-999999", 決定="交付", 交付決定額="25000"))
    assert [e.column for e in result.errors] == ["申請番号", "交付決定額"]
    assert "上限額（20,000円）" in result.errors[1].message


@pytest.mark.parametrize(
    ("decided_on", "problem"),
    [
        ("2025-07-16", "未来の日付"),  # the day after the ward's today
        ("2025-05-11", "受付日（2025-05-12）より前"),
        ("2025-06-01", "審査日（2025-06-02）より前"),
    ],
)
def test_a_decision_date_in_the_future_or_before_receipt_or_review_is_refused(
    decided_on: str, problem: str
) -> None:
    for verdict in ({"決定": "交付", "交付決定額": "20000"},
                    {"決定": "不交付", "不交付理由コード": "TAX_ARREARS"}):  # fmt: skip
        error = only_error(read(row(決定日=decided_on, **verdict)))
        assert error.column == "決定日" and problem in error.message
    assert read(row(決定="交付", 交付決定額="20000", 決定日="2025-07-15")).ok  # today
    assert read(row(決定="交付", 交付決定額="20000", 決定日="2025-06-02")).ok  # the review day


def test_the_decision_date_rule_is_one_function_for_files_and_direct_decisions() -> None:
    assert decision_date_problem(TODAY, TODAY, RECEIVED, CHECKED) is None
    assert decision_date_problem(TODAY, TODAY, RECEIVED, None) is None
    assert decision_date_problem(date(2025, 5, 20), TODAY, RECEIVED, None) is None
    future = decision_date_problem(date(2025, 7, 16), TODAY, RECEIVED, CHECKED)
    assert future is not None and "2025-07-15" in future


def test_a_reduced_grant_needs_a_reason() -> None:
    error = only_error(read(row("R7-000002", 決定="交付", 交付決定額="14000")))
    assert (error.column, "14,000円" in error.message) == ("減額理由", True)
    result = read(row("R7-000002", 決定="交付", 交付決定額="14000", 減額理由="一部対象外"))
    assert result.ok
    assert result.decisions[0].reduction_reason == "一部対象外"


def test_a_full_grant_with_a_reduction_reason_or_refusal_codes_is_contradictory() -> None:
    assert only_error(read(row(決定="交付", 交付決定額="20000", 減額理由="x"))).column == "減額理由"
    error = only_error(read(row(決定="交付", 交付決定額="20000", 不交付理由コード="TAX_ARREARS")))
    assert error.column == "不交付理由コード"


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ("NOT_RESIDENT", ("NOT_RESIDENT",)),
        ("TAX_ARREARS NOT_RESIDENT", ("TAX_ARREARS", "NOT_RESIDENT")),
        ("TAX_ARREARS,NOT_RESIDENT", ("TAX_ARREARS", "NOT_RESIDENT")),
        ("TAX_ARREARS／NOT_RESIDENT", ("TAX_ARREARS", "NOT_RESIDENT")),
        ("tax_arrears、 TAX_ARREARS", ("TAX_ARREARS",)),
        ("ＴＡＸ＿ＡＲＲＥＡＲＳ", ("TAX_ARREARS",)),
    ],
)
def test_refusal_codes_are_split_on_spaces_commas_and_slashes(
    codes: str, expected: tuple[str, ...]
) -> None:
    result = read(row(決定="不交付", 不交付理由コード=codes, 交付決定額="0"))
    assert result.ok, result.errors
    assert result.decisions[0].reasons == expected
    assert not result.decisions[0].granted


@pytest.mark.parametrize(
    "codes", ["", "NO_SUCH_CODE", "TAX_ARREARS UNKNOWN", "CAPPED", "SAME_PERSON"]
)
def test_a_refusal_needs_known_refusal_codes(codes: str) -> None:
    error = only_error(read(row(決定="不交付", 不交付理由コード=codes)))
    assert error.column == "不交付理由コード"


def test_refusal_reasons_are_the_reason_codes_that_refuse() -> None:
    assert Reason.DUPLICATE_HOUSEHOLD in REFUSAL_REASONS
    assert Reason.CAPPED not in REFUSAL_REASONS
    assert Reason.SAME_HOUSEHOLD not in REFUSAL_REASONS


def test_a_refusal_has_no_amount_and_no_reduction_reason() -> None:
    error = only_error(read(row(決定="不交付", 不交付理由コード="TAX_ARREARS", 交付決定額="1000")))
    assert error.column == "交付決定額"
    error = only_error(read(row(決定="不交付", 不交付理由コード="TAX_ARREARS", 減額理由="x")))
    assert error.column == "減額理由"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("2025-06-30", date(2025, 6, 30)),
        ("2025/06/30", date(2025, 6, 30)),
        ("2025/6/3", date(2025, 6, 3)),
        ("２０２５／０６／３０", date(2025, 6, 30)),
    ],
)
def test_the_decision_date_is_empty_or_iso(text: str, expected: date | None) -> None:
    result = read(row(決定="交付", 交付決定額="20000", 決定日=text))
    assert result.ok, result.errors
    assert result.decisions[0].decided_on == expected


@pytest.mark.parametrize(
    "text", ["2025-02-30", "30/06/2025", "令和7年6月30日", "2025-06/30", "45838"]
)
def test_any_other_decision_date_is_refused(text: str) -> None:
    assert only_error(read(row(決定="交付", 交付決定額="20000", 決定日=text))).column == "決定日"


@pytest.mark.parametrize("column", ["備考", "減額理由"])
def test_text_over_200_characters_is_refused_not_cut(column: str) -> None:
    # 減額理由 is only allowed on a reduced grant: 14,000 of R7-000002's 15,000 yen.
    decision = {"決定": "交付", "交付決定額": "14000", "減額理由": "一部対象外"}
    result = read(row("R7-000002", **{**decision, column: "あ" * 200}))
    assert result.ok, result.errors
    error = only_error(read(row("R7-000002", **{**decision, column: "あ" * 201})))
    assert (error.column, "201文字" in error.message) == (column, True)


def test_cells_neutralised_by_our_writer_are_read_without_the_apostrophe() -> None:
    result = read(row(決定="交付", 交付決定額="20000", 備考="=なし", 減額理由=""))
    assert result.ok
    assert result.decisions[0].note == "=なし"
    assert b"'=" in csv_file(row(備考="=なし"))


def test_a_row_of_the_wrong_width_is_an_error() -> None:
    data = csv_file(row()) + b"R7-000002,shinjuku-2025\r\n"
    error = only_error(read_decision_file(data, EXPORTED, SHINJUKU, TODAY))
    assert (error.line, error.column) == (3, "")


def test_empty_rows_excel_writes_are_skipped() -> None:
    data = csv_file(row(決定="交付", 交付決定額="20000")) + b"," * (len(HEADER) - 1) + b"\r\n"
    result = read_decision_file(data, EXPORTED, SHINJUKU, TODAY)
    assert result.ok
    assert len(result.decisions) == 1


def test_an_undecodable_file_is_one_error_at_its_first_bad_line() -> None:
    data = csv_file(row()) + "R7-000002,佐藤\r\n".encode("cp932")
    error = only_error(read_decision_file(data, EXPORTED, SHINJUKU, TODAY))
    assert (error.line, error.column) == (3, "")


def test_more_than_100000_rows_is_an_error() -> None:
    line = ",".join(row("R7-000001")[column] for column in HEADER).encode() + b"\r\n"
    data = BOM + ",".join(HEADER).encode() + b"\r\n" + line * (MAX_ROWS + 1)
    error = only_error(read_decision_file(data, EXPORTED, SHINJUKU, TODAY))
    assert error.line == MAX_ROWS + 2
    assert "100,000行" in error.message


def test_messages_quote_only_a_short_safe_excerpt() -> None:
    hostile = "=cmd|' /c calc'!A1" + "\x07" + "x" * 100_000  # under the csv cell limit
    result = read(row(hostile, 決定=hostile, 決定日=hostile))
    for error in result.errors:
        assert len(error.message) < 200
        assert "\x07" not in error.message
    assert excerpt("a\u202eb") == "a?b"
    assert excerpt("x" * 50) == "x" * 20 + "…"


def test_a_decision_is_returned_only_for_rows_without_errors() -> None:
    result = read(
        row("R7-000001", 決定="交付", 交付決定額="20000"),
        row("R7-000002", 決定="交付", 交付決定額="99999"),
    )
    assert [decision.application_number for decision in result.decisions] == ["R7-000001"]
    assert not result.ok


def test_the_result_types_are_frozen() -> None:
    result = read(row(決定="交付", 交付決定額="20000"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.decisions[0].amount = 1  # type: ignore[misc]
