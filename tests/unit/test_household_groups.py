"""Households as review sees them (subsidy_review.households): applications linked by
duplicate flags, open or kept, but not flags cleared as "not one household"."""

from __future__ import annotations

from subsidy_review.households import households
from subsidy_review.repository import Flag


def flag(a: str, b: str, *, open_: bool = True, resolution: str | None = None) -> Flag:
    first, second = sorted((a, b))
    return Flag(first, second, "SAME_HOUSEHOLD", open_, resolution)


def test_a_chain_of_flags_is_one_household() -> None:
    assert households([flag("A", "B"), flag("B", "C"), flag("D", "E")]) == [
        {"A", "B", "C"},
        {"D", "E"},
    ]


def test_a_late_application_merges_two_households() -> None:
    found = households([flag("A", "B"), flag("C", "D"), flag("B", "X"), flag("X", "D")])
    assert found == [{"A", "B", "C", "D", "X"}]


def test_a_kept_flag_still_links_and_a_cleared_flag_does_not() -> None:
    found = households(
        [
            flag("A", "B", open_=False, resolution="kept"),
            flag("C", "D", open_=False, resolution="cleared"),
        ]
    )
    assert found == [{"A", "B"}]


def test_no_flags_make_no_household() -> None:
    assert households([]) == []
