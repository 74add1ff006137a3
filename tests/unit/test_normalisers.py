"""Name, kana, phone and postal-code normalisers (tables of real spellings)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subsidy_rules.normalize.kana import matching_kana, zengin_kana
from subsidy_rules.normalize.names import normalize_name
from subsidy_rules.normalize.phone import normalize_phone
from subsidy_rules.normalize.postal import normalize_postal_code


@pytest.mark.parametrize(
    "spelling",
    [
        "シンジュク タロウ",
        "シンジュク　タロウ",
        "しんじゅく たろう",
        "ｼﾝｼﾞｭｸ ﾀﾛｳ",
        "シンジユクタロウ",
        "ｼﾝｼﾞﾕｸﾀﾛｳ",
    ],
)
def test_kana_spellings_of_one_name_match(spelling: str) -> None:
    assert matching_kana(spelling) == "シンジユクタロウ"


def test_different_kana_names_do_not_match() -> None:
    assert matching_kana("シンジュク タロウ") != matching_kana("シンジュク ジロウ")
    assert matching_kana("サトウ") != matching_kana("サドウ")


@pytest.mark.parametrize(
    ("written", "payee"),
    [
        ("シンジュク タロウ", "ｼﾝｼﾞﾕｸ ﾀﾛｳ"),
        ("キュウ", "ｷﾕｳ"),
        ("ちょう　きょうこ", "ﾁﾖｳ ｷﾖｳｺ"),
        ("ｻｲﾄｳ ｼｮｳﾀ", "ｻｲﾄｳ ｼﾖｳﾀ"),
        ("ヒョーゴ", "ﾋﾖ-ｺﾞ"),
        ("マリー・アン", "ﾏﾘ- ｱﾝ"),
        ("カ）シンジュクショウジ", "ｶ)ｼﾝｼﾞﾕｸｼﾖｳｼﾞ"),
        ("smith john", "SMITH JOHN"),
        ("ヴァン", "ｳﾞｱﾝ"),
    ],
)
def test_zengin_payee_form_is_half_width_with_small_kana_written_large(
    written: str, payee: str
) -> None:
    assert zengin_kana(written) == payee


def test_zengin_payee_form_refuses_kanji_naming_the_character() -> None:
    with pytest.raises(ValueError, match="新"):
        zengin_kana("新宿 タロウ")


@given(st.text(alphabet="アイウエオカキクケコャュョッシンジタロウ ", min_size=1, max_size=20))
def test_zengin_payee_form_uses_only_allowed_characters(text: str) -> None:
    payee = zengin_kana(text)
    assert all(ch in "ｱｲｳｴｵｶｷｸｹｺｼﾝｼﾞﾀﾛﾔﾕﾖﾂﾞ " for ch in payee)
    assert not any(ch in payee for ch in "ｧｨｩｪｫｯｬｭｮ")


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("新宿 太郎", "新宿太郎"),
        ("新宿　太郎", "新宿太郎"),
        (" 新宿太郎 ", "新宿太郎"),
        ("髙橋 一郎", "高橋一郎"),
        ("山﨑 花子", "山崎花子"),
        ("渡邊 次郎", "渡辺次郎"),
        ("渡邉 次郎", "渡辺次郎"),
        ("齋藤 三郎", "斎藤三郎"),
        ("ＳＭＩＴＨ　Ｊｏｈｎ", "SMITHJohn"),
    ],
)
def test_names_compare_after_width_space_and_old_forms(written: str, key: str) -> None:
    assert normalize_name(written) == key


@pytest.mark.parametrize(
    ("written", "digits"),
    [
        ("03-1234-5678", "0312345678"),
        ("０３－１２３４－５６７８", "0312345678"),
        ("03(1234)5678", "0312345678"),
        ("090-1234-5678", "09012345678"),
        ("09012345678", "09012345678"),
        ("+81 90-1234-5678", "09012345678"),
        ("+81-3-1234-5678", "0312345678"),
        ("０９０ １２３４ ５６７８", "09012345678"),
    ],
)
def test_phone_numbers_reduce_to_national_digits(written: str, digits: str) -> None:
    assert normalize_phone(written) == digits


@pytest.mark.parametrize("bad", ["1234", "03-1234-56789012", "12-3456-7890"])
def test_phone_numbers_of_the_wrong_shape_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(bad)


@pytest.mark.parametrize(
    "written", ["160-0023", "1600023", "〒160-0023", "１６０－００２３", "160ー0023"]
)
def test_postal_codes_reduce_to_seven_digits(written: str) -> None:
    assert normalize_postal_code(written) == "1600023"


def test_postal_code_with_too_few_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="7 digits"):
        normalize_postal_code("160-002")


@pytest.mark.parametrize("written", ["٠٣-١٢٣٤-٥٦٧٨", "०३-१२३४-५६७८", "03-1234-٥٦٧٨", "0" * 33])
def test_phone_numbers_in_digits_of_other_scripts_or_too_long_are_refused(written: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(written)


@pytest.mark.parametrize("written", ["١٦٠-٠٠٢٣", "१६०-००२३", "160-٠٠٢٣", "1" * 17])
def test_postal_codes_in_digits_of_other_scripts_or_too_long_are_refused(written: str) -> None:
    with pytest.raises(ValueError):
        normalize_postal_code(written)
