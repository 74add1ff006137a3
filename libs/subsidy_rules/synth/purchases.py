"""The generator's money: bank accounts, application dates and purchase lines.

Purchases follow the Shinjuku FY2025 program's rules of thumb (purchase window from
`PURCHASES_FROM`, at least 2,000 yen net, installation after the purchase), except
where a planted defect (`purchase_before_period`, `below_minimum`,
`ineligible_item_only`, `late_application`) says otherwise.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from subsidy_rules.items import Item
from subsidy_rules.synth.base import _GeneratorBase
from subsidy_rules.synth.catalogue import (
    _EXTRA_TABLE,
    _FIRST_ITEMS_TABLE,
    _INELIGIBLE_ITEMS_TABLE,
    _INSTALL_DESCRIPTIONS,
    _INSTALL_FEES,
    _MULTIPLES,
    _PRICES,
    _descriptions,
)
from subsidy_rules.synth.state import _Account, _Person
from subsidy_rules.synth.weights import _pick


class _Purchases(_GeneratorBase):
    """Draws accounts (unique per branch), received dates and purchases."""

    def _account(self, holder: _Person) -> _Account:
        rng = self.rng
        bank = _pick(rng, self.p.banks, self.p.bank_cum)
        # Account numbers are unique within a branch, as at a real bank.
        branch = self._choice(bank.branches)
        key = (int(bank.code) * 1000 + int(branch)) * 10_000_000
        number = self._below(10_000_000)
        while key + number in self.used_accounts:
            number = self._below(10_000_000)
        self.used_accounts.add(key + number)
        r = rng.random()
        type_ = "ordinary" if r < 0.95 else ("current" if r < 0.98 else "savings")
        return _Account(bank.code, branch, type_, f"{number:07d}", holder)

    # ---- dates and purchases

    def _received(self) -> int:
        rng = self.rng
        days = self.end - self.start
        if days <= 0:
            return self.start
        if rng.random() < 0.35:
            return self.start + int(rng.triangular(0, days * 0.25, 0))
        return self.start + self._below(days + 1)

    def _amount(self, item: Item, install: bool) -> int:
        rng = self.rng
        price = self._choice(_INSTALL_FEES[item] if install else _PRICES[item])
        r = rng.random()
        if r < 0.45:
            price = int(price * 1.1) // 10 * 10
        elif r < 0.6:
            price = int(price * rng.uniform(0.85, 1.0)) // 10 * 10
        return max(10, min(price, 80_000))

    def _line(self, item: Item, kind: str, day: int) -> dict[str, Any]:
        rng = self.rng
        amount = self._amount(item, kind == "installation")
        line: dict[str, Any] = {"item": item.value, "kind": kind, "amount": amount}
        if kind == "purchase" and item in _MULTIPLES and rng.random() < 0.12 and amount <= 40_000:
            line["amount"] = amount = amount * 2
            line["description"] = f"{self._choice(_descriptions(item))} 2台"
        line["purchased_on"] = date.fromordinal(day).isoformat()
        if "description" not in line and rng.random() < 0.6:
            texts = _INSTALL_DESCRIPTIONS if kind == "installation" else _descriptions(item)
            line["description"] = self._choice(texts)
        if amount >= 3000 and rng.random() < 0.04:
            line["points_used"] = min(amount // 2, self._choice((100, 200, 300, 500, 1000, 1500)))
        return line

    def _purchases(self, received: int, defect: str) -> list[dict[str, Any]]:
        rng = self.rng
        low = self.purchases_from
        if defect == "purchase_before_period":
            low, high = low - 90, low - 1
        else:
            high = max(received, low)
        day = self._randint(low, high)
        if defect == "below_minimum":
            item = self._choice((Item.SENSOR_LIGHT, Item.AUXILIARY_LOCK))
            amount = self._choice((1480, 1580, 1780, 1980))
            return [
                {"item": item.value, "kind": "purchase", "amount": amount,
                 "purchased_on": date.fromordinal(day).isoformat()}
            ]  # fmt: skip
        if defect == "ineligible_item_only":
            first = _pick(rng, *_INELIGIBLE_ITEMS_TABLE)
        else:
            first = _pick(rng, *_FIRST_ITEMS_TABLE)
        lines = [self._line(first, "purchase", day)]
        count = 1 if (r := rng.random()) < 0.6 else (2 if r < 0.9 else 3)
        while len(lines) < count:
            last = Item(lines[-1]["item"])
            if last in _INSTALL_FEES and lines[-1]["kind"] == "purchase" and rng.random() < 0.5:
                lines.append(self._line(last, "installation", self._randint(day, high)))
                continue
            pool = _INELIGIBLE_ITEMS_TABLE if defect == "ineligible_item_only" else _EXTRA_TABLE
            lines.append(self._line(_pick(rng, *pool), "purchase", self._randint(low, high)))
        net = sum(line["amount"] - line.get("points_used", 0) for line in lines)
        if net < 2000:
            lines[0]["amount"] += 2000 - net + 10 * self._below(100)
        return lines
