"""The synthetic application generator: records, originals and planted duplicates.

`generate(count, seed)` (see the package docstring) draws, for each record, what to
plant (`plan._PLAN`), then builds a clean original, a defective one or a duplicate
of a recent clean original (`DUPLICATE_KINDS`) as an interchange format v1 record.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Iterator
from datetime import date
from typing import Any

from subsidy_rules.synth.defects import _Defects
from subsidy_rules.synth.people import _People
from subsidy_rules.synth.plan import (
    _PLAN_CUM,
    _PLAN_KINDS,
    DUPLICATE_KINDS,
    SyntheticApplication,
)
from subsidy_rules.synth.purchases import _Purchases
from subsidy_rules.synth.spellings import _Spellings
from subsidy_rules.synth.state import _Account, _Dwelling, _Household, _Past, _Person

_BUFFER_SIZE = 20_000  # recent clean originals kept as duplicate sources


class _Generator(_People, _Purchases, _Spellings, _Defects):
    """Builds records one by one; the parts it inherits draw the pieces."""

    def _record(
        self,
        index: int,
        person: _Person,
        household: _Household,
        dwelling: _Dwelling,
        role: str,
        account: _Account,
        channel: str,
        received: int,
        purchases: list[dict[str, Any]],
        *,
        logo: str | None = None,
        avoid: _Past | None = None,
        variant: bool = False,
    ) -> tuple[dict[str, Any], str, str]:
        rng = self.rng
        app_id = f"APP-{index + 1:08d}"
        name = self._render_name(person, variant)
        address = self._render_address(dwelling)
        if avoid is not None:
            for _ in range(12):
                if name != avoid.name and address != avoid.address:
                    break
                if name == avoid.name:
                    name = self._render_name(person, variant)
                if address == avoid.address:
                    address = self._render_address(dwelling)
        applicant: dict[str, Any] = {
            "name": name,
            "name_kana": self._render_kana(person),
            "birth_date": date.fromordinal(person.birth).isoformat(),
        }
        phone = person.mobile
        if household.home_phone is not None and (phone is None or rng.random() < 0.35):
            phone = household.home_phone
        if phone is not None and rng.random() < 0.97:
            applicant["phone"] = self._render_phone(phone)
        if channel == "online" or rng.random() < 0.15:
            applicant["email"] = self._email(person)
        applicant["postal_code"] = self._render_postal(self._postal_code(dwelling))
        applicant["address"] = address
        record: dict[str, Any] = {
            "version": 1,
            "application_id": app_id,
            "channel": channel,
            "received_on": date.fromordinal(received).isoformat(),
        }
        if channel == "online":
            record["logo_answer_id"] = logo if logo is not None else self._logo_id(index)
        record["applicant"] = applicant
        if rng.random() < 0.95:
            record["household"] = {
                "head_name": self._head_name(household, person, name),
                "relationship": role,
            }
        record["resident_registered"] = True
        record["purchases"] = purchases
        record["bank_account"] = {
            "bank_code": account.bank,
            "branch_code": account.branch,
            "type": account.type,
            "number": account.number,
            "holder_kana": self._render_holder(account.holder),
        }
        record["pledges"] = {
            "not_antisocial": True,
            "no_tax_arrears": True,
            "consent_to_checks": True,
        }
        return record, name, address

    def _remember(self, past: _Past) -> None:
        if len(self.buffer) < _BUFFER_SIZE:
            self.buffer.append(past)
        else:
            self.buffer[self.buffer_next] = past
            self.buffer_next = (self.buffer_next + 1) % _BUFFER_SIZE

    def _later(self, received: int, most: int) -> int:
        return min(self.end, received + self.rng.randint(0, most))

    def _copy_purchases(self, purchases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dict(line) for line in purchases]

    def next(self, index: int) -> SyntheticApplication:
        rng = self.rng
        kind = _PLAN_KINDS[bisect(_PLAN_CUM, rng.random())]
        if kind in DUPLICATE_KINDS and self.buffer:
            return self._duplicate(index, kind)
        if kind in DUPLICATE_KINDS:
            kind = "clean"
        return self._original(index, kind)

    def _original(self, index: int, kind: str) -> SyntheticApplication:
        rng = self.rng
        household = self._new_household(1 if kind == "outside_ward" else 0)
        person, role = self._applicant(household)
        if person is household.head and self.buffer and rng.random() < 0.01:
            # A namesake: same surname and given name, another person and birth date.
            other = self._choice(self.buffer).person
            person.surname, person.sex, person.given = other.surname, other.sex, other.given
        channel = "online" if rng.random() < 0.7 else "paper"
        received = self._received()
        if kind == "late_application":
            received = self.end + self._randint(1, 45)
        purchases = self._purchases(received, kind)
        account = self._account(person)
        variant = rng.random() < 0.02
        record, name, address = self._record(
            index, person, household, household.dwelling, role, account, channel, received,
            purchases, variant=variant,
        )  # fmt: skip
        if kind != "clean":
            self._plant(record, kind)
        else:
            self._remember(
                _Past(record["application_id"], person, household, role, account,
                      record.get("logo_answer_id"), channel, received, name, address, purchases)
            )  # fmt: skip
        return SyntheticApplication(
            record=record,
            household_id=household.hid,
            person_id=person.pid,
            defects=() if kind == "clean" else (kind,),
            planted_duplicate_of=None,
        )

    def _duplicate(self, index: int, kind: str) -> SyntheticApplication:
        rng = self.rng
        src = self.buffer[self._below(len(self.buffer))]
        if kind == "logo_resubmit" and src.logo is None:
            for _ in range(5):
                src = self.buffer[self._below(len(self.buffer))]
                if src.logo is not None:
                    break
            else:
                kind = "same_person"
        household = src.household
        dwelling = household.dwelling
        person, role, account = src.person, src.role, src.account
        logo: str | None = None
        purchases: list[dict[str, Any]]
        if kind == "same_person":
            if rng.random() < 0.2:  # moved inside the ward before applying again
                dwelling = self._dwelling(0)
            channel = (
                src.channel
                if rng.random() < 0.4
                else ("paper" if src.channel == "online" else "online")
            )
            received = self._later(src.received, 60)
            if rng.random() >= 0.75:
                account = self._account(person)
            if rng.random() < 0.5:
                purchases = self._copy_purchases(src.purchases)
            else:
                purchases = self._purchases(received, "clean")
        elif kind == "household_member":
            others = [(m, r) for m, r in household.members if m is not person]
            if others and rng.random() < 0.5:
                person, role = self._choice(others)
            elif person is household.head:
                role = (
                    self._spouse_role(household)
                    if rng.random() < 0.7
                    else self._choice(("子", "父", "母"))
                )
                person = self._relative(household, role)
            else:
                person, role = household.head, "本人"
            channel = "online" if rng.random() < 0.6 else "paper"
            received = self._later(src.received, 90)
            if rng.random() >= 0.25:
                account = self._account(person)
            purchases = self._purchases(received, "clean")
        elif kind == "shared_account":
            household = self._new_household(0)
            dwelling = household.dwelling
            person, role = self._applicant(household)
            channel = "online" if rng.random() < 0.7 else "paper"
            received = self._later(src.received, 120)
            purchases = self._purchases(received, "clean")
        else:  # logo_resubmit: the same LoGo answer imported again
            channel = "online"
            logo = src.logo
            received = self._later(src.received, 14)
            purchases = self._copy_purchases(src.purchases)
        variant = kind == "same_person" and rng.random() < 0.15
        record, _, _ = self._record(
            index, person, household, dwelling, role, account, channel, received, purchases,
            logo=logo, avoid=src, variant=variant,
        )  # fmt: skip
        if kind in ("same_person", "shared_account") and rng.random() < 0.2:
            record["bank_account"]["number"] = account.number.lstrip("0") or "0"
        return SyntheticApplication(
            record=record,
            household_id=household.hid,
            person_id=person.pid,
            defects=(),
            planted_duplicate_of=src.app_id,
            duplicate_kind=kind,
        )


def generate(
    count: int,
    seed: int,
    *,
    program_start: date = date(2025, 5, 1),
    program_end: date = date(2026, 1, 31),
) -> Iterator[SyntheticApplication]:
    """Stream `count` synthetic applications; the same seed gives the same records.

    Record *i* depends only on `seed` and the window, never on `count`: asking for 10
    and then 100 records gives the same first 10.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    generator = _Generator(seed, program_start, program_end)
    for index in range(count):
        yield generator.next(index)
