"""Translation between the interchange format v1 (dicts) and the intake tables.

Which fields go to which data class: contact (name, kana, birth date, phone, e-mail,
postal code, address, head of household, relationship, purchase notes, LoGo answer id)
and bank (account number, holder). Intake encrypts the bank class but cannot decrypt it
(payments alone may): what staff see of an account is its masked display, written with
the account under the contact class (`bank_display`). Bank and branch codes, purchases (item, kind,
amount, dates) and pledges are not personal on their own and stay readable for
statistics and review.
"""

from __future__ import annotations

import json
from typing import Any

from subsidy_platform.crypto import DataClass
from subsidy_platform.rotation import CiphertextColumns

CONTACT_FIELDS = (
    "name",
    "name_kana",
    "birth_date",
    "phone",
    "email",
    "postal_code",
    "address",
    "head_name",
    "relationship",
    "purchase_notes",
    "logo_answer_id",
)
BANK_FIELDS = ("account_number", "account_holder")

# Every place intake keeps ciphertext, by data class (for key rotation with rewrap).
CIPHERTEXT_COLUMNS = (
    CiphertextColumns(
        "intake.applications", tuple(f"{f}_ct" for f in CONTACT_FIELDS), DataClass.CONTACT
    ),
    CiphertextColumns("intake.applications", tuple(f"{f}_ct" for f in BANK_FIELDS), DataClass.BANK),
    CiphertextColumns("intake.applications", ("bank_display_ct",), DataClass.CONTACT),
    CiphertextColumns("intake.bank_changes", ("note_ct",), DataClass.CONTACT),
    CiphertextColumns("intake.inquiries", ("summary_ct",), DataClass.CONTACT),
    CiphertextColumns("intake.paper_keyings", ("contact_ct",), DataClass.CONTACT),
    CiphertextColumns("intake.paper_keyings", ("bank_ct",), DataClass.BANK),
    CiphertextColumns("intake.corrections", ("note_ct",), DataClass.CONTACT),
)


def contact_values(record: dict[str, Any]) -> list[str | None]:
    """The contact-class plaintexts of a record, in CONTACT_FIELDS order."""
    applicant = record["applicant"]
    household = record.get("household") or {}
    notes = [p.get("description") for p in record["purchases"]]
    return [
        applicant["name"],
        applicant["name_kana"],
        applicant["birth_date"],
        applicant.get("phone"),
        applicant.get("email"),
        applicant["postal_code"],
        applicant["address"],
        household.get("head_name"),
        household.get("relationship"),
        json.dumps(notes, ensure_ascii=False) if any(notes) else None,
        record.get("logo_answer_id"),
    ]


def bank_values(record: dict[str, Any]) -> list[str | None]:
    bank = record.get("bank_account") or {}
    return [bank.get("number"), bank.get("holder_kana")]


def bank_display(record: dict[str, Any]) -> str | None:
    """The masked account staff see (last three digits, the holder's first kana), as JSON;
    None without an account. Written with the account: intake never decrypts it again."""
    bank = record.get("bank_account")
    if not bank:
        return None
    number, holder = bank.get("number") or "", bank.get("holder_kana") or ""
    masked = {
        "number": "*" * max(len(number) - 3, 0) + number[-3:],
        "holder_kana": f"{holder.strip()[:1]}＊＊＊" if holder.strip() else holder,
    }
    return json.dumps(masked, ensure_ascii=False)


def public_purchases(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Purchases without their free-text description (which is stored encrypted)."""
    return [
        {k: v for k, v in purchase.items() if k != "description" and v is not None}
        for purchase in record["purchases"]
    ]


def assemble(
    *,
    application_number: str,
    channel: str,
    received_on: str,
    resident_registered: bool,
    purchases: list[dict[str, Any]],
    pledges: dict[str, Any],
    bank_codes: tuple[str | None, str | None, str | None],
    contact: dict[str, str | None] | None,
    bank: dict[str, str | None] | None,
) -> dict[str, Any]:
    """A v1 record dict from stored parts; missing plaintext parts become None."""
    contact = contact or {}
    stored_notes = contact.get("purchase_notes")
    notes = json.loads(stored_notes) if stored_notes else []
    record: dict[str, Any] = {
        "application_id": application_number,
        "channel": channel,
        "received_on": received_on,
        "logo_answer_id": contact.get("logo_answer_id"),
        "applicant": {
            key: contact.get(key)
            for key in (
                "name",
                "name_kana",
                "birth_date",
                "phone",
                "email",
                "postal_code",
                "address",
            )
        },
        "household": {
            "head_name": contact.get("head_name"),
            "relationship": contact.get("relationship"),
        },
        "resident_registered": resident_registered,
        "purchases": [
            {**p, "description": notes[i] if i < len(notes) else None}
            for i, p in enumerate(purchases)
        ],
        "pledges": pledges,
    }
    bank_code, branch_code, account_type = bank_codes
    if bank_code:
        bank = bank or {}
        record["bank_account"] = {
            "bank_code": bank_code,
            "branch_code": branch_code,
            "type": account_type,
            "number": bank.get("account_number"),
            "holder_kana": bank.get("account_holder"),
        }
    return record
