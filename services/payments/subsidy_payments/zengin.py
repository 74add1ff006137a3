"""The 全銀協 総合振込 transfer file: 120-byte fixed records, pure (no I/O).

Records (全国銀行協会 総合振込 format, 種別コード 21):
- header (データ区分 1): 種別コード 21, コード区分 0, 依頼人コード (10), 依頼人名 (40),
  取組日 MMDD, 仕向銀行番号 (4) and name (15), 仕向支店番号 (3) and name (15), 預金種目 (1),
  口座番号 (7), dummy (17);
- data (2), one per instruction: 被仕向銀行番号 (4) and name (15), 被仕向支店番号 (3) and
  name (15), 手形交換所番号 (4, spaces), 預金種目 (1), 口座番号 (7), 受取人名 (30),
  振込金額 (10), 新規コード (1, "0"), 顧客コード1 (10: the instruction id), 顧客コード2 (10,
  spaces), 振込指定区分 (1, "7" テレ振込), 識別表示 (1, space), dummy (7);
- trailer (8): 合計件数 (6), 合計金額 (12), dummy (101);
- end (9): dummy (119).
Numeric fields are zero-filled and right-aligned; text fields space-filled and
left-aligned. Text is JIS X 0201: half-width katakana with voiced marks, upper-case
letters, digits, space and `( ) . - /` (one byte each, Shift_JIS single-byte codes).
Records are joined by CRLF when configured (the bank's choice), else written back to back.
Bank and branch kana names come from zengin-code; an unknown bank or branch code raises
`TransferFileError` naming the application, before any file exists. Payee names are
converted by the rules library's 全銀 form (small kana written large); a name that cannot
be written is an error naming the application, never dropped or altered further.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import zengin_code

from subsidy_rules.normalize.kana import zengin_kana

RECORD = 120
ACCOUNT_TYPES = {"ordinary": "1", "current": "2", "savings": "4"}
ALLOWED = frozenset(
    "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝﾞﾟABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ().-/"
)
MAX_AMOUNT = 9_999_999_999  # 10 digits
MAX_TOTAL = 999_999_999_999  # 12 digits
MAX_COUNT = 999_999  # 6 digits


class TransferFileError(ValueError):
    """A record that cannot be written; `numbers`: the applications concerned."""

    def __init__(self, message: str, numbers: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.numbers = tuple(numbers)


@dataclass(frozen=True, slots=True)
class Requester:
    """The ward's own account and requester code (configuration, never a caller's input)."""

    code: str  # 依頼人コード, 10 digits
    name: str  # 依頼人名, already in the permitted set
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str


@dataclass(frozen=True, slots=True)
class Payee:
    """One data record's content (decrypted just before writing)."""

    instruction_id: int
    application_number: str
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str
    holder_kana: str
    amount: int


def numeric(value: int | str, width: int) -> str:
    text = str(value)
    if not text.isdigit() or not text.isascii() or len(text) > width:
        raise TransferFileError(f"数値項目が{width}桁を超えているか数字ではありません")
    return text.rjust(width, "0")


def alnum(value: str, width: int) -> str:
    """A text field: only the permitted characters, cut to `width`, space-filled."""
    if not ALLOWED.issuperset(value):
        raise TransferFileError("全銀で使えない文字があります")
    return value[:width].ljust(width, " ")


def _half_width_table() -> dict[int, str]:
    """Each character's 全銀 form, from the rules library's conversion (one character at a
    time; what NFKC composes is composed before the table applies)."""
    table: dict[int, str] = {}
    for code in [*range(0x20, 0x7F), *range(0x3000, 0x3100), *range(0xFF01, 0xFF5F)]:
        char = chr(code)
        try:
            table[code] = (zengin_kana(char) if char.strip() else "") or " "
        except ValueError:
            continue
    return table


_TABLE = _half_width_table()


def payee_name(text: str) -> str:
    """`subsidy_rules.normalize.kana.zengin_kana` by one table (the same result, faster:
    tests/unit/test_payments_files.py compares them); ValueError when impossible."""
    half = " ".join(unicodedata.normalize("NFKC", text).upper().translate(_TABLE).split())
    if not ALLOWED.issuperset(half):
        raise ValueError("a character cannot be written in a 全銀 payee name")
    return half


@functools.lru_cache(maxsize=4096)
def bank_name(code: str) -> str | None:
    bank = zengin_code.Bank.all.get(code)
    return zengin_kana(bank.kana) if bank is not None else None


@functools.lru_cache(maxsize=65536)
def branch_name(bank: str, branch: str) -> str | None:
    found = zengin_code.Bank.all.get(bank)
    if found is None or branch not in found.branches:
        return None
    return zengin_kana(found.branches[branch].kana)


@functools.lru_cache(maxsize=65536)
def _destination(bank: str, branch: str) -> str | None:
    """被仕向銀行番号・名 and 被仕向支店番号・名 (37 characters), None when a code is unknown."""
    bank_kana, branch_kana = bank_name(bank), branch_name(bank, branch)
    if bank_kana is None or branch_kana is None:
        return None
    return numeric(bank, 4) + alnum(bank_kana, 15) + numeric(branch, 3) + alnum(branch_kana, 15)


def _data(payee: Payee) -> str:
    """One data record; TransferFileError when any of its fields cannot be written."""
    destination = _destination(payee.bank_code, payee.branch_code)
    kind = ACCOUNT_TYPES.get(payee.account_type)
    number = payee.account_number
    if destination is None or kind is None or not 1 <= payee.amount <= MAX_AMOUNT:
        raise TransferFileError("bad payee")
    if not (number.isascii() and number.isdigit() and len(number) <= 7):
        raise TransferFileError("bad account")
    try:
        name = payee_name(payee.holder_kana)
    except ValueError:
        raise TransferFileError("bad name") from None
    if not name:
        raise TransferFileError("empty name")
    return (
        f"2{destination}    {kind}{number:0>7}{name[:30]:<30}{payee.amount:010d}0"
        f"{payee.instruction_id:010d}{'':10}7 {'':7}"
    )


def data_records(payees: Iterable[Payee]) -> list[str]:
    """The data records; `TransferFileError` naming every application whose bank, branch,
    account type, number, amount or name cannot be written."""
    records: list[str] = []
    bad: list[str] = []
    for payee in payees:
        try:
            records.append(_data(payee))
        except TransferFileError:
            bad.append(payee.application_number)
    if bad:
        raise TransferFileError(
            "振込先の銀行・支店コード、口座または受取人名を全銀の形式で書けない申請があります: "
            + ", ".join(sorted(bad)[:50]),
            sorted(bad),
        )
    return records


def header(requester: Requester, transfer_date: date) -> str:
    record = (
        "1"
        + "21"
        + "0"
        + numeric(requester.code, 10)
        + alnum(requester.name, 40)
        + f"{transfer_date.month:02d}{transfer_date.day:02d}"
        + numeric(requester.bank_code, 4)
        + alnum(bank_name(requester.bank_code) or "", 15)
        + numeric(requester.branch_code, 3)
        + alnum(branch_name(requester.bank_code, requester.branch_code) or "", 15)
        + ACCOUNT_TYPES[requester.account_type]
        + numeric(requester.account_number, 7)
        + " " * 17
    )
    return record


def trailer(count: int, total: int) -> str:
    if count > MAX_COUNT or total > MAX_TOTAL:
        raise TransferFileError("件数または合計金額が全銀の桁数を超えています")
    return "8" + numeric(count, 6) + numeric(total, 12) + " " * 101


def end() -> str:
    return "9" + " " * 119


def transfer_file(
    requester: Requester, transfer_date: date, payees: Sequence[Payee], *, crlf: bool
) -> bytes:
    """The whole file; every record checked to be 120 single bytes."""
    if any(p.instruction_id >= 10**10 for p in payees):
        raise TransferFileError("指図番号が10桁を超えています")
    records = [header(requester, transfer_date), *data_records(payees)]
    records.append(trailer(len(payees), sum(p.amount for p in payees)))
    records.append(end())
    if any(len(r) != RECORD for r in records):
        raise TransferFileError("120文字でないレコードがあります")
    separator = "\r\n" if crlf else ""
    encoded = (separator.join(records) + separator).encode("shift_jis")
    if len(encoded) != len(records) * (RECORD + len(separator)):
        raise TransferFileError("1バイトでない文字があります")  # every character one byte
    return encoded
