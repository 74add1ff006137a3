"""The demo's summary reads the released 全銀 files back and times its steps."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from subsidy_demo.summary import Stopwatch, released_files
from subsidy_payments.zengin import Payee, Requester, transfer_file

WARD = Requester("1310400001", "ｼﾝｼﾞﾕｸｸ", "0005", "001", "current", "1234567")


def payee(n: int, amount: int) -> Payee:
    return Payee(
        instruction_id=n,
        application_number=f"S2025-{n:06d}",
        bank_code="0001",
        branch_code="001",
        account_type="ordinary",
        account_number=f"{n:07d}",
        holder_kana="シンジュク キョウコ",
        amount=amount,
    )


def test_released_files_are_counted_record_by_record(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(
        transfer_file(WARD, date(2025, 7, 10), [payee(1, 20000), payee(2, 7000)], crlf=True)
    )
    (tmp_path / "b.txt").write_bytes(
        transfer_file(WARD, date(2025, 7, 11), [payee(3, 15000)], crlf=False)
    )
    (tmp_path / "returns.csv").write_text("指図番号,口座番号,金額,返却理由\r\n", encoding="utf-8")
    assert released_files(tmp_path) == {
        "files": 2,
        "records": 3,
        "yen": 42000,
        "inconsistent": [],
    }


def test_a_file_whose_trailer_disagrees_with_its_records_is_named(tmp_path: Path) -> None:
    data = bytearray(transfer_file(WARD, date(2025, 7, 10), [payee(1, 20000)], crlf=True))
    start = data.index(b"\r\n2") + 2 + 80
    data[start : start + 10] = b"0000029000"
    (tmp_path / "altered.txt").write_bytes(bytes(data))
    found = released_files(tmp_path)
    assert found["inconsistent"] == ["altered.txt"]
    assert found["yen"] == 29000


def test_the_stopwatch_adds_up_a_step_run_twice_and_reports_a_total() -> None:
    clock = Stopwatch()
    with clock.step("review"):
        pass
    with clock.step("review"):
        pass
    seconds = clock.as_json()
    assert set(seconds) == {"review", "total"}
    assert 0 <= seconds["review"] <= seconds["total"]
