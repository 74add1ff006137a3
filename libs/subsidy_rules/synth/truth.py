"""The ground truth of a synthetic run: pairs of applications never both granted.

Mirrors the one-grant-per-household rule (1世帯につき1回限り) that dedupe enforces,
from the generator's truth rather than from the records' spellings.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations
from typing import Any

from subsidy_rules.synth.plan import SyntheticApplication


def truth_pairs(apps: Iterable[SyntheticApplication]) -> set[frozenset[str]]:
    """Pairs of application ids that must not both be granted.

    Two applications pair up when they share the household, the person, the bank
    account (bank, branch and number, leading zeros ignored) or the LoGo answer id.
    """
    groups: dict[tuple[Any, ...], list[str]] = {}
    for app in apps:
        record = app.record
        app_id = str(record["application_id"])
        keys: list[tuple[Any, ...]] = [("household", app.household_id), ("person", app.person_id)]
        bank = record.get("bank_account")
        if isinstance(bank, dict):
            number = str(bank.get("number", ""))
            keys.append(
                ("account", bank.get("bank_code"), bank.get("branch_code"),
                 number.lstrip("0") if number.isdigit() else number)
            )  # fmt: skip
        logo = record.get("logo_answer_id")
        if logo is not None:
            keys.append(("logo", logo))
        for key in keys:
            groups.setdefault(key, []).append(app_id)
    pairs: set[frozenset[str]] = set()
    for ids in groups.values():
        if len(ids) > 1:
            pairs.update(frozenset(pair) for pair in combinations(ids, 2))
    return pairs
