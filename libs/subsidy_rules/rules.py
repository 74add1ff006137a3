"""Eligibility rules: small pure functions, registered by name, that say why.

A program's definition lists the rules it applies (`rules:`). A purchase rule looks
at one purchase and returns the reason it is excluded, or None when it counts; an
application rule looks at the whole application (after the purchases are counted)
and returns the reason it is refused, or None. New rules for a new ward are
registered with the `application_rule` / `purchase_rule` decorators in a plugin
module, made known through the `subsidy_rules.rules` entry-point group (see
docs/PROGRAMS.md); the engine itself never changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from subsidy_rules.reasons import Reason

if TYPE_CHECKING:
    from subsidy_rules.application import Application, Purchase
    from subsidy_rules.program import Parameters, Program
    from subsidy_rules.residence import WardArea


@dataclass(slots=True)
class Context:
    """What a rule may look at: the application, its program, the parameters in force."""

    application: Application
    program: Program
    parameters: Parameters
    ward: WardArea | None
    eligible_cost: int = 0
    counted: bool = False


PurchaseRule = Callable[[Context, "Purchase"], Reason | None]
ApplicationRule = Callable[[Context], Reason | None]

PURCHASE_RULES: dict[str, PurchaseRule] = {}
APPLICATION_RULES: dict[str, ApplicationRule] = {}


def purchase_rule(name: str) -> Callable[[PurchaseRule], PurchaseRule]:
    """Register a purchase rule under `name` (a name may be registered once)."""

    def register(rule: PurchaseRule) -> PurchaseRule:
        _check_free(name)
        PURCHASE_RULES[name] = rule
        return rule

    return register


def application_rule(name: str) -> Callable[[ApplicationRule], ApplicationRule]:
    """Register an application rule under `name` (a name may be registered once)."""

    def register(rule: ApplicationRule) -> ApplicationRule:
        _check_free(name)
        APPLICATION_RULES[name] = rule
        return rule

    return register


def _check_free(name: str) -> None:
    if name in PURCHASE_RULES or name in APPLICATION_RULES:
        raise ValueError(f"rule {name!r} is already registered")


@functools.cache
def _load_plugins() -> None:
    for entry in entry_points(group="subsidy_rules.rules"):
        entry.load()


def known_rules() -> frozenset[str]:
    """Every registered rule name, after loading plugins from the entry-point group once."""
    _load_plugins()
    return frozenset(PURCHASE_RULES) | frozenset(APPLICATION_RULES)


# Purchase rules -------------------------------------------------------------------------


@purchase_rule("eligible_items")
def eligible_items(ctx: Context, purchase: Purchase) -> Reason | None:
    """Only the items the program lists count; `other` never does."""
    return None if purchase.item in ctx.program.items else Reason.ITEM_NOT_ELIGIBLE


@purchase_rule("purchase_period")
def purchase_period(ctx: Context, purchase: Purchase) -> Reason | None:
    """Bought or installed inside the purchase period and on or before the received date."""
    day = purchase.purchased_on
    if day > ctx.application.received_on or day not in ctx.parameters.purchase_period:
        return Reason.PURCHASE_OUTSIDE_PERIOD
    return None


@purchase_rule("purchase_within_days")
def purchase_within_days(ctx: Context, purchase: Purchase) -> Reason | None:
    """The application is received within N days of the payment (Minato: 90 days), and
    never before it."""
    limit = ctx.parameters.purchase_within_days
    if (
        limit is not None
        and not 0 <= (ctx.application.received_on - purchase.purchased_on).days <= limit
    ):
        return Reason.PURCHASE_OUTSIDE_PERIOD
    return None


# Application rules ----------------------------------------------------------------------


@application_rule("resident")
def resident(ctx: Context) -> Reason | None:
    """The applicant is registered as a resident (住民登録)."""
    return None if ctx.application.resident_registered else Reason.NOT_RESIDENT


@application_rule("ward")
def ward(ctx: Context) -> Reason | None:
    """The home is inside the program's ward: postal code and address agree."""
    applicant = ctx.application.applicant
    if ctx.ward is None or ctx.ward.contains(applicant.postal_code, applicant.address):
        return None
    return Reason.OUTSIDE_WARD


@application_rule("application_period")
def application_period(ctx: Context) -> Reason | None:
    """The application is received inside the application period (inclusive)."""
    if ctx.application.received_on in ctx.parameters.application_period:
        return None
    return Reason.OUTSIDE_APPLICATION_PERIOD


@application_rule("minimum_cost")
def minimum_cost(ctx: Context) -> Reason | None:
    """The eligible cost reaches the program's minimum (when any purchase counts at all)."""
    if ctx.counted and ctx.eligible_cost < ctx.parameters.minimum_cost:
        return Reason.BELOW_MINIMUM_COST
    return None


@application_rule("pledges")
def pledges(ctx: Context) -> Reason | None:
    """Every pledge the program requires (誓約・同意) is given."""
    given = ctx.application.pledges
    for name in ctx.parameters.required_pledges:
        if getattr(given, name) is not True:
            return Reason.PLEDGE_MISSING
    return None


@application_rule("tax_arrears")
def tax_arrears(ctx: Context) -> Reason | None:
    """No resident-tax arrears: an explicit `no_tax_arrears: false` refuses."""
    return Reason.TAX_ARREARS if ctx.application.pledges.no_tax_arrears is False else None


@application_rule("applicant_age")
def applicant_age(ctx: Context) -> Reason | None:
    """The applicant has reached the minimum age on the received date (Annaka: 65)."""
    minimum = ctx.parameters.applicant_min_age
    if minimum is None:
        return None
    if age_on(ctx.application.applicant.birth_date, ctx.application.received_on) < minimum:
        return Reason.APPLICANT_AGE
    return None


def age_on(birth: date, day: date) -> int:
    """Age in whole years on `day`, as Japanese law counts it.

    年齢計算ニ関スル法律: a year of age is completed at the end of the day before the
    birthday, so a person born on 1960-04-01 is 65 on 2025-03-31 (and one born on
    29 February turns a year older on 28 February).
    """
    next_day = day + timedelta(days=1)
    return next_day.year - birth.year - ((next_day.month, next_day.day) < (birth.month, birth.day))
