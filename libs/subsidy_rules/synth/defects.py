"""Planting eligibility defects and malformed values into synthetic records.

One defect per defective record (`plan.DEFECTS`): eligibility defects keep the record
valid interchange format v1 for the rules to refuse; `plan.MALFORMED` ones make it
fail `parse_application` (dates in other spellings, negative amounts, unknown items,
missing fields).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from subsidy_rules.items import Item
from subsidy_rules.synth.base import _GeneratorBase


class _Defects(_GeneratorBase):
    """Changes a finished record so that it carries one defect."""

    def _plant(self, record: dict[str, Any], kind: str) -> None:
        rng = self.rng
        if kind == "not_resident":
            record["resident_registered"] = False
        elif kind == "missing_pledge":
            del record["pledges"][
                self._choice(("not_antisocial", "consent_to_checks", "no_tax_arrears"))
            ]
        elif kind == "tax_arrears":
            record["pledges"]["no_tax_arrears"] = False
        elif kind == "bad_bank_code":
            bank = record["bank_account"]
            if rng.random() < 0.5:
                bank["bank_code"] = self._choice(self.p.unknown_bank_codes)
            else:
                known = next(b for b in self.p.banks if b.code == bank["bank_code"])
                while (code := f"{self._below(1000):03d}") in known.branch_set:
                    pass
                bank["branch_code"] = code
        elif kind == "malformed_date":
            self._malformed_date(record)
        elif kind == "negative_amount":
            line = self._choice(record["purchases"])
            line["amount"] = -line["amount"]
        elif kind == "unknown_item":
            line = self._choice(record["purchases"])
            item = Item(line["item"])
            line["item"] = self._choice((item.label, item.value.upper(), "smart_lock", "防犯品"))
        elif kind == "missing_field":
            where, key = self._choice(
                (
                    (record, "received_on"), (record, "channel"), (record, "purchases"),
                    (record, "pledges"), (record, "resident_registered"),
                    (record["applicant"], "name"), (record["applicant"], "birth_date"),
                    (record["applicant"], "address"), (record["applicant"], "postal_code"),
                    (record["purchases"][0], "amount"), (record["purchases"][0], "purchased_on"),
                )
            )  # fmt: skip
            del where[key]

    def _malformed_date(self, record: dict[str, Any]) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            where, key = record, "received_on"
        elif r < 0.7:
            where, key = record["applicant"], "birth_date"
        else:
            where, key = self._choice(record["purchases"]), "purchased_on"
        day = date.fromisoformat(where[key])
        reiwa = day.year - 2018
        where[key] = self._choice(
            (
                f"{day.year}/{day.month}/{day.day}",
                f"{day.year}-{day.month}-{day.day}"
                if day.month < 10 or day.day < 10
                else f"{day:%Y%m%d}",
                f"令和{reiwa}年{day.month}月{day.day}日" if reiwa > 0 else f"{day:%Y年%m月%d日}",
                f"{day.year}-02-30",
                f"{day:%Y.%m.%d}",
            )
        )
