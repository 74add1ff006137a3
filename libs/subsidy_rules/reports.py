"""What `subsidy-rules evaluate` and `dedupe` write for people: CSV files and summaries.

CSV (docs/CLI.md): Excel on Japanese Windows reads a CSV as CP932 unless it starts with
a UTF-8 byte order mark, so `--csv FILE` writes UTF-8 with BOM by default (every
character kept) or, with `--csv-encoding cp932`, CP932 for older tools, where a
character CP932 cannot hold is written as `?`. Lines end in CRLF; every text cell goes
through `subsidy_rules.spreadsheet.neutralise` (formula injection); amounts are digits.
Reason messages are the Japanese sentences of `subsidy_rules.reasons`.

Summaries (`--summary`, on standard error): counts, yen totals, and every reason with
how often it applied and its message.

Pure: the standard library only; the command line does the I/O.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from subsidy_rules.reasons import Reason
from subsidy_rules.spreadsheet import neutralise

ENCODINGS = ("utf-8-sig", "cp932")
"""The CSV encodings offered: UTF-8 with BOM (the default) and CP932 (Shift_JIS)."""

DECISION_HEADER = (
    "行",
    "申請番号",
    "判定",
    "交付額（円）",
    "補助対象経費（円）",
    "理由コード",
    "理由",
    "誤りのある項目",
    "誤りの内容",
)
GROUP_HEADER = ("グループ", "申請番号", "同じグループの申請", "理由コード", "理由")
GRANT, REFUSE, MALFORMED = "交付", "不交付", "形式エラー"

Cell = str | int


class CsvTable:
    """Rows written as they come to a text stream (opened with the encoding, `newline=""`
    and `errors="replace"`, see `open_csv`): CRLF, text cells neutralised."""

    def __init__(self, stream: IO[str], header: Sequence[str]) -> None:
        self._writer = csv.writer(stream, lineterminator="\r\n")
        self._writer.writerow([neutralise(name) for name in header])

    def add(self, row: Sequence[Cell]) -> None:
        self._writer.writerow([c if isinstance(c, int) else neutralise(c) for c in row])


def open_csv(path: str, encoding: str) -> IO[str]:
    """A CSV file opened for `CsvTable` in `encoding` (one of `ENCODINGS`)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported CSV encoding {encoding!r}")
    return open(path, "w", encoding=encoding, errors="replace", newline="")


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]], encoding: str) -> bytes:
    """The whole CSV file as bytes (as `CsvTable` on `open_csv` writes it)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported CSV encoding {encoding!r}")
    buffer = io.StringIO(newline="")
    table = CsvTable(buffer, header)
    for row in rows:
        table.add(row)
    return buffer.getvalue().encode(encoding, errors="replace")


def _messages(codes: Iterable[str]) -> str:
    return " ".join(Reason(code).message for code in codes)


def decision_row(line: int, result: dict[str, Any]) -> tuple[Cell, ...]:
    """One CSV row of an `evaluate` output object (a decision or a malformed record)."""
    application_id = str(result.get("application_id") or "")
    error = result.get("error")
    if error is not None:
        return (line, application_id, MALFORMED, "", "", "", "", error.get("field") or "",
                error["message"])  # fmt: skip
    codes = result["reasons"]
    return (
        line,
        application_id,
        GRANT if result["eligible"] else REFUSE,
        result["amount"],
        result["eligible_cost"],
        " ".join(codes),
        _messages(codes),
        "",
        "",
    )


def group_rows(number: int, group: dict[str, Any]) -> list[tuple[Cell, ...]]:
    """The CSV rows of one `dedupe` group: one per application, with the evidence naming it."""
    rows: list[tuple[Cell, ...]] = []
    for member in group["group"]:
        others = " ".join(a for a in group["group"] if a != member)
        codes = list(
            dict.fromkeys(e["code"] for e in group["evidence"] if member in e["applications"])
        )
        rows.append((number, member, others, " ".join(codes), _messages(codes)))
    return rows


@dataclass
class DecisionSummary:
    """Counts, yen totals and reasons over an `evaluate` run."""

    records: int = 0
    granted: int = 0
    refused: int = 0
    malformed: int = 0
    granted_yen: int = 0
    eligible_cost_yen: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, result: dict[str, Any]) -> None:
        self.records += 1
        if "error" in result:
            self.malformed += 1
            return
        if result["eligible"]:
            self.granted += 1
            self.granted_yen += result["amount"]
        else:
            self.refused += 1
        self.eligible_cost_yen += result["eligible_cost"]
        self.reasons.update(result["reasons"])

    def text(self) -> str:
        lines = [
            f"件数 {self.records:,}（交付 {self.granted:,} / 不交付 {self.refused:,} / "
            f"形式エラー {self.malformed:,}）",
            f"交付額合計 {self.granted_yen:,}円 / 補助対象経費合計 {self.eligible_cost_yen:,}円",
            *_reason_lines(self.reasons),
        ]
        return "\n".join(lines) + "\n"


@dataclass
class GroupSummary:
    """Counts and reasons over a `dedupe` run."""

    records: int = 0
    malformed: int = 0
    groups: int = 0
    grouped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def add_group(self, group: dict[str, Any]) -> None:
        self.groups += 1
        self.grouped += len(group["group"])
        self.reasons.update(group["reasons"])

    def text(self) -> str:
        lines = [
            f"件数 {self.records:,}（形式エラー {self.malformed:,}）",
            f"重複の疑いのグループ {self.groups:,}（申請 {self.grouped:,} 件）",
            *_reason_lines(self.reasons),
        ]
        return "\n".join(lines) + "\n"


def _reason_lines(reasons: Counter[str]) -> list[str]:
    if not reasons:
        return []
    rows = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    return ["理由別:", *(f"  {code:26} {n:7,}  {Reason(code).message}" for code, n in rows)]
