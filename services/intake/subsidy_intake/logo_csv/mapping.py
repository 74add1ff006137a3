"""A program's LoGo column mapping: which CSV header fills which v1 field.

Loaded from ``<program_id>.logo.yaml`` in the programs folder (``SUBSIDY_PROGRAMS_DIR``,
by default the shipped programs; ``subsidy_rules.program.mapping_path``; the shipped
``shinjuku-2025.logo.yaml``'s comments document the shape) and strictly validated: an unknown key, header or field raises ``MappingError`` naming the
bad key. Headers are compared after NFKC, as LoGo and spreadsheets vary widths.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from subsidy_intake.logo_csv.vocabulary import (
    _FIELD_KINDS,
    _ITEM_SYNONYMS,
    _PURCHASE_FIELD_KINDS,
    _PURCHASE_TARGET,
    _REQUIRED_FIELDS,
)
from subsidy_rules.items import LABELS, Item
from subsidy_rules.program import mapping_path, programs_dir

MAX_PURCHASE_GROUPS = 10


class MappingError(ValueError):
    """A column mapping file is malformed; ``key`` names the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class UnknownProgramError(LookupError):
    """The programs folder has no column mapping for the program."""


@dataclass(frozen=True)
class MappingColumn:
    """One mapped column: header, v1 field path and whether the export must have it.

    ``kind`` (date, yen, item, ...) decides how a cell is read and written; ``group`` is
    the purchase group (0-based) of ``purchases[n].*`` fields; ``section`` and ``key``
    place the value in the record (section "" = top level, "purchases" = a group).
    """

    header: str
    field: str
    required: bool = True
    kind: str = dataclasses.field(init=False, compare=False)
    group: int | None = dataclasses.field(init=False, compare=False)
    section: str = dataclasses.field(init=False, compare=False)
    key: str = dataclasses.field(init=False, compare=False)

    def __post_init__(self) -> None:
        match = _PURCHASE_TARGET.fullmatch(self.field)
        place: tuple[str, int | None, str]
        if match:
            place = ("purchases", int(match.group(1)), match.group(2))
            kind = _PURCHASE_FIELD_KINDS[match.group(2)]
        else:
            section, _, key = self.field.rpartition(".")
            place = (section, None, key)
            kind = _FIELD_KINDS[self.field]
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "section", place[0])
        object.__setattr__(self, "group", place[1])
        object.__setattr__(self, "key", place[2])


@dataclass(frozen=True)
class ColumnMapping:
    """A program's LoGo column mapping, loaded from YAML and strictly validated."""

    program_id: str
    application_prefix: str
    columns: tuple[MappingColumn, ...]
    item_labels: tuple[tuple[str, str], ...] = ()
    description: str = ""
    _headers: dict[str, str] = dataclasses.field(init=False, repr=False, compare=False)
    _items: dict[str, Item] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        headers = {column.field: column.header for column in self.columns}
        if "logo_answer_id" in headers:
            headers.setdefault("application_id", headers["logo_answer_id"])
        items = {_fold_label(label): item for item, label in LABELS.items()}
        items.update((_fold_label(label), item) for label, item in _ITEM_SYNONYMS.items())
        items.update((_fold_label(label), Item(code)) for label, code in self.item_labels)
        object.__setattr__(self, "_headers", headers)
        object.__setattr__(self, "_items", items)

    @property
    def headers(self) -> tuple[str, ...]:
        """The mapped headers in file order (the order ``to_logo_csv`` writes)."""
        return tuple(column.header for column in self.columns)

    @property
    def purchase_groups(self) -> int:
        """How many purchase groups (購入品目1, 2, ...) the form has."""
        groups = [c.group for c in self.columns if c.group is not None]
        return max(groups) + 1 if groups else 0

    def header_for(self, field: str) -> str | None:
        """The header that fills a v1 field path, or None when it is not mapped."""
        return self._headers.get(field)

    def application_id(self, answer_id: str) -> str:
        """The stable application number of an online answer: ``<prefix>-L<回答ID>``."""
        return f"{self.application_prefix}-L{answer_id}"

    def item_for(self, label: str) -> Item | None:
        """The item code an answer label means, or None when the label is unknown."""
        return self._items.get(_fold_label(label))


def _fold_label(label: str) -> str:
    return "".join(unicodedata.normalize("NFKC", label).split())


_MAPPING_KEYS = ("program_id", "application_prefix", "description", "columns", "item_labels")
_PROGRAM_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_PREFIX = re.compile(r"[A-Z0-9]+")


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read and validate a column mapping file; ``MappingError`` names the bad key."""
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise MappingError("(file)", f"not valid YAML: {error}") from None
        except UnicodeDecodeError:
            raise MappingError("(file)", "not UTF-8 text") from None
    return mapping_from_dict(data)


def mapping_from_dict(data: Any) -> ColumnMapping:
    """Validate a decoded mapping document (the YAML file's content)."""
    if not isinstance(data, dict):
        raise MappingError("(file)", "the mapping must be a YAML mapping")
    for key in data:
        if key not in _MAPPING_KEYS:
            raise MappingError(str(key), "unknown key")
    program_id = _required_text(data, "program_id", _PROGRAM_ID, "lower-case letters, digits, -")
    prefix = _required_text(data, "application_prefix", _PREFIX, "upper-case letters, digits")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise MappingError("description", "must be text")
    columns = _columns(data.get("columns"))
    return ColumnMapping(program_id, prefix, columns, _item_labels(data.get("item_labels")),
                         description)  # fmt: skip


def _required_text(data: dict[Any, Any], key: str, pattern: re.Pattern[str], what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise MappingError(key, f"required: {what}")
    return value


def _columns(raw: Any) -> tuple[MappingColumn, ...]:
    if not isinstance(raw, dict) or not raw:
        raise MappingError("columns", "required, a mapping of header -> field")
    columns = tuple(_column(header, target) for header, target in raw.items())
    _check_columns(columns)
    return columns


def _column(header: Any, target: Any) -> MappingColumn:
    if not isinstance(header, str) or not header.strip():
        raise MappingError(str(header), "a header must be non-empty text")
    required = True
    if isinstance(target, dict):
        for key in target:
            if key not in ("field", "required"):
                raise MappingError(f"{header}.{key}", "unknown key")
        required = target.get("required", True)
        if not isinstance(required, bool):
            raise MappingError(f"{header}.required", "must be true or false")
        target = target.get("field")
    if not isinstance(target, str) or not _known_field(target):
        raise MappingError(header, f"unknown target field {target!r}")
    return MappingColumn(header.strip(), target, required)


def _known_field(target: str) -> bool:
    match = _PURCHASE_TARGET.fullmatch(target)
    if match:
        group_ok = int(match.group(1)) < MAX_PURCHASE_GROUPS
        return group_ok and match.group(2) in _PURCHASE_FIELD_KINDS
    return target in _FIELD_KINDS


def _check_columns(columns: tuple[MappingColumn, ...]) -> None:
    seen_fields: dict[str, str] = {}
    seen_headers: set[str] = set()
    for column in columns:
        folded = _fold_header(column.header)
        if folded in seen_headers:
            raise MappingError(column.header, "the same header (after NFKC) is mapped twice")
        seen_headers.add(folded)
        if column.field in seen_fields:
            raise MappingError(column.header, f"{column.field} is already filled by "
                               f"{seen_fields[column.field]}")  # fmt: skip
        seen_fields[column.field] = column.header
    for field in _REQUIRED_FIELDS:
        if field not in seen_fields:
            raise MappingError("columns", f"{field} must be mapped")
    groups = {c.group for c in columns if c.group is not None}
    if groups != set(range(len(groups))):
        raise MappingError("columns", "purchase groups must be numbered from 0 without gaps")


def _item_labels(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise MappingError("item_labels", "must be a mapping of label -> item code")
    codes = {item.value for item in Item}
    for label, code in raw.items():
        if not isinstance(label, str) or code not in codes:
            raise MappingError(f"item_labels.{label}", f"unknown item code {code!r}")
    return tuple((str(label), str(code)) for label, code in raw.items())


def mapping_for(program_id: str) -> ColumnMapping:
    """The mapping ``<program_id>.logo.yaml`` of the programs folder (read once per folder);
    ``UnknownProgramError`` if none."""
    return _mapping_in(str(programs_dir()), program_id)


@cache
def _mapping_in(folder: str, program_id: str) -> ColumnMapping:
    path = mapping_path(program_id, Path(folder))
    if path is None or not path.is_file():
        raise UnknownProgramError(f"no LoGo column mapping for program {program_id!r}")
    mapping = load_mapping(path)
    if mapping.program_id != program_id:
        raise MappingError("program_id", f"{path.name} declares {mapping.program_id!r}")
    return mapping


def check_mappings(program_ids: Iterable[str]) -> None:
    """Load every mapping the programs folder has for these programs, so that a bad one
    stops intake when it starts (``MappingError`` naming the file and the key), not at the
    first import."""
    for program_id in program_ids:
        path = mapping_path(program_id)
        if path is None or not path.is_file():
            continue
        try:
            mapping_for(program_id)
        except MappingError as error:
            raise MappingError(f"{path}: {error.key}", error.message) from None


def _fold_header(header: str) -> str:
    return unicodedata.normalize("NFKC", header).strip().lstrip("\ufeff")
