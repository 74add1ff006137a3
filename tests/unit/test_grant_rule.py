"""The one rule for a granted amount (subsidy_rules.grant_rule): 1 <= amount <= the rules'
amount and the cap in force on the decision date, in whole rounding units."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subsidy_rules.grant_rule import MAX_GRANT, GrantRefusal, check_grant, grant_limits
from subsidy_rules.parameters import Dated
from subsidy_rules.program import Program, get_program

ON = date(2025, 7, 1)


@pytest.fixture(scope="module")
def shinjuku() -> Program:
    return get_program("shinjuku-2025")


@pytest.mark.parametrize(
    ("amount", "rules_amount", "reason"),
    [
        (16_000, 16_000, None),
        (20_000, None, None),  # payments does not know the rules' amount: the cap bounds it
        (1_000, 16_000, None),  # a reduced grant, still in thousands
        (0, 16_000, GrantRefusal.NOT_POSITIVE),
        (-1_000, None, GrantRefusal.NOT_POSITIVE),
        (17_000, 16_000, GrantRefusal.ABOVE_RULES_AMOUNT),
        (21_000, None, GrantRefusal.ABOVE_CAP),
        (16_500, 20_000, GrantRefusal.NOT_A_MULTIPLE_OF_UNIT),  # 千円未満切り捨て
        (999, None, GrantRefusal.NOT_A_MULTIPLE_OF_UNIT),
    ],
)
def test_shinjuku_grants_whole_thousands_up_to_the_rules_amount_and_the_cap(
    shinjuku: Program, amount: int, rules_amount: int | None, reason: GrantRefusal | None
) -> None:
    result = check_grant(shinjuku, amount, ON, rules_amount)
    assert result.reason == reason
    assert result.allowed == (reason is None)
    assert (result.cap, result.unit) == (20_000, 1_000)
    assert bool(result.message) == (reason is not None)


def test_the_message_names_the_programs_values_never_the_amount_asked_for(
    shinjuku: Program,
) -> None:
    above = check_grant(shinjuku, 18_765_000, ON)
    assert above.message == "交付決定額が制度の上限額（20,000円）を超えています"
    odd = check_grant(shinjuku, 16_543, ON)
    assert "1,000円単位" in odd.message and "16,543" not in odd.message
    rules = check_grant(shinjuku, 19_000, ON, 16_000)
    assert "16,000円" in rules.message and "19,000" not in rules.message


def test_a_ward_rounding_to_100_yen_accepts_what_shinjuku_refuses() -> None:
    setagaya = get_program("setagaya-2025")
    assert check_grant(setagaya, 16_500, ON).allowed
    assert check_grant(setagaya, 16_550, ON).reason == GrantRefusal.NOT_A_MULTIPLE_OF_UNIT


def _with_dated(program: Program, name: str, *values: Dated) -> Program:
    parameters = {**program.parameters, name: values}
    return dataclasses.replace(program, parameters=parameters, _cache={}, compiled={})


def test_the_cap_and_unit_are_those_in_force_on_the_decision_date(shinjuku: Program) -> None:
    raised = _with_dated(
        shinjuku,
        "cap",
        Dated(None, 20_000, "seed"),
        Dated(date(2025, 10, 1), 30_000, "test: raised from October"),
    )
    assert check_grant(raised, 25_000, date(2025, 9, 30)).reason == GrantRefusal.ABOVE_CAP
    assert check_grant(raised, 25_000, date(2025, 10, 1)).allowed
    assert grant_limits(raised, date(2025, 10, 1)) == (30_000, 1_000)


def test_a_program_without_a_cap_is_bounded_by_the_rules_amount_and_the_largest_grant(
    shinjuku: Program,
) -> None:
    uncapped = _with_dated(shinjuku, "cap", Dated(None, None, "test: no cap"))
    assert check_grant(uncapped, 250_000, ON).allowed
    assert check_grant(uncapped, 250_000, ON, 200_000).reason == GrantRefusal.ABOVE_RULES_AMOUNT
    assert check_grant(uncapped, MAX_GRANT, ON).allowed
    assert check_grant(uncapped, MAX_GRANT + 1_000, ON).reason == GrantRefusal.ABOVE_CAP


@given(
    amount=st.integers(min_value=-(10**9), max_value=10**9),
    rules_amount=st.one_of(st.none(), st.integers(min_value=0, max_value=40_000)),
)
def test_an_allowed_amount_is_positive_within_every_bound_and_a_whole_unit(
    amount: int, rules_amount: int | None
) -> None:
    program = get_program("shinjuku-2025")
    result = check_grant(program, amount, ON, rules_amount)
    within = 1 <= amount <= 20_000 and (rules_amount is None or amount <= rules_amount)
    assert result.allowed == (within and amount % 1_000 == 0)
