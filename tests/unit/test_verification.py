"""ベリファイ入力: two keyings of a paper form, compared field by field; who may verify."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from subsidy_intake.verification import KeyingOutcome, compare_keyings, decide


def keyed(record: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(record)
    out["channel"] = "paper"
    del out["logo_answer_id"]
    return out


def test_identical_keyings_have_no_differences(record: dict[str, Any]) -> None:
    assert compare_keyings(keyed(record), keyed(record)) == []


def test_a_different_birth_date_and_amount_are_named_by_their_field_paths(
    record: dict[str, Any],
) -> None:
    first, second = keyed(record), keyed(record)
    first["purchases"].append({"item": "sensor_light", "kind": "purchase", "amount": 3980,
                               "purchased_on": "2025-05-01"})  # fmt: skip
    second["purchases"].append(dict(first["purchases"][1], amount=3890))
    second["applicant"]["birth_date"] = "1980-01-03"
    assert compare_keyings(first, second) == ["applicant.birth_date", "purchases[1].amount"]


def test_width_and_blank_differences_are_not_differences(record: dict[str, Any]) -> None:
    first, second = keyed(record), keyed(record)
    second["applicant"]["phone"] = "０３－１２３４－５６７８"
    second["applicant"]["address"] = "  東京都新宿区西新宿二丁目8番1号　 テストハイツ101号室 "
    second["bank_account"]["holder_kana"] = "ｼﾝｼﾞﾕｸ ﾀﾛｳ"
    assert compare_keyings(first, second) == []


def test_a_different_digit_is_always_a_difference_even_in_full_width(
    record: dict[str, Any],
) -> None:
    second = keyed(record)
    second["bank_account"]["number"] = "１２３４５６８"
    assert compare_keyings(keyed(record), second) == ["bank_account.number"]


def test_a_number_and_the_same_digits_as_text_differ(record: dict[str, Any]) -> None:
    second = keyed(record)
    second["purchases"][0]["amount"] = "32000"
    assert compare_keyings(keyed(record), second) == ["purchases[0].amount"]


def test_missing_none_and_blank_all_mean_not_filled_in(record: dict[str, Any]) -> None:
    first, second = keyed(record), keyed(record)
    del first["applicant"]["email"]
    second["applicant"]["email"] = " "
    assert compare_keyings(first, second) == []
    second["applicant"]["email"] = None
    assert compare_keyings(first, second) == []


def test_a_field_keyed_by_only_one_operator_is_a_difference(record: dict[str, Any]) -> None:
    first, second = keyed(record), keyed(record)
    del first["household"]
    assert compare_keyings(first, second) == ["household.head_name", "household.relationship"]


def test_a_purchase_line_keyed_by_only_one_operator_is_reported_as_a_whole(
    record: dict[str, Any],
) -> None:
    first, second = keyed(record), keyed(record)
    second["purchases"].append(dict(first["purchases"][0]))
    assert compare_keyings(first, second) == ["purchases[1]"]


def test_a_flipped_pledge_is_a_difference(record: dict[str, Any]) -> None:
    second = keyed(record)
    second["pledges"]["no_tax_arrears"] = False
    assert compare_keyings(keyed(record), second) == ["pledges.no_tax_arrears"]


def test_the_first_keying_is_stored_to_wait_for_the_second() -> None:
    assert decide(None, "op-1", []) is KeyingOutcome.FIRST_KEYING_STORED


def test_agreeing_keyings_by_two_operators_are_accepted() -> None:
    assert decide("op-1", "op-2", []) is KeyingOutcome.ACCEPTED


def test_differing_keyings_go_to_a_third_look() -> None:
    assert decide("op-1", "op-2", ["applicant.birth_date"]) is KeyingOutcome.MISMATCH


@pytest.mark.parametrize("diffs", [[], ["purchases[0].amount"]])
def test_an_operator_can_never_verify_their_own_keying(diffs: list[str]) -> None:
    assert decide("op-1", "op-1", diffs) is KeyingOutcome.SAME_OPERATOR
    assert decide("op-1", " op-1 ", diffs) is KeyingOutcome.SAME_OPERATOR


def test_a_keying_without_an_operator_is_refused() -> None:
    with pytest.raises(ValueError):
        decide("op-1", "  ", [])
