"""How synthetic applicants write things: names, kana, phones, postal codes, addresses.

The same person or dwelling is spelled many ways, as on real forms: full-width
digits, hyphen look-alikes, 丁目 in kanji numerals, with or without 東京都 and the
ward, the building name or only the room; names with or without a space, in
hiragana, half-width or Zengin kana. These are the variants normalize/ must fold.
"""

from __future__ import annotations

from functools import cache

import jaconv

from subsidy_rules.synth.base import _GeneratorBase
from subsidy_rules.synth.state import _Dwelling, _Household, _Person
from subsidy_rules.synth.weights import _pick, _table

_HYPHEN_LOOKALIKES = ("‐", "ー", "−", "－", "―")
_FW = str.maketrans("0123456789-#", "０１２３４５６７８９－＃")
_PREFIX_WEIGHTS = (45, 38, 10, 7)  # 東京都新宿区 / 新宿区 / (none) / 東京都　新宿区


@cache
def _prefixes(ward: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """How people start an address in `ward`: with or without 東京都 and the ward."""
    none = _PREFIX_WEIGHTS[2] if ward == "新宿区" else 0
    return _table(
        (
            (f"東京都{ward}", _PREFIX_WEIGHTS[0]),
            (ward, _PREFIX_WEIGHTS[1]),
            ("", none),
            (f"東京都　{ward}", _PREFIX_WEIGHTS[3]),
        )
    )


class _Spellings(_GeneratorBase):
    """Renders people, phones and dwellings as applicants write them."""

    def _render_name(self, person: _Person, variant: bool = False) -> str:
        rng = self.rng
        surname = self.p.surnames[person.surname]
        given = self.p.given[person.sex][person.given]
        r = rng.random()
        sep = "　" if r < 0.45 else (" " if r < 0.8 else "")
        return (surname.variant if variant else surname.kanji) + sep + given.kanji

    def _render_kana(self, person: _Person) -> str:
        rng = self.rng
        surname = self.p.surnames[person.surname]
        given = self.p.given[person.sex][person.given]
        r = rng.random()
        sep = "　" if rng.random() < 0.5 else " "
        if r < 0.66:
            return surname.kata + sep + given.kata
        if r < 0.8:
            return surname.hira + sep + given.hira
        if r < 0.9:
            return surname.half + " " + given.half
        if r < 0.96:
            return surname.kata + given.kata
        return surname.zengin + sep + given.zengin

    def _render_holder(self, person: _Person) -> str:
        rng = self.rng
        surname = self.p.surnames[person.surname]
        given = self.p.given[person.sex][person.given]
        r = rng.random()
        if r < 0.55:
            return surname.zengin + ("　" if rng.random() < 0.5 else " ") + given.zengin
        if r < 0.8:
            return jaconv.z2h(
                surname.zengin + " " + given.zengin, kana=True, ascii=False, digit=False
            )
        return surname.kata + ("　" if rng.random() < 0.5 else " ") + given.kata

    def _render_phone(self, phone: tuple[str, str, str]) -> str:
        rng = self.rng
        a, b, c = phone
        r = rng.random()
        if r < 0.6:
            return f"{a}-{b}-{c}"
        if r < 0.8:
            return a + b + c
        if r < 0.92:
            return f"{a}-{b}-{c}".translate(_FW)
        return f"{a}({b}){c}"

    def _render_postal(self, code: str) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.55:
            return f"{code[:3]}-{code[3:]}"
        if r < 0.8:
            return code
        if r < 0.9:
            return f"{code[:3]}-{code[3:]}".translate(_FW)
        return code[:3] + self._choice(("ー", "−", "‐")) + code[3:]

    def _postal_code(self, dwelling: _Dwelling) -> str:
        town = dwelling.town
        chome, banchi, go = dwelling.where
        if town.ward == "新宿区":
            if town.name == "戸山":
                return "1690052" if chome == 3 and banchi in (18, 21) else "1620052"
            if town.name == "西早稲田":
                special = chome == 2 and (banchi == 2 or (banchi == 1 and go <= 23))
                return "1620051" if special else "1690051"
        return town.code

    def _render_address(self, dwelling: _Dwelling) -> str:
        rng = self.rng
        k = self.p.kanji_numbers
        town = dwelling.town
        chome, banchi, go = dwelling.where
        prefix = _pick(rng, *_prefixes(town.ward))
        style = self._below(100)
        full_width = False
        c = f"{chome}丁目" if chome else ""
        kc = f"{k[chome]}丁目" if chome else ""
        if style < 30:
            number = f"{chome}-{banchi}-{go}" if chome else f"{banchi}-{go}"
        elif style < 44:
            number = (f"{chome}-{banchi}-{go}" if chome else f"{banchi}-{go}").translate(_FW)
            full_width = True
        elif style < 58:
            number = f"{c}{banchi}番{go}号"
        elif style < 64:
            number = f"{kc}{banchi}番{go}号"
        elif style < 69:
            number = f"{kc}{k[banchi]}番{k[go]}号"
        elif style < 79:
            number = f"{c}{banchi}-{go}"
        elif style < 85:
            h = self._choice(_HYPHEN_LOOKALIKES)
            number = f"{chome}{h}{banchi}{h}{go}" if chome else f"{banchi}{h}{go}"
        elif style < 90:
            number = f"{c}{banchi}番地{go}"
        else:
            number = f"{c}{banchi}番{go}号".translate(_FW)
            full_width = True
        address = prefix + town.name + number
        if dwelling.building is not None:
            room = str(dwelling.room)
            if full_width:
                room = room.translate(_FW)
            r = rng.random()
            if r < 0.78:
                name = dwelling.building
                if rng.random() < 0.03:
                    name = jaconv.z2h(name, kana=True, ascii=False, digit=False)
                sep = self._choice((" ", "　", "", " "))
                room_form = self._choice(
                    (f"{room}号室", f"{room}号室", f" {room}号室", room, f" {room}", f"#{room}")
                )
                address += sep + name + room_form
            elif r < 0.9:
                address += ("－" if full_width else "-") + room
            elif r < 0.95:
                address += f"#{room}"
            else:
                address += f" {room}号室"
        return address

    def _head_name(self, household: _Household, person: _Person, name: str) -> str:
        if household.head is person and self.rng.random() < 0.8:
            return name
        return self._render_name(household.head)
