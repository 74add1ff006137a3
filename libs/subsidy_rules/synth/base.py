"""The generator's state and fast random draws, shared by all its parts.

One `random.Random(seed)` drives everything, in a fixed order, so a seed gives the
same records (see the package docstring). The draws use `random()` directly:
`random.Random`'s own helpers are several times slower.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date

from subsidy_rules.synth.plan import PURCHASES_FROM
from subsidy_rules.synth.pools import _pools
from subsidy_rules.synth.state import _Building, _Dwelling, _Past
from subsidy_rules.synth.weights import T


class _GeneratorBase:
    """State and draws; the parts (people, dwellings, ...) add the rest."""

    def __init__(self, seed: int, start: date, end: date) -> None:
        self.rng = random.Random(seed)
        self.rand = self.rng.random
        self.p = _pools()
        self.start = start.toordinal()
        self.end = end.toordinal()
        self.purchases_from = PURCHASES_FROM.toordinal()
        self.next_person = 1
        self.next_household = 1
        self.used_accounts: set[int] = set()
        self.logo_offset = self.rng.randrange(9_000_000_000)
        self.used_places: set[int] = set()
        self.open_buildings: list[_Building] = []
        self.recent_houses: list[_Dwelling] = []
        self.buffer: list[_Past] = []
        self.buffer_next = 0

    # ---- fast draws (random.Random's own helpers are several times slower)

    def _choice(self, seq: Sequence[T]) -> T:
        return seq[int(self.rand() * len(seq))]

    def _below(self, n: int) -> int:
        return int(self.rand() * n)

    def _randint(self, low: int, high: int) -> int:
        return low + int(self.rand() * (high - low + 1))

    # ---- ids

    def _logo_id(self, index: int) -> str:
        return str(1_000_000_000 + (index * 4_294_967_291 + self.logo_offset) % 9_000_000_000)
