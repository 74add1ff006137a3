"""An independent reader of 全銀協 総合振込 files, for the tests: every file payments writes
is read back through it (record lengths, kinds and order, counts, totals, character sets).

Written from the format's description, not from the service's writer: header 1, data 2
(one per transfer), trailer 8 (count and total of the data records), end 9; 120 bytes per
record; CRLF between records or none; numeric fields ASCII digits; text fields JIS X 0201
(half-width katakana 0xA6-0xDF, upper-case letters, digits, space and `( ) . - /`).
"""

from __future__ import annotations

from dataclasses import dataclass

TEXT = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ().-/") | set(range(0xA6, 0xE0))


class ZenginFileError(AssertionError):
    pass


@dataclass(frozen=True)
class Transfer:
    bank_code: str
    bank_name: bytes
    branch_code: str
    branch_name: bytes
    account_type: str
    account_number: str
    payee: bytes
    amount: int
    customer_code: str


@dataclass(frozen=True)
class ZenginFile:
    requester_code: str
    requester_name: bytes
    transfer_mmdd: str
    ward_bank: str
    ward_branch: str
    ward_account: str
    transfers: tuple[Transfer, ...]
    count: int
    total: int
    crlf: bool


def _num(record: bytes, start: int, width: int, what: str) -> str:
    field = record[start : start + width]
    if not field.isdigit():
        raise ZenginFileError(f"{what}: not zero-filled digits: {field!r}")
    return field.decode("ascii")


def _text(record: bytes, start: int, width: int, what: str) -> bytes:
    field = record[start : start + width]
    if any(b not in TEXT for b in field):
        raise ZenginFileError(f"{what}: a byte outside JIS X 0201 text: {field!r}")
    if field.rstrip(b" ") != field.rstrip(b" ").lstrip(b" ") and field.strip():
        raise ZenginFileError(f"{what}: not left-aligned")
    return field.rstrip(b" ")


def _blank(record: bytes, start: int, width: int, what: str) -> None:
    if record[start : start + width] != b" " * width:
        raise ZenginFileError(f"{what}: dummy not spaces")


def records_of(data: bytes) -> tuple[list[bytes], bool]:
    crlf = data[120:122] == b"\r\n"
    if crlf:
        if not data.endswith(b"\r\n"):
            raise ZenginFileError("last record without CRLF")
        parts = data.split(b"\r\n")[:-1]
    else:
        if len(data) % 120:
            raise ZenginFileError("length not a multiple of 120")
        parts = [data[i : i + 120] for i in range(0, len(data), 120)]
    for n, part in enumerate(parts):
        if len(part) != 120:
            raise ZenginFileError(f"record {n}: {len(part)} bytes")
    return parts, crlf


def read_zengin(data: bytes) -> ZenginFile:
    records, crlf = records_of(data)
    kinds = bytes(r[0] for r in records)
    if len(records) < 4 or kinds[:1] != b"1" or kinds[-2:] != b"89":
        raise ZenginFileError(f"record kinds not 1 2... 8 9: {kinds[:3]!r}...{kinds[-3:]!r}")
    if set(kinds[1:-2]) != {ord("2")}:
        raise ZenginFileError("data records are not all kind 2")
    head = records[0]
    if head[1:3] != b"21" or head[3:4] != b"0":
        raise ZenginFileError("header: not 総合振込 (21) with code 0")
    transfers = []
    for n, r in enumerate(records[1:-2], start=1):
        if r[38:42] != b"    ":
            raise ZenginFileError(f"data {n}: clearing house not blank")
        if r[42:43] not in (b"1", b"2", b"4"):
            raise ZenginFileError(f"data {n}: account type")
        _blank(r, 113, 7, f"data {n}")
        transfers.append(
            Transfer(
                _num(r, 1, 4, f"data {n} bank"),
                _text(r, 5, 15, f"data {n} bank name"),
                _num(r, 20, 3, f"data {n} branch"),
                _text(r, 23, 15, f"data {n} branch name"),
                r[42:43].decode(),
                _num(r, 43, 7, f"data {n} account"),
                _text(r, 50, 30, f"data {n} payee"),
                int(_num(r, 80, 10, f"data {n} amount")),
                _num(r, 91, 10, f"data {n} customer code"),
            )
        )
        if not transfers[-1].payee or not transfers[-1].bank_name or not transfers[-1].branch_name:
            raise ZenginFileError(f"data {n}: empty name")
    trailer = records[-2]
    count = int(_num(trailer, 1, 6, "trailer count"))
    total = int(_num(trailer, 7, 12, "trailer total"))
    _blank(trailer, 19, 101, "trailer")
    _blank(records[-1], 1, 119, "end")
    if count != len(transfers) or total != sum(t.amount for t in transfers):
        raise ZenginFileError("trailer count or total does not match the data records")
    return ZenginFile(
        _num(head, 4, 10, "requester code"),
        _text(head, 14, 40, "requester name"),
        _num(head, 54, 4, "transfer date"),
        _num(head, 58, 4, "ward bank"),
        _num(head, 77, 3, "ward branch"),
        _num(head, 96, 7, "ward account"),
        tuple(transfers),
        count,
        total,
        crlf,
    )
