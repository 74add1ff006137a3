"""The LoGo import report as a CSV for staff (subsidy_intake.import_report): one row per
line, read back with the csv module as UTF-8 with BOM."""

from __future__ import annotations

import csv
import io

from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy_intake.import_report import HEADER, report_csv

from subsidy_rules.reasons import Reason


def read(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_a_committed_report_lists_each_line_its_number_and_its_flags() -> None:
    flag = common_pb2.DuplicateFlag
    report = intake_pb2.ImportReport(
        committed=True,
        lines=[
            intake_pb2.ImportedLine(line=2, logo_answer_id="1001", application_number="A-1"),
            intake_pb2.ImportedLine(
                line=3,
                logo_answer_id="1002",
                application_number="A-2",
                duplicates=[
                    flag(other_application_number="A-1", evidence=common_pb2.SAME_PERSON),
                    flag(other_application_number="A-1", evidence=common_pb2.SAME_HOUSEHOLD),
                ],
            ),
            intake_pb2.ImportedLine(
                line=4, logo_answer_id="=1+1", application_number="A-0", already_present=True
            ),
        ],
    )
    rows = read(report_csv(report))
    assert tuple(rows[0]) == HEADER
    assert rows[1][:5] == ["2", "1001", "A-1", "新規", ""]
    assert rows[2][:5] == ["3", "1002", "A-2", "新規", "A-1"]
    assert rows[2][5] == f"{Reason.SAME_PERSON.message} / {Reason.SAME_HOUSEHOLD.message}"
    assert rows[3][:4] == ["4", "'=1+1", "A-0", "取込済み"]


def test_a_refused_report_lists_every_bad_line_with_its_column() -> None:
    report = intake_pb2.ImportReport(
        committed=False,
        errors=[intake_pb2.LineError(line=5, column="郵便番号", message="郵便番号「1」の形式…")],
    )
    rows = read(report_csv(report))
    assert rows[1] == ["5", "", "", "エラー", "", "", "郵便番号", "郵便番号「1」の形式…"]
