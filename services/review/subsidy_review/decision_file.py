"""The ward's decision file (DOMAIN.md flow step 7), validated whole before anything is applied.

The ward brings back the handover file (``handover.HEADER``) with the decision columns
filled in, saved by Excel as 「CSV UTF-8」 or 「CSV」 (CP932). ``read_decision_file``
checks every row against the cases that were handed over and still await a decision
(``exported``) and returns the decisions together with every problem found, one
``RowError`` per problem, each naming the physical line (header = line 1) and the
column. The caller applies the decisions only when there is no error at all
(DESIGN.md: imports are all-or-nothing per file with a line-by-line error report).

Rules, per row:
- 申請番号 is one of ``exported`` and appears once; 制度ID is that case's program.
- 決定 empty: undecided (counted, skipped); 交付決定額, 不交付理由コード, 減額理由 and 決定日
  must then be empty too. Otherwise 決定 is 交付 or 不交付.
- 交付: 交付決定額 is ASCII or full-width digits and passes the rules library's grant rule
  (`subsidy_rules.grant_rule.check_grant`, the one payments applies) as of the row's
  decision date: 1 <= amount <= the rules' amount (算定額) and the program's cap, a
  multiple of the rounding unit (shinjuku-2025: whole thousands of yen); an amount below
  the rules' amount needs a 減額理由 (and a second ward officer's approval, which the
  caller handles); 不交付理由コード is empty.
- 不交付: at least one refusal reason code (``subsidy_rules.reasons.Reason``, without the
  informational and duplicate-evidence codes), separated by spaces, commas or 「／」;
  交付決定額 empty or 0; 減額理由 empty.
- 決定日: empty (the day of the import), YYYY-MM-DD or YYYY/MM/DD (Excel writes 2025/6/3
  for a date cell); never after the ward's today (Asia/Tokyo, given by the caller), nor
  before the application's received date (受付日) or review date (審査日)
  (`decision_date_problem`, which direct decisions apply too).
- 減額理由 and 備考: at most 200 characters (longer is an error, never cut).
- Cells our writer neutralised (a leading ``'``) are read back without it.
- At most 100,000 data rows.
Messages are Japanese and quote at most a short, sanitised excerpt of a cell. Pure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from subsidy_platform.excel_csv import (
    CsvTooManyRows,
    ExcelCsvError,
    read_excel_csv_lines,
    strip_neutralisation,
)
from subsidy_review.handover import GRANT, HEADER, NOT_GRANT
from subsidy_rules.grant_rule import check_grant
from subsidy_rules.program import Program
from subsidy_rules.reasons import EVIDENCE, INFORMATIONAL, Reason

MAX_ROWS = 100_000
MAX_TEXT = 200
EXCERPT = 20
REFUSAL_REASONS: frozenset[str] = frozenset(
    reason.value for reason in Reason if reason not in INFORMATIONAL | EVIDENCE
)
"""The reason codes the ward may give for 不交付."""

_COLUMN = {name: index for index, name in enumerate(HEADER)}
_DIGITS = re.compile(r"[0-9０-９]{1,12}")
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_DATE = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})", re.ASCII)
_CODE_SEPARATORS = re.compile(r"[\s,、／/]+")


@dataclass(frozen=True, slots=True)
class ExportedCase:
    """A case handed over to the ward and still awaiting its decision."""

    application_number: str
    program_id: str
    rules_amount: int
    received_on: date | None = None
    checked_on: date | None = None


@dataclass(frozen=True, slots=True)
class WardDecision:
    """One decided row: 交付 (``granted``, ``amount`` yen) or 不交付 (``reasons``)."""

    application_number: str
    granted: bool
    amount: int
    reasons: tuple[str, ...]
    reduction_reason: str
    decided_on: date | None
    note: str
    line: int


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem at a physical line (header = 1); ``column`` is the header, "" for a row."""

    line: int
    column: str
    message: str


@dataclass(frozen=True, slots=True)
class DecisionFileResult:
    """The valid decisions, every problem, how many rows were left undecided."""

    decisions: tuple[WardDecision, ...]
    errors: tuple[RowError, ...]
    undecided: int
    encoding: str

    @property
    def ok(self) -> bool:
        """True when the file has no problem at all: only then may it be applied."""
        return not self.errors


def decision_date_problem(
    decided_on: date, today: date, received_on: date | None, checked_on: date | None
) -> str | None:
    """Why a decision may not carry `decided_on` (Japanese, for staff), or None: a decision
    date is never after the ward's `today`, nor before the application's receipt or review."""
    if decided_on > today:
        return f"決定日に未来の日付は指定できません（今日は{today.isoformat()}です）"
    if received_on is not None and decided_on < received_on:
        return f"決定日が申請の受付日（{received_on.isoformat()}）より前です"
    if checked_on is not None and decided_on < checked_on:
        return f"決定日が審査日（{checked_on.isoformat()}）より前です"
    return None


def excerpt(value: str) -> str:
    """A short, printable excerpt of a hostile cell for a message (never the whole cell)."""
    cut = value[:EXCERPT]
    safe = "".join(char if char.isprintable() else "?" for char in cut)
    return safe + "…" if len(value) > EXCERPT else safe


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def read_decision_file(
    data: bytes, exported: Mapping[str, ExportedCase], program: Program, today: date
) -> DecisionFileResult:
    """Read and check a returned decision file of `program` whole, on the ward's `today`
    (see the module docstring)."""
    try:
        encoding, rows = read_excel_csv_lines(data, max_rows=MAX_ROWS + 1)
    except CsvTooManyRows as error:
        message = f"データ行が上限（{MAX_ROWS:,}行）を超えています。ファイルを分けてください"
        return DecisionFileResult((), (RowError(error.line, "", message),), 0, "unknown")
    except ExcelCsvError as error:
        return DecisionFileResult((), (RowError(error.line, "", error.message),), 0, "unknown")
    header_errors = _check_header(rows[0][1] if rows else None)
    if header_errors:
        return DecisionFileResult((), header_errors, 0, encoding)
    reader = _Reader(exported, program, today)
    for line, cells in rows[1:]:
        reader.row(line, cells)
    return DecisionFileResult(
        tuple(reader.decisions), tuple(reader.errors), reader.undecided, encoding
    )


def _check_header(header: list[str] | None) -> tuple[RowError, ...]:
    if header is None:
        return (RowError(1, "", "1行目: 見出し行がありません（空のファイルです）"),)
    if header == list(HEADER):
        return ()
    for index, expected in enumerate(HEADER):
        found = header[index] if index < len(header) else ""
        if found != expected:
            message = (
                f"1行目: 見出し行が引渡しファイルと一致しません（{index + 1}列目が"
                f"「{excerpt(found)}」、正しくは「{expected}」）。列を並べ替えたり追加したり"
                "しないでください"
            )
            return (RowError(1, expected, message),)
    message = f"1行目: 見出し行の列が多すぎます（{len(HEADER)}列のはずが{len(header)}列）"
    return (RowError(1, "", message),)


class _Reader:
    """Checks rows one by one, collecting decisions and errors."""

    def __init__(self, exported: Mapping[str, ExportedCase], program: Program, today: date) -> None:
        self.exported = exported
        self.program = program
        self.today = today
        self.decisions: list[WardDecision] = []
        self.errors: list[RowError] = []
        self.undecided = 0
        self.seen: dict[str, int] = {}

    def row(self, line: int, raw: list[str]) -> None:
        if not any(cell.strip() for cell in raw):
            return  # Excel writes rows of bare commas for formatted empty rows
        if len(raw) != len(HEADER):
            message = (
                f"{line}行目: 列の数が見出し行と一致しません"
                f"（見出し{len(HEADER)}列、この行{len(raw)}列）"
            )
            self.errors.append(RowError(line, "", message))
            return
        cells = [strip_neutralisation(cell) for cell in raw]
        row = _Row(line, cells)
        case = self._case(row)
        decision = self._decision(row, case)
        self.errors.extend(row.errors)
        if decision is not None and not row.errors:
            self.decisions.append(decision)

    def _case(self, row: _Row) -> ExportedCase | None:
        number = row.text("申請番号")
        if not number:
            row.error("申請番号", "が空欄です")
            return None
        earlier = self.seen.setdefault(number, row.line)
        if earlier != row.line:
            row.error("申請番号", f"「{excerpt(number)}」が{earlier}行目と重複しています")
        case = self.exported.get(number)
        if case is None:
            row.error(
                "申請番号", f"「{excerpt(number)}」は区へ引き渡した決定待ちの申請にありません"
            )
            return None
        program = row.text("制度ID")
        if program != case.program_id:
            row.error(
                "制度ID", f"「{excerpt(program)}」がこの申請の制度ID（{case.program_id}）と違います"
            )
        return case

    def _decision(self, row: _Row, case: ExportedCase | None) -> WardDecision | None:
        verdict = _fold(row.cell("決定"))
        reduction_reason = row.bounded("減額理由")
        note = row.bounded("備考")
        if not verdict:
            for column in ("交付決定額", "不交付理由コード", "減額理由", "決定日"):
                if row.text(column):
                    row.error(column, "が入力されていますが、「決定」が空欄です")
            self.undecided += 1
            return None
        if verdict not in (GRANT, NOT_GRANT):
            entered = excerpt(verdict)
            row.error(
                "決定", f"は「{GRANT}」か「{NOT_GRANT}」で入力してください（入力: 「{entered}」）"
            )
            return None
        decided_on = _decided_on(row, case, self.today)
        amount: int | None = 0
        reasons: tuple[str, ...] = ()
        if verdict == GRANT:
            amount = _grant(row, case, reduction_reason, self.program, decided_on or self.today)
        else:
            reasons = _refusal(row, reduction_reason)
        if case is None or amount is None:
            return None
        return WardDecision(
            application_number=case.application_number,
            granted=verdict == GRANT,
            amount=amount,
            reasons=reasons,
            reduction_reason=reduction_reason,
            decided_on=decided_on,
            note=note,
            line=row.line,
        )


class _Row:
    """One data row's cells by column name, and the errors found in it."""

    def __init__(self, line: int, cells: list[str]) -> None:
        self.line = line
        self.cells = cells
        self.errors: list[RowError] = []

    def cell(self, column: str) -> str:
        return self.cells[_COLUMN[column]]

    def text(self, column: str) -> str:
        return self.cell(column).strip()

    def error(self, column: str, detail: str) -> None:
        message = f"{self.line}行目「{column}」{detail}"
        self.errors.append(RowError(self.line, column, message))

    def bounded(self, column: str) -> str:
        value = self.text(column)
        if len(value) > MAX_TEXT:
            self.error(column, f"が長すぎます（{len(value):,}文字、上限{MAX_TEXT}文字）")
        return value


def _amount(row: _Row) -> int | None:
    """交付決定額 as an integer, None when empty; an error (and None) when malformed."""
    text = row.text("交付決定額")
    if not text:
        return None
    if not _DIGITS.fullmatch(text):
        detail = "は半角数字で、桁区切りのカンマや「円」を付けずに入力してください"
        row.error("交付決定額", f"{detail}（入力: 「{excerpt(text)}」）")
        return None
    return int(text.translate(_FULL_WIDTH_DIGITS))


def _grant(
    row: _Row, case: ExportedCase | None, reduction_reason: str, program: Program, on: date
) -> int | None:
    if row.text("不交付理由コード"):
        row.error("不交付理由コード", "は交付の場合は空欄にしてください")
    had_errors = len(row.errors)
    amount = _amount(row)
    if amount is None:
        if len(row.errors) == had_errors:
            row.error("交付決定額", "が空欄です（交付の場合は必須です）")
        return None
    rules_amount = None if case is None else case.rules_amount
    allowed = check_grant(program, amount, on, rules_amount)
    if not allowed.allowed:
        row.error("交付決定額", f"：{allowed.message}")
        return None
    if case is None:
        return amount
    if amount < case.rules_amount and not reduction_reason:
        detail = f"交付決定額（{amount:,}円）が算定額（{case.rules_amount:,}円）より少ない場合"
        row.error("減額理由", f"が空欄です。{detail}は必須です")
    if amount == case.rules_amount and reduction_reason:
        row.error("減額理由", "が入力されていますが、交付決定額が算定額と同じです")
    return amount


def _refusal(row: _Row, reduction_reason: str) -> tuple[str, ...]:
    text = _fold(row.cell("不交付理由コード")).upper()
    codes = tuple(dict.fromkeys(code for code in _CODE_SEPARATORS.split(text) if code))
    if not codes:
        row.error(
            "不交付理由コード", "が空欄です（不交付の場合は必須です。例: DUPLICATE_HOUSEHOLD）"
        )
    unknown = [code for code in codes if code not in REFUSAL_REASONS]
    if unknown:
        detail = f"「{excerpt(unknown[0])}」は不交付の理由コードではありません"
        row.error("不交付理由コード", f"{detail}（{len(unknown)}件）")
    amount = _amount(row)
    if amount:
        row.error("交付決定額", "は不交付の場合は空欄（または0）にしてください")
    if reduction_reason:
        row.error("減額理由", "は不交付の場合は空欄にしてください")
    return codes


def _decided_on(row: _Row, case: ExportedCase | None, today: date) -> date | None:
    text = _fold(row.cell("決定日"))
    if not text:
        return None
    match = _DATE.fullmatch(text)
    if match is None:
        detail = "は「2025-06-30」または「2025/06/30」の形で入力してください"
        row.error("決定日", f"{detail}（入力: 「{excerpt(text)}」）")
        return None
    try:
        decided_on = date(int(match.group(1)), int(match.group(3)), int(match.group(4)))
    except ValueError:
        row.error("決定日", f"「{excerpt(text)}」は存在しない日付です")
        return None
    received_on = None if case is None else case.received_on
    checked_on = None if case is None else case.checked_on
    problem = decision_date_problem(decided_on, today, received_on, checked_on)
    if problem is not None:
        row.error("決定日", f"：{problem}")
        return None
    return decided_on
