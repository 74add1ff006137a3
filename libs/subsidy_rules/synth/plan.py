"""What the synthetic generator plants, and how often (see the package docstring).

The public vocabulary (`DEFECTS`, `MALFORMED`, `DUPLICATE_KINDS`, the Shinjuku FY2025
purchase window and items) and `SyntheticApplication`, the record with its ground
truth. Defect names follow the eligibility rules of the Shinjuku FY2025 program
(programs/) and the malformed ones the interchange format v1 (application.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from subsidy_rules.items import Item

PURCHASES_FROM = date(2025, 4, 1)
"""First day a purchase counts in the Shinjuku FY2025 program."""

SHINJUKU_ITEMS = frozenset(
    {
        Item.SECURITY_CAMERA,
        Item.CAMERA_INTERCOM,
        Item.SENSOR_LIGHT,
        Item.SECURITY_FILM,
        Item.AUXILIARY_LOCK,
    }
)
"""Items the Shinjuku program subsidises; `ineligible_item_only` is relative to these."""

MALFORMED = ("malformed_date", "negative_amount", "unknown_item", "missing_field")
"""Defects that make a record fail `parse_application`."""

DEFECTS = (
    "not_resident",
    "outside_ward",
    "late_application",
    "purchase_before_period",
    "below_minimum",
    "ineligible_item_only",
    "missing_pledge",
    "tax_arrears",
    "bad_bank_code",
    *MALFORMED,
)
"""Every defect name `generate` may plant (one per defective record)."""

DUPLICATE_KINDS = ("same_person", "household_member", "shared_account", "logo_resubmit")
"""How a planted duplicate relates to the application it duplicates."""

# Share (per mille) of each kind of record; the rest are clean originals.
_PLAN: tuple[tuple[str, float], ...] = (
    ("same_person", 16.0),
    ("household_member", 12.0),
    ("shared_account", 6.0),
    ("logo_resubmit", 6.0),
    ("not_resident", 7.0),
    ("outside_ward", 7.0),
    ("late_application", 5.0),
    ("purchase_before_period", 4.0),
    ("below_minimum", 6.0),
    ("ineligible_item_only", 5.0),
    ("missing_pledge", 6.0),
    ("tax_arrears", 5.0),
    ("bad_bank_code", 6.0),
    ("malformed_date", 1.5),
    ("negative_amount", 1.0),
    ("unknown_item", 1.0),
    ("missing_field", 1.5),
)
_PLAN_KINDS = (*(kind for kind, _ in _PLAN), "clean")
_PLAN_CUM: list[float] = []
_acc = 0.0
for _, _share in _PLAN:
    _acc += _share / 1000.0
    _PLAN_CUM.append(_acc)
del _acc


@dataclass(frozen=True, slots=True)
class SyntheticApplication:
    """One generated record and the ground truth behind it."""

    record: dict[str, Any]
    household_id: int
    person_id: int
    defects: tuple[str, ...]
    planted_duplicate_of: str | None
    duplicate_kind: str | None = None
