"""A LoGo import report as a CSV for staff (`subsidy-intake-import --report-csv FILE`).

One row per line of the file, in line order: for a committed import every data line
with the 回答ID given, the application number it was given (状態 新規) or the number
already stored for the same answer (状態 取込済み), and the applications it is flagged as
a probable duplicate of with the reason (重複の疑い); for a refused import every bad line
with its column and the problem (状態 エラー: nothing was imported). Written by the
platform's `write_excel_csv`: UTF-8 with BOM and CRLF so that Excel opens it in Japanese,
every text cell neutralised against formula injection.
"""

from __future__ import annotations

from collections.abc import Iterator

from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2

from subsidy_platform.excel_csv import write_excel_csv
from subsidy_rules.reasons import Reason

HEADER = ("行", "回答ID", "申請番号", "状態", "重複の疑い（申請番号）", "重複の理由", "列", "内容")
NEW, PRESENT, ERROR = "新規", "取込済み", "エラー"


def report_rows(report: intake_pb2.ImportReport) -> Iterator[tuple[str | int, ...]]:
    """The CSV rows of a report (see the module docstring)."""
    for error in report.errors:
        yield (error.line, "", "", ERROR, "", "", error.column, error.message)
    for line in report.lines:
        others = " / ".join(
            dict.fromkeys(flag.other_application_number for flag in line.duplicates)
        )
        reasons = " / ".join(
            dict.fromkeys(
                Reason(common_pb2.ReasonCode.Name(flag.evidence)).message
                for flag in line.duplicates
            )
        )
        state = PRESENT if line.already_present else NEW
        yield (line.line, line.logo_answer_id, line.application_number, state, others, reasons,
               "", "")  # fmt: skip


def report_csv(report: intake_pb2.ImportReport) -> bytes:
    """The report as an Excel-ready CSV file (UTF-8 with BOM, CRLF)."""
    return write_excel_csv(HEADER, report_rows(report))
