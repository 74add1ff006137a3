"""Program definitions: subsidy programs as data, loaded and validated strictly.

A program is one YAML file under `programs/` (or any path given to `load_program`):
its identity, eligible items (with per-item caps and sources), the rules it applies
by name, dated parameters (subsidy_rules.parameters) and its attachments checklist.
Unknown keys, wrong types, a missing source, an unknown item or rule, or a date range
that does not parse are `ProgramError`s naming the file and the key. The file format
is documented in docs/PROGRAMS.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from subsidy_rules.items import Item
from subsidy_rules.parameters import (
    PARAMETERS,
    Dated,
    DefinitionChecker,
    HouseholdLimit,
    Parameters,
    Period,
    ProgramError,
    Residence,
    jsonable,
    parse_parameter,
    value_on,
)

__all__ = [
    "Attachment",
    "HouseholdLimit",
    "ItemRule",
    "Parameters",
    "Period",
    "Program",
    "ProgramError",
    "Residence",
    "get_program",
    "load_program",
    "load_programs",
    "parse_program",
]

PROGRAMS_DIR = Path(__file__).parent / "programs"


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
            values = {name: value_on(history, day) for name, history in self.parameters.items()}
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
                        "value": jsonable(d.value),
                        "source": d.source,
                    }
                    for d in history
                ]
                for name, history in self.parameters.items()
            },
        }


def _items(c: DefinitionChecker, v: Any) -> dict[Item, ItemRule]:
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


def _attachments(c: DefinitionChecker, v: Any) -> tuple[Attachment, ...]:
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

    c = DefinitionChecker(file)
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
            parameters[name] = parse_parameter(c, name, params[name])
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
