"""Pure parts of payments: the 全銀 writer (read back by the tests' independent reader), bank
business days, and the bank's return file."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from subsidy_payments.calendar_jp import is_bank_business_day, next_bank_business_day
from subsidy_payments.returns import parse_returns
from subsidy_payments.zengin import Payee, Requester, TransferFileError, payee_name, transfer_file

from subsidy_rules.normalize.kana import zengin_kana

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from zengin_reader import ZenginFileError, read_zengin

WARD = Requester("1310400001", "ｼﾝｼﾞﾕｸｸ", "0005", "001", "current", "1234567")


def payee(n: int, **changes: object) -> Payee:
    fields: dict[str, object] = {
        "instruction_id": n,
        "application_number": f"S2025-{n:06d}",
        "bank_code": "0001",
        "branch_code": "001",
        "account_type": "ordinary",
        "account_number": f"{n % 10_000_000:07d}",
        "holder_kana": "シンジュク キョウコ",
        "amount": 20000,
    }
    fields.update(changes)
    return Payee(**fields)  # type: ignore[arg-type]


def test_a_file_has_header_data_trailer_end_of_120_bytes_each() -> None:
    payees = [payee(n, amount=1000 * n) for n in range(1, 6)]
    data = transfer_file(WARD, date(2025, 7, 10), payees, crlf=True)
    parsed = read_zengin(data)
    assert parsed.count == 5 and parsed.total == 15000 and parsed.crlf
    assert parsed.transfer_mmdd == "0710" and parsed.ward_account == "1234567"
    assert parsed.transfers[0].payee == "ｼﾝｼﾞﾕｸ ｷﾖｳｺ".encode("shift_jis")  # small kana large
    assert parsed.transfers[0].customer_code == "0000000001"
    assert parsed.transfers[2].account_number == "0000003"
    flat = transfer_file(WARD, date(2025, 7, 10), payees, crlf=False)
    assert len(flat) == 120 * 8 and read_zengin(flat).total == 15000


def test_an_unknown_bank_or_branch_or_an_unwritable_name_names_the_applications() -> None:
    bad = [
        payee(1, bank_code="0999"),
        payee(2, branch_code="998"),
        payee(3, holder_kana="山田 花子"),
    ]
    with pytest.raises(TransferFileError) as refused:
        transfer_file(WARD, date(2025, 7, 10), [*bad, payee(4)], crlf=True)
    assert refused.value.numbers == ("S2025-000001", "S2025-000002", "S2025-000003")
    assert "山田" not in str(refused.value)


def test_the_reader_refuses_a_file_whose_trailer_lies() -> None:
    data = bytearray(transfer_file(WARD, date(2025, 7, 10), [payee(1)], crlf=True))
    trailer = 122 * 2
    data[trailer + 7 : trailer + 19] = b"000000099999"
    with pytest.raises(ZenginFileError):
        read_zengin(bytes(data))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(
                alphabet="アイウエオカキクケコガギグゲゴパピプペポャュョッァィゥェォー ABC0123()-./",
                min_size=1,
                max_size=40,
            ),
            st.integers(min_value=1, max_value=9_999_999),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_any_writable_name_and_amount_reads_back(rows: list[tuple[str, int]]) -> None:
    payees = []
    for n, (name, amount) in enumerate(rows, start=1):
        if not name.strip():
            continue
        payees.append(payee(n, holder_kana=name, amount=amount))
    if not payees:
        return
    parsed = read_zengin(transfer_file(WARD, date(2026, 3, 2), payees, crlf=True))
    assert parsed.total == sum(p.amount for p in payees)
    assert all(len(t.payee) <= 30 for t in parsed.transfers)


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2026, 12, 31), False),  # 大晦日: bank holiday
        (date(2027, 1, 1), False),
        (date(2027, 1, 2), False),  # Saturday and year-end
        (date(2027, 1, 4), True),
        (date(2027, 1, 11), False),  # 成人の日
        (date(2026, 5, 6), False),  # 振替休日
        (date(2026, 9, 22), False),  # 国民の休日 (between 敬老の日 and 秋分の日)
        (date(2026, 12, 1), True),
        (date(2026, 12, 5), False),  # Saturday
    ],
)
def test_bank_business_days(day: date, open_: bool) -> None:
    assert is_bank_business_day(day) is open_


def test_the_next_business_day_after_the_year_end_is_january_the_fourth() -> None:
    assert next_bank_business_day(date(2026, 12, 30)) == date(2026, 12, 30)
    assert next_bank_business_day(date(2026, 12, 31)) == date(2027, 1, 4)


HEADER = "指図番号,口座番号,金額,返却理由\r\n"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("12,1234567,5000,不明\r\n", "返却理由"),
        ("x1,1234567,5000,口座なし\r\n", "指図番号"),
        ("12,12345678,5000,口座なし\r\n", "口座番号"),
        ("12,1234567,-5,口座なし\r\n", "金額"),
        ("12,1234567,5000\r\n", "row"),
        ("12,1234567,5000,口座なし\r\n12,1234567,5000,解約済\r\n", "指図番号"),
    ],
)
def test_a_bad_return_row_is_reported_by_row_and_field(body: str, field: str) -> None:
    good = "99,7654321,20000,名義相違\r\n"
    _rows, problems = parse_returns((HEADER + good + body).encode("utf-8"))
    assert [p.field for p in problems] == [field]
    assert problems[0].row >= 2


def test_a_return_file_without_the_header_or_in_cp932_is_handled() -> None:
    assert parse_returns(b"a,b,c,d\r\n1,2,3,4\r\n")[1][0].field == "header"
    rows, problems = parse_returns((HEADER + "7,0012345,20000,解約済\r\n").encode("cp932"))
    assert problems == [] and rows[0].instruction_id == 7 and rows[0].reason == "解約済"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30))
def test_the_payee_table_converts_as_the_rules_library_does(text: str) -> None:
    try:
        expected: str | None = zengin_kana(text)
    except ValueError:
        expected = None
    try:
        found: str | None = payee_name(text)
    except ValueError:
        found = None
    assert found == expected


@pytest.mark.parametrize(
    "name",
    [
        "シンジュク キョウコ",
        "しんじゅく　きょうこ",
        "ｼﾝｼﾞｭｸ ｷｮｳｺ",
        "ガーデン・ハイツ",
        "ヴァン, ジョン",
        "abc (1)",
    ],
)
def test_the_payee_table_on_real_spellings(name: str) -> None:
    assert payee_name(name) == zengin_kana(name)
