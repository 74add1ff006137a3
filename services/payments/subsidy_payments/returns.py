"""The bank's return file (振込不能・組戻し), parsed whole before anything is applied (pure).

The documented format (docs/OPERATIONS.md "Payments (振込)"): a CSV file, UTF-8 (with or
without BOM) or CP932, one header row `指図番号,口座番号,金額,返却理由`, then one row per
returned transfer:
- 指図番号: the payment instruction's id (the 顧客コード1 of the 全銀 data record), digits;
- 口座番号: the account number the transfer went to (1-7 digits), as the bank reports it;
- 金額: the transferred amount in yen, digits;
- 返却理由: one of 口座なし, 名義相違, 解約済, 口座種別相違, 取引停止, 受取拒否, その他.
At most 10,000 rows. A row that breaks any rule (or names one instruction twice) is
reported with its row number, field and problem; one bad row rejects the whole file. The
checks against stored instructions (the instruction exists in this program, was sent,
the account and amount match) are the use case's, reported the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from subsidy_platform.excel_csv import ExcelCsvError, read_excel_csv_lines

HEADER = ("指図番号", "口座番号", "金額", "返却理由")
REASONS = ("口座なし", "名義相違", "解約済", "口座種別相違", "取引停止", "受取拒否", "その他")
MAX_ROWS = 10_000
MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReturnRow:
    row: int
    instruction_id: int
    account_number: str
    amount: int
    reason: str


@dataclass(frozen=True, slots=True)
class Problem:
    row: int
    field: str
    problem: str


def _digits(value: str, width: int) -> bool:
    return value.isascii() and value.isdigit() and 1 <= len(value) <= width


def parse_returns(data: bytes) -> tuple[list[ReturnRow], list[Problem]]:
    """The rows and every problem found (rows are usable only when there is none)."""
    if len(data) > MAX_BYTES:
        return [], [Problem(0, "content", "ファイルが大きすぎます（8MiBまで）")]
    try:
        _, lines = read_excel_csv_lines(data, max_rows=MAX_ROWS + 1)
    except ExcelCsvError as error:
        return [], [Problem(0, "content", f"{error.line}行目: {error.message}")]
    if not lines or tuple(c.strip() for c in lines[0][1]) != HEADER:
        return [], [Problem(0, "header", "見出し行は 指図番号,口座番号,金額,返却理由 です")]
    rows: list[ReturnRow] = []
    problems: list[Problem] = []
    seen: set[int] = set()
    for number, (_, cells) in enumerate(lines[1:], start=1):
        if len(cells) != len(HEADER):
            problems.append(Problem(number, "row", "項目の数が4ではありません"))
            continue
        ident, account, amount, reason = (c.strip() for c in cells)
        bad = len(problems)
        if not _digits(ident, 18):
            problems.append(Problem(number, "指図番号", "指図番号は数字です"))
        elif int(ident) in seen:
            problems.append(Problem(number, "指図番号", "同じ指図番号が2回あります"))
        if not _digits(account, 7):
            problems.append(Problem(number, "口座番号", "口座番号は1〜7桁の数字です"))
        if not _digits(amount, 10) or int(amount) == 0:
            problems.append(Problem(number, "金額", "金額は1円以上の数字です"))
        if reason not in REASONS:
            problems.append(Problem(number, "返却理由", "返却理由が定められた語ではありません"))
        if len(problems) == bad:
            seen.add(int(ident))
            rows.append(ReturnRow(number, int(ident), account, int(amount), reason))
    if not rows and not problems:
        problems.append(Problem(0, "content", "返却データがありません"))
    return rows, problems
