"""Duplicate detection: evidence codes, transitivity, hard negatives, incremental use,
and precision / recall on synthetic data with planted duplicates."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from subsidy_rules.application import parse_application
from subsidy_rules.dedupe import DuplicateIndex, duplicate_keys, find_duplicates
from subsidy_rules.engine import ward_of
from subsidy_rules.program import get_program
from subsidy_rules.reasons import Reason
from subsidy_rules.synth import MALFORMED, generate, truth_pairs

SHINJUKU = get_program("shinjuku-2025")


def variant(record: dict[str, Any], application_id: str, **changes: Any) -> dict[str, Any]:
    """A copy of `record` under another id, with nested changes ('applicant.address': ...)."""
    out = copy.deepcopy(record)
    out["application_id"] = application_id
    for path, value in changes.items():
        target = out
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    return out


def other_person(record: dict[str, Any], application_id: str, **changes: Any) -> dict[str, Any]:
    """Somebody else entirely: other name, birth date, bank account, answer id, dwelling."""
    base = {
        "applicant.name": "戸山 花子",
        "applicant.name_kana": "トヤマ ハナコ",
        "applicant.birth_date": "1975-03-04",
        "applicant.address": "新宿区戸山三丁目5番2号",
        "applicant.postal_code": "162-0052",
        "bank_account.number": "7654321",
        "logo_answer_id": f"9{application_id[-6:]}",
    }
    base.update(changes)
    return variant(record, application_id, **base)


def groups_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    apps = [parse_application(r) for r in records]
    normalise = ward_of(SHINJUKU, apps[0]).normalize
    return [g.to_json() for g in find_duplicates(apps, normalise_address=normalise)]


def test_a_second_member_of_the_household_is_caught_by_the_dwelling(record: dict[str, Any]) -> None:
    spouse = other_person(record, "S2025-000002", **{"applicant.address": "西新宿2-8-1-101"})
    [group] = groups_of([record, spouse])
    assert group["group"] == ["S2025-000001", "S2025-000002"]
    assert group["reasons"] == ["SAME_HOUSEHOLD"]


def test_the_same_person_after_a_move_inside_the_ward_is_caught(record: dict[str, Any]) -> None:
    moved = other_person(
        record,
        "S2025-000002",
        **{"applicant.name_kana": "ｼﾝｼﾞｭｸ ﾀﾛｳ", "applicant.birth_date": "1980-01-02"},
    )
    [group] = groups_of([record, moved])
    assert group["reasons"] == ["SAME_PERSON"]


def test_the_same_bank_account_is_caught_even_without_leading_zeros(record: dict[str, Any]) -> None:
    record["bank_account"]["number"] = "0123456"
    other = other_person(record, "S2025-000002", **{"bank_account.number": "123456"})
    [group] = groups_of([record, other])
    assert group["reasons"] == ["SAME_BANK_ACCOUNT"]


def test_a_resubmitted_logo_answer_is_caught_across_channels(record: dict[str, Any]) -> None:
    paper = other_person(
        record, "S2025-000002", channel="paper", logo_answer_id="１０００００００01"
    )
    [group] = groups_of([record, paper])
    assert group["reasons"] == ["SAME_LOGO_ANSWER"]


@pytest.mark.parametrize(
    "address",
    [
        "東京都新宿区西新宿二丁目8番1号 テストハイツ102号室",  # same building, other room
        "西新宿2-8-2",  # the house next door
        "西新宿3-8-1-101",  # another 丁目
    ],
)
def test_hard_negatives_are_not_linked(record: dict[str, Any], address: str) -> None:
    neighbour = other_person(record, "S2025-000002", **{"applicant.address": address})
    assert groups_of([record, neighbour]) == []


def test_namesakes_with_other_birth_dates_are_not_linked(record: dict[str, Any]) -> None:
    namesake = other_person(
        record,
        "S2025-000002",
        **{"applicant.name_kana": "シンジュク タロウ", "applicant.birth_date": "1991-07-07"},
    )
    assert groups_of([record, namesake]) == []


def test_grouping_is_transitive_and_lists_every_evidence(record: dict[str, Any]) -> None:
    spouse = other_person(record, "S2025-000002", **{"applicant.address": "西新宿2-8-1-101"})
    # shares only the spouse's bank account: linked to the first through the second
    third = other_person(
        record,
        "S2025-000003",
        **{
            "bank_account.number": "7654321",
            "applicant.name_kana": "オオクボ ケン",
            "applicant.address": "大久保1-1-1",
        },
    )
    spouse["bank_account"]["number"] = "7654321"
    [group] = groups_of([record, spouse, third])
    assert group["group"] == ["S2025-000001", "S2025-000002", "S2025-000003"]
    assert group["reasons"] == ["SAME_BANK_ACCOUNT", "SAME_HOUSEHOLD"]
    assert {"code": "SAME_HOUSEHOLD", "applications": ["S2025-000001", "S2025-000002"]} in group[
        "evidence"
    ]


def test_grouping_does_not_depend_on_input_order(record: dict[str, Any]) -> None:
    spouse = other_person(
        record, "S2025-000002", received_on="2025-06-01", **{"applicant.address": "西新宿2-8-1-101"}
    )
    stranger = other_person(record, "S2025-000003", **{"applicant.address": "西新宿6-1-1"})
    records = [record, spouse, stranger]
    outputs = {str(groups_of(list(order))) for order in itertools.permutations(records)}
    assert len(outputs) == 1
    [group] = groups_of(records)
    assert group["group"][0] == "S2025-000002"  # received first


def test_one_new_application_is_checked_against_the_stored_keys(record: dict[str, Any]) -> None:
    index = DuplicateIndex()
    assert index.add(duplicate_keys(parse_application(record))) == []
    spouse = other_person(record, "S2025-000002", **{"applicant.address": "西新宿2-8-1-101"})
    matches = index.add(duplicate_keys(parse_application(spouse)))
    assert [(m.code, m.application_id) for m in matches] == [
        (Reason.SAME_HOUSEHOLD, "S2025-000001")
    ]
    assert len(index) == 2


def test_keys_can_be_blind_indexes_without_plaintext(record: dict[str, Any]) -> None:
    keys = duplicate_keys(parse_application(record), hasher=lambda v: f"h{hash(v) & 0xFFFF:x}")
    assert all("西新宿" not in key and "シンジ" not in key for key in keys.keys)
    assert {code for code, _ in keys.codes()} == {
        Reason.SAME_HOUSEHOLD,
        Reason.SAME_PERSON,
        Reason.SAME_BANK_ACCOUNT,
        Reason.SAME_LOGO_ANSWER,
    }


def test_a_reapply_window_separates_applications_years_apart(record: dict[str, Any]) -> None:
    later = variant(record, "S2032-000001", received_on="2032-06-11")
    much_later = variant(record, "S2033-000001", received_on="2033-01-01")
    apps = [parse_application(r) for r in (record, later, much_later)]
    groups = find_duplicates(apps, reapply_after_years=7)
    assert [g.application_ids for g in groups] == [("S2032-000001", "S2033-000001")]


def test_precision_and_recall_on_synthetic_data_with_planted_duplicates() -> None:
    synthetic = [s for s in generate(20_000, seed=7) if not set(s.defects) & set(MALFORMED)]
    apps = [parse_application(s.record) for s in synthetic]
    normalise = ward_of(SHINJUKU, apps[0]).normalize
    predicted = {
        frozenset(pair)
        for group in find_duplicates(apps, normalise_address=normalise)
        for pair in itertools.combinations(group.application_ids, 2)
    }
    truth = truth_pairs(synthetic)
    true_positive = len(predicted & truth)
    precision = true_positive / len(predicted)
    recall = true_positive / len(truth)
    assert len(truth) > 500
    assert precision >= 0.98, precision
    assert recall >= 0.95, recall


BASE_PURCHASES = [
    {"item": "security_camera", "kind": "purchase", "amount": 32000, "purchased_on": "2025-05-01"}
]


def namesake(record: dict[str, Any], application_id: str, **changes: Any) -> dict[str, Any]:
    """Another person of the same name kana and birth date, sharing nothing else."""
    base = {
        "applicant.name": "新宿 太朗",
        "applicant.phone": "090-9876-5432",
        "applicant.email": "another@example.jp",
        "applicant.address": "新宿区戸山三丁目5番2号",
        "applicant.postal_code": "162-0052",
        "bank_account.number": "7654321",
        "logo_answer_id": f"9{application_id[-6:]}",
        "purchases": [
            {
                "item": "sensor_light",
                "kind": "purchase",
                "amount": 6800,
                "purchased_on": "2025-05-20",
            }
        ],
    }
    base.update(changes)
    return variant(record, application_id, **base)


def test_two_people_of_one_name_and_birth_date_are_not_linked_by_that_alone(
    record: dict[str, Any],
) -> None:
    assert groups_of([record, namesake(record, "S2025-000002")]) == []


@pytest.mark.parametrize(
    "shared",
    [
        {"applicant.phone": "０３（１２３４）５６７８"},
        {"applicant.email": "Taro@Example.jp"},
        {"applicant.postal_code": "１６０－００２３"},
        {"purchases": BASE_PURCHASES},
    ],
)
def test_a_second_agreeing_fact_links_a_person_key_bucket(
    record: dict[str, Any], shared: dict[str, Any]
) -> None:
    record["purchases"] = BASE_PURCHASES
    [group] = groups_of([record, namesake(record, "S2025-000002", **shared)])
    assert group["reasons"] == ["SAME_PERSON"]


def test_the_incremental_index_applies_the_namesake_rule_too(record: dict[str, Any]) -> None:
    index = DuplicateIndex()
    first = parse_application(record)
    index.add(duplicate_keys(first))
    other = parse_application(namesake(record, "S2025-000002"))
    assert index.find(duplicate_keys(other)) == []
    same_phone = parse_application(
        namesake(record, "S2025-000003", **{"applicant.phone": "03-1234-5678"})
    )
    assert [m.code for m in index.find(duplicate_keys(same_phone))] == [Reason.SAME_PERSON]
