"""The payments service's configuration, from the environment (never from a caller).

- `PAYMENTS_REQUESTER_CODE` (10 digits, 依頼人コード given by the ward's bank),
  `PAYMENTS_REQUESTER_NAME` (依頼人名 in half-width katakana or its full-width spelling),
  `PAYMENTS_WARD_BANK`, `PAYMENTS_WARD_BRANCH`, `PAYMENTS_WARD_ACCOUNT_TYPE`
  (ordinary|current|savings), `PAYMENTS_WARD_ACCOUNT`: the ward's own account, the
  header record's 仕向 fields. The defaults are a synthetic account for the demo and tests;
  in a pod (a Vault agent's token file, subsidy_platform.deployed) there are none: each
  must be set (Kubernetes: the overlay's `subsidy-payments-ward` ConfigMap), or payments
  does not start.
- `PAYMENTS_FILE_CRLF` (1 or 0, default 1): records joined by CRLF or back to back.
- `PAYMENTS_FILE_RETENTION_DAYS` (default 30): days a transfer file is kept (encrypted)
  after the bank's confirmation, then deleted by `PurgeFiles`.
A bad value stops the service at start (ValueError naming the variable).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from subsidy_payments.zengin import ACCOUNT_TYPES, Requester, bank_name, branch_name
from subsidy_platform.deployed import is_deployed
from subsidy_rules.normalize.kana import zengin_kana

WARD_ACCOUNT = frozenset(
    {
        "PAYMENTS_REQUESTER_CODE",
        "PAYMENTS_REQUESTER_NAME",
        "PAYMENTS_WARD_BANK",
        "PAYMENTS_WARD_BRANCH",
        "PAYMENTS_WARD_ACCOUNT_TYPE",
        "PAYMENTS_WARD_ACCOUNT",
    }
)
DEFAULTS = {
    "PAYMENTS_REQUESTER_CODE": "1310400001",
    "PAYMENTS_REQUESTER_NAME": "シンジユククカイケイカンリシヤ",
    "PAYMENTS_WARD_BANK": "0005",
    "PAYMENTS_WARD_BRANCH": "001",
    "PAYMENTS_WARD_ACCOUNT_TYPE": "current",
    "PAYMENTS_WARD_ACCOUNT": "1234567",
    "PAYMENTS_FILE_CRLF": "1",
    "PAYMENTS_FILE_RETENTION_DAYS": "30",
}


@dataclass(frozen=True, slots=True)
class PaymentSettings:
    requester: Requester
    crlf: bool
    retention_days: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PaymentSettings:
        source = os.environ if environ is None else environ
        in_pod = is_deployed(source)

        def value(name: str) -> str:
            given = source.get(name)
            if not given and in_pod and name in WARD_ACCOUNT:
                raise ValueError(f"{name} is not set (a pod has no default ward account)")
            return given or DEFAULTS[name]

        code = value("PAYMENTS_REQUESTER_CODE")
        if not (code.isascii() and code.isdigit() and len(code) == 10):
            raise ValueError("PAYMENTS_REQUESTER_CODE must be 10 digits")
        bank, branch = value("PAYMENTS_WARD_BANK"), value("PAYMENTS_WARD_BRANCH")
        if bank_name(bank) is None or branch_name(bank, branch) is None:
            raise ValueError("PAYMENTS_WARD_BANK / PAYMENTS_WARD_BRANCH: unknown bank or branch")
        kind = value("PAYMENTS_WARD_ACCOUNT_TYPE")
        if kind not in ACCOUNT_TYPES:
            raise ValueError("PAYMENTS_WARD_ACCOUNT_TYPE must be ordinary, current or savings")
        account = value("PAYMENTS_WARD_ACCOUNT")
        if not (account.isascii() and account.isdigit() and 1 <= len(account) <= 7):
            raise ValueError("PAYMENTS_WARD_ACCOUNT must be 1-7 digits")
        try:
            name = zengin_kana(value("PAYMENTS_REQUESTER_NAME"))
        except ValueError:
            raise ValueError("PAYMENTS_REQUESTER_NAME cannot be written in 全銀 kana") from None
        if not 1 <= len(name) <= 40:
            raise ValueError("PAYMENTS_REQUESTER_NAME must be 1-40 characters")
        crlf = value("PAYMENTS_FILE_CRLF")
        if crlf not in ("0", "1"):
            raise ValueError("PAYMENTS_FILE_CRLF must be 0 or 1")
        days = value("PAYMENTS_FILE_RETENTION_DAYS")
        if not (days.isascii() and days.isdigit() and int(days) <= 3650):
            raise ValueError("PAYMENTS_FILE_RETENTION_DAYS must be 0-3650")
        return cls(Requester(code, name, bank, branch, kind, account), crlf == "1", int(days))
