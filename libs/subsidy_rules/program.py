"""Program definitions: subsidy programs as data, loaded and validated strictly.

A program is one YAML file under `programs/` (or any path given to `load_program`).
Each parameter carries its source and may change over time: either
`{value: X, source: S}` or `{history: [{since: DATE, value: X, source: S}, ...]}`;
the value in force on an application's received date is the one with the latest
`since` on or before it. Money is integer yen, the rate an exact fraction ("1/2").
Unknown keys, wrong types, a missing source, an unknown rule or a date range that
does not parse are `ProgramError`s naming the file and the key. The file format is
documented in docs/PROGRAMS.md.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from subsidy_rules.application import PLEDGE_KEYS
from subsidy_rules.items import Item

PROGRAMS_DIR = Path(__file__).parent / "programs"
_FRACTION = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*\Z")


class ProgramError(ValueError):
    """A program definition is invalid; names the file and the key."""

    def __init__(self, file: str, key: str, message: str) -> None:
        super().__init__(f"{file}: {key}: {message}")
        self.file = file
        self.key = key
        self.message = message


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
class ItemRule:
    """An eligible item, its optional per-item cap (yen) and where the rule comes from."""

    item: Item
    source: str
    cap: int | None = None
    unconfirmed: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A document the application must (or may) come with: receipt, photo, ID copy..."""

    kind: str
    label: str
    required: bool
    source: str


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


@dataclass(frozen=True, slots=True)
class Dated:
    """One value of a parameter, in force from `since` (None: from the beginning)."""

    since: date | None
    value: Any
    source: str


@dataclass(frozen=True)
class Program:
    """A validated program definition."""

    id: str
    name: str
    municipality: str
    fiscal_year: str | None
    description: str
    items: Mapping[Item, ItemRule]
    rules: tuple[str, ...]
    parameters: Mapping[str, tuple[Dated, ...]]
    path: str
    attachments: tuple[Attachment, ...] = ()
    application_number_prefix: str = ""
    _cache: dict[date, Parameters] = field(default_factory=dict, repr=False, compare=False)
    compiled: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def parameters_on(self, day: date) -> Parameters:
        """The parameters in force on `day` (cached per date)."""
        cached = self._cache.get(day)
        if cached is None:
            values = {name: _value_on(history, day) for name, history in self.parameters.items()}
            cached = Parameters(**values)
            self._cache[day] = cached
        return cached

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary of the program and every parameter with its source."""
        return {
            "id": self.id,
            "name": self.name,
            "municipality": self.municipality,
            "fiscal_year": self.fiscal_year,
            "rules": list(self.rules),
            "items": {
                str(rule.item): {
                    "cap": rule.cap,
                    "unconfirmed": rule.unconfirmed,
                    "source": rule.source,
                }
                for rule in self.items.values()
            },
            "parameters": {
                name: [
                    {
                        "since": d.since.isoformat() if d.since else None,
                        "value": _jsonable(d.value),
                        "source": d.source,
                    }
                    for d in history
                ]
                for name, history in self.parameters.items()
            },
        }


def _value_on(history: tuple[Dated, ...], day: date) -> Any:
    """The value in force on `day`; before the first `since`, the first value (an
    application that early is refused by the program's periods anyway)."""
    current = history[0].value
    for dated in history:
        if dated.since is None or dated.since <= day:
            current = dated.value
    return current


def _jsonable(value: Any) -> Any:
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


class _Checker:
    """Validation helpers that know which file they are reading."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, message: str) -> ProgramError:
        return ProgramError(self.file, key, message)

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
        if isinstance(obj, str):
            try:
                return date.fromisoformat(obj)
            except ValueError:
                pass
        raise self.fail(key, f"not a date (YYYY-MM-DD): {obj!r}")

    def yen(self, obj: Any, key: str, *, positive: bool = False) -> int:
        if isinstance(obj, bool) or not isinstance(obj, int):
            raise self.fail(key, f"must be integer yen, got {obj!r}")
        if obj < 0 or (positive and obj == 0):
            raise self.fail(key, f"must be {'positive' if positive else 'zero or more'}, got {obj}")
        return obj

    def flag(self, obj: Any, key: str) -> bool:
        if not isinstance(obj, bool):
            raise self.fail(key, f"must be true or false, got {obj!r}")
        return obj


def _rate(c: _Checker, v: Any, key: str) -> Fraction:
    if isinstance(v, int) and not isinstance(v, bool):
        rate = Fraction(v)
    elif isinstance(v, str) and (m := _FRACTION.match(v)):
        if int(m.group(2)) == 0:
            raise c.fail(key, "denominator is zero")
        rate = Fraction(int(m.group(1)), int(m.group(2)))
    else:
        raise c.fail(key, f'must be an exact fraction such as "1/2", got {v!r}')
    if not 0 < rate <= 1:
        raise c.fail(key, f"must be above 0 and at most 1, got {v!r}")
    return rate


def _period(c: _Checker, v: Any, key: str) -> Period:
    c.mapping(v, key, ("start", "end"), ())
    start = c.day(v["start"], f"{key}.start") if v.get("start") is not None else None
    end = c.day(v["end"], f"{key}.end") if v.get("end") is not None else None
    if start and end and end < start:
        raise c.fail(key, f"ends ({end}) before it starts ({start})")
    return Period(start, end)


def _optional_count(c: _Checker, v: Any, key: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise c.fail(key, f"must be a positive whole number, got {v!r}")
    return v


def _household(c: _Checker, v: Any, key: str) -> HouseholdLimit:
    c.mapping(v, key, ("count", "reapply_after_years"), ("count",))
    years = v.get("reapply_after_years")
    return HouseholdLimit(
        count=c.yen(v["count"], f"{key}.count", positive=True),
        reapply_after_years=None
        if years is None
        else c.yen(years, f"{key}.reapply_after_years", positive=True),
    )


def _pledges(c: _Checker, v: Any, key: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise c.fail(key, "must be a list of pledge names")
    for name in v:
        if name not in PLEDGE_KEYS:
            raise c.fail(key, f"unknown pledge {name!r} (known: {', '.join(PLEDGE_KEYS)})")
    return tuple(v)


def _residence(c: _Checker, v: Any, key: str) -> Residence:
    c.mapping(v, key, ("prefecture", "city"), ("prefecture", "city"))
    return Residence(c.text(v["prefecture"], f"{key}.prefecture"), c.text(v["city"], f"{key}.city"))


ParameterParser = Callable[[_Checker, Any, str], Any]

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
    "residence": (_residence, ...),
}


def _parameter(c: _Checker, name: str, spec: Any) -> tuple[Dated, ...]:
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


def _items(c: _Checker, v: Any) -> dict[Item, ItemRule]:
    if not isinstance(v, dict) or not v:
        raise c.fail("items", "must be a non-empty mapping of item -> {source, cap, unconfirmed}")
    vocabulary = {i.value: i for i in Item}
    out: dict[Item, ItemRule] = {}
    for name, spec in v.items():
        key = f"items.{name}"
        item = vocabulary.get(name)
        if item is None:
            raise c.fail(key, "not in the item vocabulary")
        if item is Item.OTHER:
            raise c.fail(key, "'other' is never eligible")
        c.mapping(spec, key, ("source", "cap", "unconfirmed", "note"), ("source",))
        out[item] = ItemRule(
            item=item,
            source=c.text(spec["source"], f"{key}.source"),
            cap=None
            if spec.get("cap") is None
            else c.yen(spec["cap"], f"{key}.cap", positive=True),
            unconfirmed=c.flag(spec.get("unconfirmed", False), f"{key}.unconfirmed"),
            note=spec.get("note"),
        )
    return out


_TOP = (
    "id",
    "name",
    "municipality",
    "fiscal_year",
    "description",
    "sources",
    "items",
    "rules",
    "parameters",
    "attachments",
    "application_number_prefix",
)


def _attachments(c: _Checker, v: Any) -> tuple[Attachment, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        raise c.fail("attachments", "must be a list of {kind, label, required, source}")
    out = []
    for i, spec in enumerate(v):
        key = f"attachments[{i}]"
        c.mapping(spec, key, ("kind", "label", "required", "source"), ("kind", "label", "source"))
        out.append(
            Attachment(
                kind=c.text(spec["kind"], f"{key}.kind"),
                label=c.text(spec["label"], f"{key}.label"),
                required=c.flag(spec.get("required", True), f"{key}.required"),
                source=c.text(spec["source"], f"{key}.source"),
            )
        )
    return tuple(out)


def parse_program(data: Any, file: str) -> Program:
    """Validate a decoded definition and build the `Program` (see the module docstring)."""
    from subsidy_rules.rules import known_rules

    c = _Checker(file)
    c.mapping(data, "", _TOP, ("id", "name", "municipality", "items", "rules", "parameters"))
    pid = c.text(data["id"], "id")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", pid):
        raise c.fail("id", "must be lower-case letters, digits and hyphens")
    rules = data["rules"]
    if not isinstance(rules, list) or not rules:
        raise c.fail("rules", "must be a non-empty list of rule names")
    for i, name in enumerate(rules):
        if name not in known_rules():
            raise c.fail(
                f"rules[{i}]", f"unknown rule {name!r} (known: {', '.join(sorted(known_rules()))})"
            )
    params = c.mapping(data["parameters"], "parameters", tuple(PARAMETERS), ())
    parameters: dict[str, tuple[Dated, ...]] = {}
    for name, (_parse, default) in PARAMETERS.items():
        if name in params:
            parameters[name] = _parameter(c, name, params[name])
        elif default is ...:
            raise c.fail(f"parameters.{name}", "missing")
        else:
            parameters[name] = (Dated(None, default, "default"),)
    fiscal_year = data.get("fiscal_year")
    return Program(
        id=pid,
        name=c.text(data["name"], "name"),
        municipality=c.text(data["municipality"], "municipality"),
        fiscal_year=None if fiscal_year is None else str(fiscal_year),
        description=str(data.get("description", "")),
        items=_items(c, data["items"]),
        rules=tuple(rules),
        parameters=parameters,
        path=file,
        attachments=_attachments(c, data.get("attachments")),
        application_number_prefix=c.text(
            data.get("application_number_prefix", pid.upper()), "application_number_prefix"
        ),
    )


def load_program(path: str | Path) -> Program:
    """Load and validate one definition file."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise ProgramError(file, "", f"cannot read: {error}") from None
    return parse_program(data, file)


@functools.cache
def load_programs(directory: str | None = None) -> dict[str, Program]:
    """All definitions in a directory (default: the shipped ones), by id; ids must be unique."""
    folder = Path(directory) if directory else PROGRAMS_DIR
    programs: dict[str, Program] = {}
    for path in sorted(folder.glob("*.yaml")):
        program = load_program(path)
        if program.id in programs:
            raise ProgramError(str(path), "id", f"duplicate program id {program.id!r}")
        if path.stem != program.id:
            raise ProgramError(str(path), "id", f"must match the file name ({path.stem!r})")
        programs[program.id] = program
    return programs


def get_program(program_id: str) -> Program:
    """A shipped program by id, or KeyError listing the known ids."""
    programs = load_programs()
    if program_id not in programs:
        raise KeyError(f"unknown program {program_id!r} (known: {', '.join(sorted(programs))})")
    return programs[program_id]
