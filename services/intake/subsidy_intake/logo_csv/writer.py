"""Writing v1 records as a LoGo CSV export, the inverse of ``parse_logo_csv``.

For tests, the demo and benchmarks: every mapped column is written as LoGoフォーム
writes it (quoted, CRLF, dates as 1980/01/02, 回答日時 with a time of day).

Not a file for people: it imitates LoGo's own export byte for byte so that the parser is
tested against what LoGo writes, and LoGo does not neutralise formula cells. Cells are
therefore written as they are (a value beginning with ``=``, ``+``, ``-`` or ``@`` is not
prefixed with an apostrophe). A CSV intake writes for people to open in a spreadsheet must
use ``subsidy_platform.excel_csv.write_excel_csv`` (formula cells neutralised by
``subsidy_rules.spreadsheet.neutralise``); intake writes no such file today (the import
report is the RPC's answer, printed by ``subsidy-intake-import``), nor does ``subsidy-rules``
(JSON Lines only).
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from subsidy_intake.logo_csv.mapping import ColumnMapping, MappingColumn
from subsidy_intake.logo_csv.vocabulary import _ACCOUNT_TYPE_LABELS, _KIND_LABELS
from subsidy_rules.items import LABELS, Item

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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
