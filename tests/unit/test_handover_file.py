"""The ward handover file: exact columns, neutralised cells, and the AES-256 sealed ZIP."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import pyzipper
from subsidy_review.handover import (
    DECISION_COLUMNS,
    HEADER,
    MAX_MEMBERS,
    PASSWORD_ALPHABET,
    HandoverRow,
    SealBroken,
    SealError,
    WrongPassword,
    generate_password,
    handover_csv,
    reason_text,
    seal,
    sha256_hex,
    unseal,
)

from subsidy_platform.excel_csv import BOM, read_excel_csv
from subsidy_rules.reasons import Reason

PASSWORD = "Kx7mPq2RtZ9wVb4NcHs3"
FILES = {"handover.csv": "申請番号,氏名\r\n".encode() * 200, "README.txt": b"read me"}

ROW = HandoverRow(
    application_number="R7-000123",
    program_id="shinjuku-2025",
    received_on="2025-05-12",
    channel="online",
    checked_on="2025-05-20",
    name="髙橋 𠮷子",
    name_kana="タカハシ ヨシコ",
    birth_date="1980-01-02",
    postal_code="160-0022",
    address="東京都新宿区新宿1-2-3",
    applied_amount=20000,
    rules_amount=15000,
    proposal="交付",
    proposal_reasons=(),
    proposal_text="",
    duplicate_note="",
    correction_note="",
)


def aes_zip(members: dict[str, bytes], password: str = PASSWORD) -> bytes:
    """An AES-256 ZIP written directly with pyzipper, whatever the member names."""
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode())
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def member_data_offset(data: bytes, name: str) -> tuple[int, int]:
    """Where a member's ciphertext starts and ends (after salt + verifier, before HMAC)."""
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    header = info.header_offset
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    start = header + 30 + name_length + extra_length + 16 + 2
    return start, header + 30 + name_length + extra_length + info.compress_size - 10


def test_the_header_has_the_exact_japanese_columns() -> None:
    assert HEADER == (
        "申請番号", "制度ID", "受付日", "受付方法", "審査日", "氏名", "フリガナ", "生年月日",
        "郵便番号", "住所", "申請額", "算定額", "審査結果案", "理由コード案", "理由案", "重複確認",
        "補正の内容", "決定", "交付決定額", "不交付理由コード", "減額理由", "決定日", "備考",
    )  # fmt: skip


def test_the_csv_has_one_row_per_case_and_empty_decision_columns() -> None:
    refused = dataclasses.replace(
        ROW,
        application_number="R7-000124",
        channel="paper",
        checked_on="",
        proposal="不交付",
        proposal_reasons=("DUPLICATE_HOUSEHOLD", "SAME_HOUSEHOLD"),
        proposal_text=reason_text(["DUPLICATE_HOUSEHOLD", "SAME_HOUSEHOLD"]),
        duplicate_note="同一住居: R7-000123 を採用",
    )
    data = handover_csv([ROW, refused])
    assert data.startswith(BOM)
    encoding, rows = read_excel_csv(data)
    assert encoding == "utf-8-sig"
    assert rows[0] == list(HEADER)
    first, second = (dict(zip(HEADER, row, strict=True)) for row in rows[1:])
    assert first["氏名"] == "髙橋 𠮷子"
    assert first["受付方法"] == "オンライン"
    assert (first["申請額"], first["算定額"]) == ("20000", "15000")
    assert second["受付方法"] == "紙"
    assert second["理由コード案"] == "DUPLICATE_HOUSEHOLD SAME_HOUSEHOLD"
    assert second["理由案"] == (
        f"{Reason.DUPLICATE_HOUSEHOLD.message}／{Reason.SAME_HOUSEHOLD.message}"
    )
    assert second["重複確認"] == "同一住居: R7-000123 を採用"
    assert all(first[column] == "" and second[column] == "" for column in DECISION_COLUMNS)


def test_formula_cells_in_names_and_addresses_are_neutralised() -> None:
    hostile = dataclasses.replace(
        ROW, name='=HYPERLINK("http://evil","x")', address="@SUM(1)", name_kana="-1+2"
    )
    _, rows = read_excel_csv(handover_csv([hostile]))
    row = dict(zip(HEADER, rows[1], strict=True))
    assert row["氏名"] == '\'=HYPERLINK("http://evil","x")'
    assert row["住所"] == "'@SUM(1)"
    assert row["フリガナ"] == "'-1+2"


@pytest.mark.parametrize(
    "change",
    [
        {"channel": "fax"},
        {"received_on": "2025/05/12"},
        {"applied_amount": -1},
        {"rules_amount": True},
        {"proposal": "保留"},
        {"proposal_reasons": ("NO_SUCH_REASON",)},
        {"application_number": ""},
    ],
)
def test_a_malformed_row_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(ROW, **change)  # type: ignore[arg-type]


def test_passwords_are_twenty_unambiguous_characters() -> None:
    passwords = {generate_password() for _ in range(200)}
    assert len(passwords) == 200
    for password in passwords:
        assert len(password) == 20
        assert set(password) <= set(PASSWORD_ALPHABET)
    assert not set("0O1lI") & set(PASSWORD_ALPHABET)


def test_a_sealed_container_opens_with_its_password() -> None:
    data = seal(FILES, PASSWORD)
    assert unseal(data, PASSWORD) == FILES
    assert unseal(data, PASSWORD, expected_sha256=sha256_hex(data).upper()) == FILES


def test_members_are_aes_256_and_deflated() -> None:
    with pyzipper.AESZipFile(io.BytesIO(seal(FILES, PASSWORD))) as archive:
        for info in archive.infolist():
            assert info.flag_bits & 0x1
            assert info.wz_aes_strength == 3
            assert info.compress_type == zipfile.ZIP_DEFLATED


def test_the_standard_zipfile_cannot_read_the_container() -> None:
    with (
        zipfile.ZipFile(io.BytesIO(seal(FILES, PASSWORD))) as archive,
        pytest.raises(NotImplementedError),
    ):
        archive.read("README.txt", pwd=PASSWORD.encode())


def test_a_wrong_password_is_wrong_password() -> None:
    with pytest.raises(WrongPassword, match="パスワードが正しくありません"):
        unseal(seal(FILES, PASSWORD), "Kx7mPq2RtZ9wVb4NcHs4")


def test_one_flipped_byte_in_the_ciphertext_breaks_the_seal() -> None:
    data = seal(FILES, PASSWORD)
    start, end = member_data_offset(data, "handover.csv")
    for position in range(start, end):
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        with pytest.raises(SealBroken):
            unseal(bytes(tampered), PASSWORD)


def test_any_flipped_byte_is_refused_or_harmless() -> None:
    data = seal(FILES, PASSWORD)
    for position in range(len(data)):
        tampered = bytearray(data)
        tampered[position] ^= 0x80
        with contextlib.suppress(SealError):
            assert unseal(bytes(tampered), PASSWORD) == FILES
        with pytest.raises(SealBroken):
            unseal(bytes(tampered), PASSWORD, expected_sha256=sha256_hex(data))


@pytest.mark.parametrize("keep", [0, 1, 30, 100, -23, -1])
def test_a_truncated_container_is_broken(keep: int) -> None:
    data = seal(FILES, PASSWORD)
    with pytest.raises(SealBroken):
        unseal(data[:keep], PASSWORD)


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x03\x04" + b"\x00" * 40])
def test_something_that_is_not_a_zip_is_broken(data: bytes) -> None:
    with pytest.raises(SealBroken):
        unseal(data, PASSWORD)


def test_a_plain_unencrypted_zip_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handover.csv", b"a,b\r\n")
    with pytest.raises(SealBroken, match="暗号化されていない"):
        unseal(buffer.getvalue(), PASSWORD)


def test_a_container_with_one_unencrypted_member_is_refused() -> None:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(PASSWORD.encode())
        archive.writestr("a.csv", b"secret")
    with pyzipper.AESZipFile(buffer, "a") as archive:
        archive.writestr("b.csv", b"plain")
    with pytest.raises(SealBroken):
        unseal(buffer.getvalue(), PASSWORD)


@pytest.mark.parametrize(
    "name", ["../evil.csv", "dir/a.csv", "..\\evil.csv", "C:evil.csv", "a\x01.csv", "folder/"]
)
def test_a_member_with_a_path_is_refused(name: str) -> None:
    with pytest.raises(SealBroken, match="ファイル名"):
        unseal(aes_zip({name: b"x"}), PASSWORD)


def test_more_than_a_few_members_are_refused() -> None:
    members = {f"f{index}.csv": b"x" for index in range(MAX_MEMBERS + 1)}
    with pytest.raises(SealBroken, match="ファイルの数"):
        unseal(aes_zip(members), PASSWORD)


def test_a_zip_bomb_is_refused_before_and_while_decompressing() -> None:
    bomb = aes_zip({"bomb.csv": b"\x00" * 2_000_000})
    assert len(bomb) < 10_000
    with pytest.raises(SealBroken, match="上限"):
        unseal(bomb, PASSWORD, max_total_bytes=1_000_000)
    assert len(unseal(bomb, PASSWORD, max_total_bytes=2_000_000)["bomb.csv"]) == 2_000_000


def test_a_ledger_digest_mismatch_is_broken() -> None:
    with pytest.raises(SealBroken, match="SHA-256"):
        unseal(seal(FILES, PASSWORD), PASSWORD, expected_sha256="0" * 64)


@pytest.mark.parametrize(
    ("files", "password"),
    [
        ({}, PASSWORD),
        ({"../a.csv": b""}, PASSWORD),
        ({"a.csv": b""}, "short"),
        ({"a.csv": b""}, "パスワードパスワードパスワード"),
        ({f"{index}.csv": b"" for index in range(MAX_MEMBERS + 1)}, PASSWORD),
    ],
)
def test_seal_refuses_what_unseal_would_refuse(files: dict[str, bytes], password: str) -> None:
    with pytest.raises(ValueError):
        seal(files, password)


def test_sha256_hex_is_the_lower_case_digest() -> None:
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


SEVEN_ZIP = shutil.which("7zz") or shutil.which("7z")


@pytest.mark.skipif(SEVEN_ZIP is None, reason="7-Zip is not installed")
def test_seven_zip_opens_the_container_and_its_archives_unseal(tmp_path: Path) -> None:
    assert SEVEN_ZIP is not None
    sealed = tmp_path / "sealed.zip"
    sealed.write_bytes(seal({"引渡し.csv": FILES["handover.csv"]}, PASSWORD))
    out = tmp_path / "out"
    subprocess.run(
        [SEVEN_ZIP, "x", f"-p{PASSWORD}", f"-o{out}", str(sealed)], check=True, capture_output=True
    )
    assert (out / "引渡し.csv").read_bytes() == FILES["handover.csv"]
    source = tmp_path / "decisions.csv"
    source.write_bytes(b"a,b\r\n")
    made = tmp_path / "ward.zip"
    subprocess.run(
        [SEVEN_ZIP, "a", "-tzip", "-mem=AES256", f"-p{PASSWORD}", str(made), str(source)],
        check=True,
        capture_output=True,
    )
    assert unseal(made.read_bytes(), PASSWORD) == {"decisions.csv": b"a,b\r\n"}
