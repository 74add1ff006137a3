"""The generator's people: applicants, their households and contact details.

Households have a head (62 % men, aged 21-93) and relatives added as they apply
(spouse, child, parent, with plausible ages and shared surnames); surnames are drawn
by their share in Japan and given names by sex and birth decade (`pools`); phones and
e-mail addresses use real prefixes and the reserved `example.*` domains (RFC 2606).
"""

from __future__ import annotations

from bisect import bisect
from datetime import date

from subsidy_rules.synth.dwellings import _Dwellings
from subsidy_rules.synth.pools import DECADE_STARTS
from subsidy_rules.synth.state import _Household, _Person
from subsidy_rules.synth.weights import _pick

_AGE_REFERENCE = date(2025, 4, 1).toordinal()
_EMAIL_DOMAINS = ("example.com", "example.jp", "example.net", "example.org", "mail.example.jp")


class _People(_Dwellings):
    """Draws people and households; a household's dwelling comes from `_Dwellings`."""

    def _given(self, sex: int, birth: int) -> int:
        """A given name for `sex`, weighted for the decade of `birth` (a date ordinal)."""
        cum = self.p.given_cum[sex][bisect(DECADE_STARTS, birth)]
        return _pick(self.rng, range(len(cum)), cum)

    def _new_person(self, surname: int, sex: int, age: float) -> _Person:
        rng = self.rng
        birth = _AGE_REFERENCE - int(age * 365.2425) - self._below(365)
        person = _Person(self.next_person, surname, sex, self._given(sex, birth), birth)
        self.next_person += 1
        if rng.random() < 0.85:
            person.mobile = self._phone(mobile=True)
        return person

    def _phone(self, *, mobile: bool) -> tuple[str, str, str]:
        rng = self.rng
        if mobile:
            prefix = "090" if rng.random() < 0.5 else ("080" if rng.random() < 0.8 else "070")
            return prefix, f"{self._randint(1000, 9999)}", f"{self._below(10000):04d}"
        return "03", f"{self._choice('3563')}{self._below(1000):03d}", f"{self._below(10000):04d}"

    def _email(self, person: _Person) -> str:
        if person.email is None:
            rng = self.rng
            given = self.p.given[person.sex][person.given].roma
            surname = self.p.surnames[person.surname].roma
            sep = self._choice(("", ".", "_", "-"))
            local = f"{given}{sep}{surname}" if rng.random() < 0.6 else f"{surname}{sep}{given}"
            if rng.random() < 0.6:
                local += str(self._randint(1, 99))
            if rng.random() < 0.2:
                local = given[0] + sep + surname
            person.email = f"{local}@{self._choice(_EMAIL_DOMAINS)}"
        return person.email

    def _relative(self, household: _Household, role: str) -> _Person:
        head = household.head
        head_age = (_AGE_REFERENCE - head.birth) / 365.2425
        rng = self.rng
        surname = head.surname
        if role in ("妻", "夫"):
            sex = 1 if role == "妻" else 0
            age = max(19.0, head_age + rng.gauss(0, 3))
        elif role == "子":
            sex = self._below(2)
            age = max(18.0, head_age - self._randint(24, 38))
        else:  # 父 / 母
            sex = 0 if role == "父" else 1
            age = min(99.0, head_age + self._randint(24, 36))
            if rng.random() < 0.15:
                surname = _pick(rng, range(len(self.p.surnames)), self.p.surname_cum)
        person = self._new_person(surname, sex, age)
        taken = {member.given for member, _ in household.members if member.sex == sex}
        while person.given in taken:
            person.given = self._given(sex, person.birth)
        household.members.append((person, role))
        return person

    def _spouse_role(self, household: _Household) -> str:
        return "妻" if household.head.sex == 0 else "夫"

    def _new_household(self, ward: int) -> _Household:
        rng = self.rng
        dwelling = self._dwelling(ward)
        surname = _pick(rng, range(len(self.p.surnames)), self.p.surname_cum)
        sex = 0 if rng.random() < 0.62 else 1
        head = self._new_person(surname, sex, rng.triangular(21, 93, 52))
        household = _Household(self.next_household, dwelling, head)
        self.next_household += 1
        if rng.random() < 0.45:
            household.home_phone = self._phone(mobile=False)
        return household

    def _applicant(self, household: _Household) -> tuple[_Person, str]:
        rng = self.rng
        r = rng.random()
        head_age = (_AGE_REFERENCE - household.head.birth) / 365.2425
        if r < 0.78:
            return household.head, "本人"
        if r < 0.93 or (r < 0.97 and head_age < 45) or (r >= 0.97 and head_age > 70):
            role = self._spouse_role(household)
        elif r < 0.97:
            role = "子"
        else:
            role = self._choice(("父", "母"))
        return self._relative(household, role), role
