"""Runs every rule case of every program's YAML case table (tests/unit/cases/<program-id>.yaml).

A table is data (DESIGN.md principle 4):

    program: shinjuku-2025          # must match the file name
    base: {...}                     # a full application record, format v1, synthetic person
    cases:
      - name: cost-2000-reaches-the-minimum     # unique in the file; the pytest id's tail
        note: optional free text
        changes: {...}              # deep-merged onto `base`
        expect: {eligible: true, amount: 1000, eligible_cost: 2000, reasons: []}

Merging: mappings merge key by key, any other value (lists such as `purchases`
included) replaces the base's, and `null` removes the key from the record. Dates may be
written bare (YAML dates); they are turned back into `YYYY-MM-DD` strings before the
record is parsed. `reasons` is compared as an exact list, in the order the engine
gives them.
"""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from subsidy_rules.application import parse_application
from subsidy_rules.engine import evaluate
from subsidy_rules.program import load_programs

CASES_DIR = Path(__file__).parent / "cases"
_TABLE_KEYS = {"program", "base", "cases"}
_CASE_KEYS = {"name", "note", "changes", "expect"}
_EXPECT_KEYS = {"eligible", "amount", "eligible_cost", "reasons"}


def deep_merge(base: Any, changes: Any) -> Any:
    """`changes` laid over `base`: mappings merge, None deletes, anything else replaces."""
    if not isinstance(base, dict) or not isinstance(changes, dict):
        return copy.deepcopy(changes)
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def as_record(obj: Any) -> Any:
    """The record with YAML dates written back as ISO strings, as format v1 requires."""
    if isinstance(obj, dict):
        return {key: as_record(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [as_record(value) for value in obj]
    if isinstance(obj, date):
        return obj.isoformat()
    return obj


def load_table(path: Path) -> dict[str, Any]:
    """One case table, checked for shape so that a typo in a table cannot pass silently."""
    table = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(table) == _TABLE_KEYS, f"{path.name}: top-level keys must be {sorted(_TABLE_KEYS)}"
    assert table["program"] == path.stem, f"{path.name}: program must match the file name"
    names = [case["name"] for case in table["cases"]]
    assert len(names) == len(set(names)), f"{path.name}: case names must be unique"
    for case in table["cases"]:
        assert set(case) <= _CASE_KEYS, f"{path.name}: {case['name']}: unknown case key"
        assert set(case["expect"]) == _EXPECT_KEYS, f"{path.name}: {case['name']}: expect keys"
    return table


def _collect() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        table = load_table(path)
        for case in table["cases"]:
            record = as_record(deep_merge(table["base"], case.get("changes") or {}))
            params.append(
                pytest.param(
                    table["program"], record, case["expect"], id=f"{path.stem}/{case['name']}"
                )
            )
    return params


CASES = _collect()


def test_every_shipped_program_has_a_case_table() -> None:
    tables = {path.stem for path in CASES_DIR.glob("*.yaml")}
    assert tables == set(load_programs())


@pytest.mark.parametrize(("program_id", "record", "expect"), CASES)
def test_program_decides_the_case_as_the_table_says(
    program_id: str, record: dict[str, Any], expect: dict[str, Any]
) -> None:
    decision = evaluate(load_programs()[program_id], parse_application(record))
    got = {
        "eligible": decision.eligible,
        "amount": decision.amount,
        "eligible_cost": decision.eligible_cost,
        "reasons": [str(reason) for reason in decision.reasons],
    }
    assert got == expect


def test_changes_merge_mappings_replace_lists_and_null_removes_a_key() -> None:
    base = {"a": {"b": 1, "c": 2}, "items": [1, 2], "gone": True}
    merged = deep_merge(base, {"a": {"c": 3}, "items": [9], "gone": None})
    assert merged == {"a": {"b": 1, "c": 3}, "items": [9]}
    assert base == {"a": {"b": 1, "c": 2}, "items": [1, 2], "gone": True}
