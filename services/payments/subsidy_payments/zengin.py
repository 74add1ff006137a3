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
    if any(c not in ALLOWED for c in value):
        raise TransferFileError("全銀で使えない文字があります")
    return value[:width].ljust(width, " ")


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


def check_payees(payees: Iterable[Payee]) -> dict[int, str]:
    """The payee names in 全銀 form by instruction id; `TransferFileError` naming every
    application whose bank, branch, account type, number or name cannot be written."""
    bad: list[str] = []
    names: dict[int, str] = {}
    for payee in payees:
        try:
            if (
                bank_name(payee.bank_code) is None
                or branch_name(payee.bank_code, payee.branch_code) is None
            ):
                raise TransferFileError("unknown code")
            if (
                payee.account_type not in ACCOUNT_TYPES
                or not (payee.account_number.isascii() and payee.account_number.isdigit())
                or len(payee.account_number) > 7
            ):
                raise TransferFileError("bad account")
            if not 1 <= payee.amount <= MAX_AMOUNT:
                raise TransferFileError("bad amount")
            names[payee.instruction_id] = zengin_kana(payee.holder_kana)
            if not names[payee.instruction_id]:
                raise TransferFileError("empty name")
        except (TransferFileError, ValueError):
            bad.append(payee.application_number)
    if bad:
        raise TransferFileError(
            "振込先の銀行・支店コード、口座または受取人名を全銀の形式で書けない申請があります: "
            + ", ".join(sorted(bad)[:50]),
            sorted(bad),
        )
    return names


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


def data(payee: Payee, name: str) -> str:
    bank = bank_name(payee.bank_code)
    branch = branch_name(payee.bank_code, payee.branch_code)
    if bank is None or branch is None:
        raise TransferFileError("銀行・支店コードが登録されていません", [payee.application_number])
    return (
        "2"
        + numeric(payee.bank_code, 4)
        + alnum(bank, 15)
        + numeric(payee.branch_code, 3)
        + alnum(branch, 15)
        + " " * 4
        + ACCOUNT_TYPES[payee.account_type]
        + numeric(payee.account_number, 7)
        + alnum(name, 30)
        + numeric(payee.amount, 10)
        + "0"
        + numeric(payee.instruction_id, 10)
        + " " * 10
        + "7"
        + " "
        + " " * 7
    )


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
    names = check_payees(payees)
    records = [header(requester, transfer_date)]
    records.extend(data(p, names[p.instruction_id]) for p in payees)
    records.append(trailer(len(payees), sum(p.amount for p in payees)))
    records.append(end())
    encoded = [r.encode("shift_jis") for r in records]
    if any(len(r) != RECORD for r in encoded):
        raise TransferFileError("120バイトでないレコードがあります")
    return (b"\r\n" if crlf else b"").join(encoded) + (b"\r\n" if crlf else b"")
