"""Weighted random draws for the synthetic generator: cumulative tables and picks.

A table is the values and their cumulative weights normalised to end at exactly 1.0,
so `bisect` on `random()` (< 1.0) always lands inside it.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def _cum(weights: Iterable[float]) -> tuple[float, ...]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return tuple(value / total for value in out)


def _pick(rng: random.Random, items: Sequence[T], cum: Sequence[float]) -> T:
    # cum ends with exactly 1.0 and random() < 1.0, so the index is always in range.
    return items[bisect(cum, rng.random())]


def _table(pairs: Sequence[tuple[T, float]]) -> tuple[tuple[T, ...], tuple[float, ...]]:
    return tuple(value for value, _ in pairs), _cum(weight for _, weight in pairs)
