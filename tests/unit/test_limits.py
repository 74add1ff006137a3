"""The platform's limits on what callers send: identifiers and free texts."""

from __future__ import annotations

import pytest

from subsidy_platform.errors import InvalidArgument
from subsidy_platform.limits import MAX_SHOWN, NOT_SHOWN, bounded_text, identifier, shown


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "a\x07b", "a\x85b", "a\x9fb", "a\x7fb", "a\u2028b", "a\ud800b"],
    ids=["NUL", "BEL", "NEL (C1)", "APC (C1)", "DEL", "line separator", "lone surrogate"],
)
def test_a_free_text_with_a_control_character_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        bounded_text("note", value)
    [violation] = refused.value.violations
    assert violation.field == "note" and value not in violation.description


def test_a_free_text_keeps_its_line_breaks_and_tabs_inside() -> None:
    assert bounded_text("note", "  一行目\n\t二行目  ") == "一行目\n\t二行目"


def test_a_megabyte_text_is_refused_before_it_is_stripped_or_scanned() -> None:
    with pytest.raises(InvalidArgument) as refused:
        bounded_text("purpose", "あ" * (1 << 20))
    assert refused.value.violations[0].field == "purpose"


@pytest.mark.parametrize("value", ["R7 001", "٣٣", "３３", "a" * 65, "S2025\x00"])
def test_an_identifier_outside_its_alphabet_or_length_is_refused(value: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        identifier("request_id", value)
    assert refused.value.violations[0].field == "request_id"


def test_a_message_shows_only_a_short_well_formed_identifier() -> None:
    assert shown("S2025-000001") == "S2025-000001"
    assert shown("S" * (MAX_SHOWN + 1)) == NOT_SHOWN
    assert shown("<script>") == NOT_SHOWN
