"""The one rule for what a granted amount may be (交付決定額), as of the decision date.

A grant of `amount` yen under a program, decided on `decided_on`, is allowed when

    1 <= amount
    amount <= the rules' amount (算定額), when it is known
    amount <= the program's cap in force on `decided_on` (no cap: `MAX_GRANT`)
    amount is a multiple of the rounding unit in force on `decided_on`

(Shinjuku FY2025: at most 20,000 yen, in whole thousands of yen: 千円未満切り捨て, so
16,500 yen is refused even below the cap). The first condition that fails gives the
reason (`GrantRefusal`) and a Japanese sentence for staff; the sentence names the
program's values (cap, unit, rules' amount), never the amount that was asked for.

Review applies it wherever a decision is made (a direct decision, a reduced grant, each
row of the ward's decision file) and payments applies the same function to every
decision event it receives, so that a grant review accepts can never be refused on its
way to payments. Integer yen only; the program's parameters come from the rules library.
Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from subsidy_rules.program import Program

__all__ = ["MAX_GRANT", "GrantCheck", "GrantRefusal", "check_grant", "grant_limits"]

MAX_GRANT = 100_000_000
"""The largest grant of any program: the cap of a program that names none."""


class GrantRefusal(StrEnum):
    """Why a granted amount is not allowed."""

    NOT_POSITIVE = "NOT_POSITIVE"
    ABOVE_RULES_AMOUNT = "ABOVE_RULES_AMOUNT"
    ABOVE_CAP = "ABOVE_CAP"
    NOT_A_MULTIPLE_OF_UNIT = "NOT_A_MULTIPLE_OF_UNIT"


@dataclass(frozen=True, slots=True)
class GrantCheck:
    """The answer: allowed, or the reason and its Japanese message; the limits applied."""

    reason: GrantRefusal | None
    message: str
    cap: int | None
    unit: int

    @property
    def allowed(self) -> bool:
        return self.reason is None


def grant_limits(program: Program, decided_on: date) -> tuple[int | None, int]:
    """(cap or None, rounding unit) of the program's parameters in force on `decided_on`."""
    parameters = program.parameters_on(decided_on)
    return parameters.cap, parameters.rounding_unit


def check_grant(
    program: Program, amount: int, decided_on: date, rules_amount: int | None = None
) -> GrantCheck:
    """Whether `amount` yen may be granted under `program` on `decided_on` (module doc)."""
    cap, unit = grant_limits(program, decided_on)

    def refused(reason: GrantRefusal, message: str) -> GrantCheck:
        return GrantCheck(reason, message, cap, unit)

    if amount < 1:
        return refused(GrantRefusal.NOT_POSITIVE, "交付決定額は1円以上で指定してください")
    if rules_amount is not None and amount > rules_amount:
        return refused(
            GrantRefusal.ABOVE_RULES_AMOUNT,
            f"交付決定額が算定額（{rules_amount:,}円）を超えています",
        )
    ceiling = MAX_GRANT if cap is None else cap
    if amount > ceiling:
        return refused(
            GrantRefusal.ABOVE_CAP, f"交付決定額が制度の上限額（{ceiling:,}円）を超えています"
        )
    if amount % unit:
        return refused(
            GrantRefusal.NOT_A_MULTIPLE_OF_UNIT,
            f"交付決定額は{unit:,}円単位で指定してください（{unit:,}円未満の端数は切り捨て）",
        )
    return GrantCheck(None, "", cap, unit)
