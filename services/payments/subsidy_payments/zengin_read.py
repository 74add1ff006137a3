"""A released 全銀協 総合振込 file read back (pure), for the reconciliation across services.

Reads what subsidy_payments.zengin writes: header (1), data (2), trailer (8), end (9);
120 bytes a record, CRLF between records or none. Of each data record it keeps the
顧客コード1 (the instruction id) and the 振込金額; of the trailer, 合計件数 and 合計金額.
Anything else (a short record, another kind or order, a field that is not digits) is a
`FileProblem` naming the reason, never the content.
"""

from __future__ import annotations

from dataclasses import dataclass

RECORD = 120


class FileProblem(ValueError):
    """A released file that cannot be read as a 総合振込 file (the reason, no content)."""


@dataclass(frozen=True, slots=True)
class TransferRecord:
    instruction_id: int  # 顧客コード1
    amount: int


@dataclass(frozen=True, slots=True)
class ParsedFile:
    records: tuple[TransferRecord, ...]
    trailer_count: int
    trailer_total: int


def _digits(record: bytes, start: int, width: int, what: str) -> int:
    field_ = record[start : start + width]
    if len(field_) != width or not field_.isdigit():
        raise FileProblem(f"{what}が数字ではありません")
    return int(field_)


def parse_transfer_file(data: bytes) -> ParsedFile:
    """The data records (instruction id, amount) and the trailer of a 総合振込 file
    (subsidy_payments.zengin writes it: header 1, data 2, trailer 8, end 9; 120 bytes a
    record, CRLF between records or none). Anything else is a `FileProblem`."""
    if data[RECORD : RECORD + 2] == b"\r\n":
        if not data.endswith(b"\r\n"):
            raise FileProblem("最後のレコードに改行がありません")
        records = data.split(b"\r\n")[:-1]
    else:
        records = [data[i : i + RECORD] for i in range(0, len(data), RECORD)]
    if any(len(r) != RECORD for r in records):
        raise FileProblem("120バイトでないレコードがあります")
    kinds = bytes(r[0] for r in records)
    if len(records) < 3 or kinds[:1] != b"1" or kinds[-2:] != b"89":
        raise FileProblem("レコードの並びがヘッダー・データ・トレーラー・エンドではありません")
    if any(k != ord("2") for k in kinds[1:-2]):
        raise FileProblem("データレコードでないレコードがあります")
    parsed = tuple(
        TransferRecord(_digits(r, 91, 10, "顧客コード1"), _digits(r, 80, 10, "振込金額"))
        for r in records[1:-2]
    )
    trailer = records[-2]
    return ParsedFile(
        parsed, _digits(trailer, 1, 6, "合計件数"), _digits(trailer, 7, 12, "合計金額")
    )
