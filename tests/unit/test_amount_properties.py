"""Invariants of the amount for every shipped program, checked with hypothesis.

For an eligible base record per program (the `base` of its case table) and any list of
purchases: the amount is never negative, a multiple of the rounding unit, at most the
cap, at most the rate times the eligible cost and at most the sum of the per-item caps;
it equals an independent Fraction computation; eligibility agrees with the amount and
the reasons; and adding cost never lowers the amount (DESIGN.md principle 4).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from subsidy_rules.application import PURCHASE_KINDS, Application, Purchase, parse_application
from subsidy_rules.engine import Decision, evaluate
from subsidy_rules.items import Item
from subsidy_rules.program import Program, load_programs
from subsidy_rules.reasons import Reason

CASES_DIR = Path(__file__).parent / "cases"
PROGRAM_IDS = sorted(load_programs())
EXCLUSIONS = {Reason.ITEM_NOT_ELIGIBLE, Reason.PURCHASE_OUTSIDE_PERIOD}
SETTINGS = settings(max_examples=200, deadline=None)


def _iso(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {key: _iso(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_iso(value) for value in obj]
    return obj.isoformat() if isinstance(obj, date) else obj


@cache
def base_application(program_id: str) -> Application:
    """The eligible base record of the program's case table."""
    table = yaml.safe_load((CASES_DIR / f"{program_id}.yaml").read_text(encoding="utf-8"))
    return parse_application(_iso(table["base"]))


@st.composite
def purchases(draw: st.DrawFn, program: Program, received_on: date) -> Purchase:
    """One purchase: mostly of the program's items, dated around the purchase window."""
    item = draw(st.one_of(st.sampled_from(sorted(program.items)), st.sampled_from(list(Item))))
    amount = draw(st.integers(min_value=0, max_value=150_000))
    return Purchase(
        item=item,
        kind=draw(st.sampled_from(PURCHASE_KINDS)),
        amount=amount,
        purchased_on=draw(
            st.dates(received_on - timedelta(days=120), received_on + timedelta(days=2))
        ),
        points_used=draw(st.integers(min_value=0, max_value=amount)),
    )


@st.composite
def applications(draw: st.DrawFn, program_id: str, extra: bool = False) -> Any:
    """The base application with 0-6 drawn purchases (and, with `extra`, one more)."""
    program = load_programs()[program_id]
    base = base_application(program_id)
    one = purchases(program, base.received_on)
    application = replace(base, purchases=tuple(draw(st.lists(one, max_size=6))))
    return (application, draw(one)) if extra else application


def decide(program_id: str, application: Application) -> Decision:
    return evaluate(load_programs()[program_id], application)


def counts(program: Program, application: Application, purchase: Purchase) -> bool:
    """Whether a purchase counts, straight from the program's parameters."""
    params = program.parameters_on(application.received_on)
    day, received = purchase.purchased_on, application.received_on
    within = params.purchase_within_days
    return (
        purchase.item in program.items
        and day <= received
        and day in params.purchase_period
        and (within is None or (received - day).days <= within)
    )


def reference_amount(program: Program, application: Application) -> tuple[int, int, bool]:
    """(eligible cost, amount before refusals, capped) computed with Fractions."""
    params = program.parameters_on(application.received_on)
    per_item: dict[Item, int] = {}
    for purchase in application.purchases:
        if counts(program, application, purchase):
            cost = purchase.amount - (purchase.points_used if params.exclude_points else 0)
            per_item[purchase.item] = per_item.get(purchase.item, 0) + cost
    total, capped = Fraction(0), False
    for item, cost in per_item.items():
        share, item_cap = cost * params.rate, program.items[item].cap
        if item_cap is not None and share > item_cap:
            share, capped = Fraction(item_cap), True
        total += share
    if params.cap is not None and total > params.cap:
        total, capped = Fraction(params.cap), True
    unit = params.rounding_unit
    return sum(per_item.values()), math.floor(total / unit) * unit, capped


@pytest.mark.parametrize("program_id", PROGRAM_IDS)
@SETTINGS
@given(data=st.data())
def test_amount_stays_within_cap_rate_and_rounding_unit(
    program_id: str, data: st.DataObject
) -> None:
    application = data.draw(applications(program_id))
    program = load_programs()[program_id]
    params = program.parameters_on(application.received_on)
    decision = decide(program_id, application)
    assert decision.amount >= 0
    assert decision.amount % params.rounding_unit == 0
    if params.cap is not None:
        assert decision.amount <= params.cap
    assert decision.amount <= params.rate * decision.eligible_cost
    counted_items = {Item(p.item) for p in decision.purchases if p.counted}
    item_caps = [program.items[item].cap for item in counted_items]
    if counted_items and None not in item_caps:
        assert decision.amount <= sum(cap for cap in item_caps if cap is not None)


@pytest.mark.parametrize("program_id", PROGRAM_IDS)
@SETTINGS
@given(data=st.data())
def test_amount_equals_an_independent_fraction_computation(
    program_id: str, data: st.DataObject
) -> None:
    application = data.draw(applications(program_id))
    program = load_programs()[program_id]
    decision = decide(program_id, application)
    cost, amount, capped = reference_amount(program, application)
    assert [p.counted for p in decision.purchases] == [
        counts(program, application, p) for p in application.purchases
    ]
    assert decision.eligible_cost == cost
    assert decision.eligible_cost == sum(p.amount for p in decision.purchases if p.counted)
    if decision.eligible:
        assert decision.amount == amount
        assert (Reason.CAPPED in decision.reasons) == capped
    else:
        assert Reason.CAPPED not in decision.reasons


@pytest.mark.parametrize("program_id", PROGRAM_IDS)
@SETTINGS
@given(data=st.data())
def test_eligibility_agrees_with_the_amount_and_the_reasons(
    program_id: str, data: st.DataObject
) -> None:
    application = data.draw(applications(program_id))
    params = load_programs()[program_id].parameters_on(application.received_on)
    decision = decide(program_id, application)
    refusals = [r for r in decision.reasons if r not in EXCLUSIONS and not r.informational]
    if decision.amount > 0:
        assert decision.eligible
    if decision.eligible:
        assert refusals == []
        assert any(p.counted for p in decision.purchases)
        if decision.amount == 0:  # only when the whole grant is under one rounding unit
            assert params.rate * decision.eligible_cost < params.rounding_unit
    else:
        assert decision.amount == 0
        assert refusals, "a refusal always says why"
    assert len(decision.reasons) == len(set(decision.reasons))


@pytest.mark.parametrize("program_id", PROGRAM_IDS)
@SETTINGS
@given(data=st.data())
def test_adding_a_purchase_never_lowers_the_amount(program_id: str, data: st.DataObject) -> None:
    application, extra = data.draw(applications(program_id, extra=True))
    before = decide(program_id, application)
    after = decide(program_id, replace(application, purchases=(*application.purchases, extra)))
    assert after.amount >= before.amount
    assert after.eligible_cost >= before.eligible_cost


@pytest.mark.parametrize("program_id", PROGRAM_IDS)
@SETTINGS
@given(data=st.data())
def test_raising_the_cost_of_a_purchase_never_lowers_the_amount(
    program_id: str, data: st.DataObject
) -> None:
    application = data.draw(applications(program_id))
    if not application.purchases:
        application = replace(application, purchases=base_application(program_id).purchases)
    index = data.draw(st.integers(0, len(application.purchases) - 1))
    more = data.draw(st.integers(min_value=1, max_value=100_000))
    bought = list(application.purchases)
    bought[index] = replace(bought[index], amount=bought[index].amount + more)
    before = decide(program_id, application)
    after = decide(program_id, replace(application, purchases=tuple(bought)))
    assert after.amount >= before.amount


def test_the_base_record_of_every_program_is_eligible() -> None:
    for program_id in PROGRAM_IDS:
        assert decide(program_id, base_application(program_id)).eligible, program_id


def test_a_zero_yen_purchase_does_not_make_a_shinjuku_application_eligible() -> None:
    base = base_application("shinjuku-2025")
    application = replace(base, purchases=(replace(base.purchases[0], amount=0),))
    decision = decide("shinjuku-2025", application)
    assert not decision.eligible
    assert Reason.BELOW_MINIMUM_COST in decision.reasons


def test_a_purchase_paid_wholly_with_points_is_not_granted_in_chuo() -> None:
    base = base_application("chuo-2025")
    paid_in_points = replace(base.purchases[0], amount=10000, points_used=10000)
    decision = decide("chuo-2025", replace(base, purchases=(paid_in_points,)))
    assert not decision.eligible
