"""Error texts for staff name the wrong value in Japanese (the unknown item, the bad postal
code), never a regular expression, and repeat a value only when short and ordinary
(subsidy_rules.application.shown)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from subsidy_rules.application import FormatError, parse_application, shown


def error_for(record: dict[str, Any], path: tuple[str | int, ...], value: Any) -> FormatError:
    changed = copy.deepcopy(record)
    node: Any = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(FormatError) as raised:
        parse_application(changed)
    return raised.value


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("applicant", "postal_code"), "16O-0023", "郵便番号「16O-0023」"),
        (("purchases", 0, "item"), "laser_fence", "品目「laser_fence」"),
        (("purchases", 0, "kind"), "lease", "「lease」は選べません"),
        (("bank_account", "bank_code"), "12", "金融機関コード「12」"),
        (("received_on",), "2025-02-30", "「2025-02-30」は存在しない日付です"),
        (("channel",), "fax", "「fax」は選べません"),
    ],
)
def test_a_wrong_value_is_named_in_japanese_without_a_pattern(
    record: dict[str, Any], path: tuple[str | int, ...], value: str, named: str
) -> None:
    error = error_for(record, path, value)
    assert named in error.message
    for regex_syntax in ("[0-9", "]{", "\\d", "+$", "(?:"):
        assert regex_syntax not in error.message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("applicant", "birth_date"), "1980-02-30"),  # personal data: never repeated
        (("bank_account", "number"), "12345678"),
        (("bank_account", "branch_code"), "००१"),  # Devanagari digits
        (("applicant", "postal_code"), "1" * 9 + "\u202e"),
        (("purchases", 0, "item"), "x" * 500),
    ],
)
def test_personal_long_or_odd_values_are_never_repeated(
    record: dict[str, Any], path: tuple[str | int, ...], value: str
) -> None:
    error = error_for(record, path, value)
    assert value not in error.message and "「" not in error.message


def test_shown_quotes_only_short_ordinary_text() -> None:
    assert shown("160-0023") == "「160-0023」"
    assert shown("防犯ブザー") == "「防犯ブザー」"
    assert shown("x" * 25) == "" and shown("a\u200bb") == "" and shown(12) == ""
