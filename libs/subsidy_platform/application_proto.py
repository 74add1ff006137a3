"""Proto <-> interchange format v1 (dicts) for application records, shared by every service.

The proto mirrors format v1 field by field; empty strings and unset optionals become
absent keys so that the rules library's strict parser sees exactly what a JSON file
would carry, and reports the same field names.
"""

from __future__ import annotations

from typing import Any

from subsidy.common.v1 import common_pb2

CHANNELS = {common_pb2.ONLINE: "online", common_pb2.PAPER: "paper"}
CHANNEL_CODES = {name: code for code, name in CHANNELS.items()}


def _text(value: str) -> str | None:
    return value if value != "" else None


def _drop_none(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def record_from_proto(message: common_pb2.ApplicationRecord) -> dict[str, Any]:
    """The v1 record a proto carries (keys absent where the proto left fields empty)."""
    a = message.applicant
    record: dict[str, Any] = _drop_none(
        {
            "application_id": _text(message.application_id),
            "channel": CHANNELS.get(message.channel),
            "received_on": _text(message.received_on),
            "logo_answer_id": _text(message.logo_answer_id),
            "resident_registered": message.resident_registered,
        }
    )
    if message.HasField("applicant"):
        record["applicant"] = _drop_none(
            {
                "name": _text(a.name),
                "name_kana": _text(a.name_kana),
                "birth_date": _text(a.birth_date),
                "phone": _text(a.phone),
                "email": _text(a.email),
                "postal_code": _text(a.postal_code),
                "address": _text(a.address),
            }
        )
    if message.HasField("household"):
        record["household"] = _drop_none(
            {
                "head_name": _text(message.household.head_name),
                "relationship": _text(message.household.relationship),
            }
        )
    record["purchases"] = [
        _drop_none(
            {
                "item": _text(p.item),
                "kind": _text(p.kind),
                "amount": p.amount,
                "purchased_on": _text(p.purchased_on),
                "description": _text(p.description),
                "points_used": p.points_used or None,
            }
        )
        for p in message.purchases
    ]
    if message.HasField("bank_account"):
        b = message.bank_account
        record["bank_account"] = _drop_none(
            {
                "bank_code": _text(b.bank_code),
                "branch_code": _text(b.branch_code),
                "type": _text(b.type),
                "number": _text(b.number),
                "holder_kana": _text(b.holder_kana),
            }
        )
    pledges = message.pledges
    record["pledges"] = {
        key: getattr(pledges, key)
        for key in ("not_antisocial", "no_tax_arrears", "consent_to_checks")
        if pledges.HasField(key)
    }
    return record


def record_to_proto(record: dict[str, Any]) -> common_pb2.ApplicationRecord:
    """A proto for a v1 record dict (None values left unset)."""
    applicant = record.get("applicant") or {}
    household = record.get("household") or {}
    bank = record.get("bank_account")
    message = common_pb2.ApplicationRecord(
        application_id=record.get("application_id") or "",
        channel=CHANNEL_CODES.get(record.get("channel") or "", common_pb2.CHANNEL_UNSPECIFIED),
        received_on=record.get("received_on") or "",
        logo_answer_id=record.get("logo_answer_id") or "",
        resident_registered=bool(record.get("resident_registered")),
        applicant=common_pb2.Applicant(**{k: v for k, v in applicant.items() if v is not None}),
        household=common_pb2.Household(**{k: v for k, v in household.items() if v is not None}),
        purchases=[
            common_pb2.Purchase(**{k: v for k, v in p.items() if v is not None})
            for p in record.get("purchases", [])
        ],
        pledges=common_pb2.Pledges(
            **{k: v for k, v in (record.get("pledges") or {}).items() if v is not None}
        ),
    )
    if bank:
        message.bank_account.CopyFrom(
            common_pb2.BankAccount(**{k: v for k, v in bank.items() if v is not None})
        )
    return message
