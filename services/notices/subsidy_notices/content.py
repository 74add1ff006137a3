"""What a notice shows, and nothing more: the addressee, what was applied for and when, the
decision, its revocation (交付決定取消) or the correction request, the masked transfer
account (issue 8).

`NoticeContent` is built from intake's view of the application (contact details, the bank
account already masked by intake) and review's event; it keeps only the fields a notice
prints: the name, postal code and address, the received date, the items and the amount
applied for, and for a grant the bank and branch names with the account's last digits. The
phone, e-mail, birth date, household, kana and product descriptions are never kept. It is
stored as JSON encrypted with the program's contact key and deleted when the print data is.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import zengin_code

from subsidy_rules.items import Item
from subsidy_rules.reasons import Reason

KINDS = ("GRANT", "REFUSAL", "CORRECTION", "REVOCATION")
ACCOUNT_TYPES = {"ordinary": "普通", "current": "当座", "savings": "貯蓄"}
SHOWN_DIGITS = 3  # intake's masked view keeps the last three digits of the account


@dataclass(frozen=True)
class Account:
    """The transfer account as a grant notice shows it (never the full number)."""

    bank: str
    branch: str
    kind: str
    number: str  # masked: ＊＊＊＊567


@dataclass(frozen=True)
class NoticeContent:
    kind: str
    application_number: str
    program_id: str
    document_number: int
    issued_on: date
    name: str
    postal_code: str  # 7 ASCII digits
    address: str
    received_on: date
    items: tuple[str, ...]  # Japanese item names applied for
    applied_amount: int  # yen, the purchases' total
    granted_amount: int = 0
    decision_number: str = ""
    reasons: tuple[str, ...] = ()  # reason codes (subsidy_rules.reasons.Reason)
    account: Account | None = None
    deadline: date | None = None
    corrections: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    revocation_number: str = ""  # a revocation notice: the ward's revocation (取消) number

    @property
    def reason_messages(self) -> list[str]:
        return [Reason(code).message for code in self.reasons if code in Reason.__members__]

    def without_addressee(self) -> NoticeContent:
        """What stays once the print data is deleted: the decision, not who it is for."""
        return replace(self, name="", postal_code="", address="", account=None)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("issued_on", "received_on", "deadline"):
            data[key] = data[key].isoformat() if data[key] else None
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> NoticeContent:
        data: dict[str, Any] = json.loads(text)
        account = data.pop("account")
        return cls(
            **{
                **data,
                "issued_on": date.fromisoformat(data["issued_on"]),
                "received_on": date.fromisoformat(data["received_on"]),
                "deadline": date.fromisoformat(data["deadline"]) if data["deadline"] else None,
                "items": tuple(data["items"]),
                "reasons": tuple(data["reasons"]),
                "corrections": tuple(tuple(pair) for pair in data["corrections"]),
            },
            account=Account(**account) if account else None,
        )


def postal_digits(value: str) -> str:
    """The 7 ASCII digits of a postal code (123-4567; full-width digits folded)."""
    digits = "".join(c for c in unicodedata.normalize("NFKC", value) if c in "0123456789")
    if len(digits) != 7:
        raise ValueError("postal code is not 7 digits")
    return digits


def item_names(record: dict[str, Any]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for purchase in record.get("purchases") or []:
        try:
            names[Item(purchase["item"]).label] = None
        except (KeyError, ValueError):
            names["その他"] = None
    return tuple(names)


def masked_account(record: dict[str, Any]) -> Account | None:
    """Bank and branch names (zengin-code) and the last digits, from intake's masked view."""
    bank = record.get("bank_account")
    if not bank:
        return None
    entry = zengin_code.Bank.all.get(bank.get("bank_code", ""))
    branch = entry.branches.get(bank.get("branch_code", "")) if entry is not None else None
    digits = "".join(c for c in bank.get("number", "") if c.isdigit())[-SHOWN_DIGITS:]
    return Account(
        bank=entry.name if entry is not None else f"金融機関コード{bank.get('bank_code', '')}",
        branch=branch.name if branch is not None else f"支店コード{bank.get('branch_code', '')}",
        kind=ACCOUNT_TYPES.get(bank.get("type", ""), ""),
        number="＊" * 4 + digits,
    )


def addressee(record: dict[str, Any]) -> tuple[str, str, str]:
    """(name, postal code digits, address) of the applicant; a postal code that is not 7
    digits is kept as its digits, for the layout to report (the notice is not lost)."""
    applicant = record["applicant"]
    code = str(applicant.get("postal_code") or "")
    try:
        digits = postal_digits(code)
    except ValueError:
        digits = "".join(c for c in unicodedata.normalize("NFKC", code) if c in "0123456789")
    return applicant["name"], digits, applicant["address"]
