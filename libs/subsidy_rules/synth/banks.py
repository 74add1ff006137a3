"""Real banks and branch codes for synthetic bank accounts (zengin-code).

A weighted handful of real banks (ゆうちょ, city, online and shinkin banks) with all
their real branch codes, and the bank codes no bank has, for the `bad_bank_code`
defect (codes as in the 全銀協 bank and branch code tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import zengin_code

_BANKS = (
    ("9900", 18), ("0001", 15), ("0005", 16), ("0009", 14), ("0010", 5), ("0137", 3),
    ("0036", 6), ("0038", 5), ("0033", 4), ("0397", 1), ("0034", 1), ("0040", 1),
    ("1341", 3), ("1344", 2), ("1356", 1), ("1349", 1), ("1319", 1), ("1303", 1), ("0017", 1),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Bank:
    code: str
    branches: tuple[str, ...]
    branch_set: frozenset[str]


def _load_banks() -> list[_Bank]:
    """The banks of `_BANKS` with their branch codes, sorted."""
    banks = []
    for code, _ in _BANKS:
        bank = zengin_code.Bank.all[code]
        branch_codes = tuple(sorted(bank.branches))
        banks.append(_Bank(code, branch_codes, frozenset(branch_codes)))
    return banks


def _unknown_bank_codes() -> tuple[str, ...]:
    """Bank codes 0001-0999 that no bank has."""
    return tuple(f"{n:04d}" for n in range(1, 1000) if f"{n:04d}" not in zengin_code.Bank.all)
