"""What each role sees of an application (DOMAIN.md: call center never sees the full
bank account or birth date; unmasking needs a role that may and a stated purpose).

Masked view: the name in full (an agent must address the caller), the birth year only,
the last four digits of the phone, the address down to the town, the e-mail's domain,
the bank and branch codes with the last three digits of the account number, and the
holder's kana reduced to its first character. Roles in `UNMASK_ROLES` may ask for the
full record with a purpose; every such read is audited as `unmask`.
"""

from __future__ import annotations

import re
from typing import Any

UNMASK_ROLES = frozenset({"operator", "checker", "ward_officer", "admin"})
MASK = "＊"

_TOWN = re.compile(r"^(.*?[区市町村])?(.*?)([0-9０-９〇一二三四五六七八九十]|$)")


def may_unmask(role: str) -> bool:
    return role in UNMASK_ROLES


def mask_birth_date(value: str) -> str:
    return f"{value[:4]}-**-**" if len(value) >= 4 else "****-**-**"


def mask_phone(value: str | None) -> str | None:
    if not value:
        return value
    digits = [c for c in value if c.isdigit()]
    return "*" * max(len(digits) - 4, 0) + "".join(digits[-4:])


def mask_address(value: str) -> str:
    match = _TOWN.match(value)
    head = "".join(part for part in (match.group(1), match.group(2)) if part) if match else ""
    return f"{head}{MASK * 3}" if head else MASK * 3


def mask_email(value: str | None) -> str | None:
    if not value or "@" not in value:
        return None if not value else MASK * 3
    return f"{MASK * 3}@{value.rsplit('@', 1)[1]}"


def mask_account_number(value: str) -> str:
    return "*" * max(len(value) - 3, 0) + value[-3:]


def mask_kana(value: str) -> str:
    stripped = value.strip()
    return f"{stripped[:1]}{MASK * 3}" if stripped else value


def mask_name(value: str) -> str:
    """The list view keeps the family name only."""
    parts = value.replace("　", " ").split()
    return f"{parts[0]} {MASK * 2}" if len(parts) > 1 else f"{value[:1]}{MASK * 2}"


def mask_bank(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a v1 record dict with the bank account number and holder masked."""
    bank = record.get("bank_account")
    if not bank:
        return dict(record)
    return {
        **record,
        "bank_account": {
            **bank,
            "number": mask_account_number(bank["number"]),
            "holder_kana": mask_kana(bank["holder_kana"]),
        },
    }


def masked_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a v1 record dict with the masked fields replaced."""
    applicant = dict(record["applicant"])
    applicant["birth_date"] = mask_birth_date(applicant["birth_date"])
    applicant["phone"] = mask_phone(applicant.get("phone"))
    applicant["email"] = mask_email(applicant.get("email"))
    applicant["address"] = mask_address(applicant["address"])
    out = mask_bank({**record, "applicant": applicant})
    household = record.get("household")
    if household and household.get("head_name"):
        out["household"] = {**household, "head_name": mask_name(household["head_name"])}
    return out
