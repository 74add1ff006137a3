"""A new ward's rule plugs in by name, without touching the engine (docs/PROGRAMS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from subsidy_rules.application import parse_application
from subsidy_rules.engine import evaluate
from subsidy_rules.program import ProgramError, get_program, load_program
from subsidy_rules.reasons import Reason
from subsidy_rules.rules import APPLICATION_RULES, Context, application_rule


@pytest.fixture
def renters_only() -> Any:
    """A plugin rule: only applicants whose household relationship is 本人 may apply."""

    @application_rule("head_of_household_only")
    def head_of_household_only(ctx: Context) -> Reason | None:
        relationship = ctx.application.household.relationship
        return None if relationship == "本人" else Reason.NOT_RESIDENT

    yield head_of_household_only
    del APPLICATION_RULES["head_of_household_only"]


def _definition_with(tmp_path: Path, rules: list[str]) -> Path:
    shipped = Path(get_program("shinjuku-2025").path)
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    data["id"] = "plugin-test"
    data["rules"] = rules
    path = tmp_path / "plugin-test.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_registered_rule_can_be_named_by_a_definition_file(
    tmp_path: Path, record: dict[str, Any], renters_only: Any
) -> None:
    program = load_program(_definition_with(tmp_path, ["eligible_items", "head_of_household_only"]))
    assert evaluate(program, parse_application(record)).eligible
    record["household"]["relationship"] = "子"
    decision = evaluate(program, parse_application(record))
    assert decision.reasons == (Reason.NOT_RESIDENT,)


def test_an_unregistered_rule_name_is_a_loading_error(tmp_path: Path) -> None:
    with pytest.raises(ProgramError) as raised:
        load_program(_definition_with(tmp_path, ["eligible_items", "head_of_household_only"]))
    assert raised.value.key == "rules[1]"


def test_a_rule_name_cannot_be_registered_twice(renters_only: Any) -> None:
    with pytest.raises(ValueError, match="already registered"):
        application_rule("head_of_household_only")(renters_only)
