"""The ward handover file and its sealed container (DOMAIN.md flow step 5).

The contractor's checked applications go to the ward's intranet PC on a USB stick as
one CSV file (``handover_csv``): the fixed Japanese columns below, one row per case,
with the contractor's proposal (審査結果案) and empty decision columns that the ward
fills in and brings back (step 7, ``decision_file``). The CSV is an Excel CSV
(``subsidy_platform.excel_csv``: UTF-8 with BOM, formula cells neutralised).

The handling rules of the program (DOMAIN.md, "Controls") say a file with personal
data is encrypted with a password and that the file and the password are handed over
on separate occasions. ``seal`` writes an AES-256 encrypted ZIP (WinZip AES, the
format 7-Zip opens on the ward's PC; the standard library's zipfile cannot read it)
and ``generate_password`` makes the password; ``sha256_hex`` is the digest the
handover ledger (管理簿) records. ``unseal`` opens a container and refuses anything
``seal`` would not have written: ``WrongPassword`` for a wrong password, ``SealBroken``
for a tampered or malformed archive (see ``unseal``). Pure: bytes in, bytes out.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyzipper

from subsidy_platform.excel_csv import write_excel_csv
from subsidy_rules.reasons import Reason

HANDOVER_COLUMNS: tuple[str, ...] = (
    "申請番号",
    "制度ID",
    "受付日",
    "受付方法",
    "審査日",
    "氏名",
    "フリガナ",
    "生年月日",
    "郵便番号",
    "住所",
    "申請額",
    "算定額",
    "審査結果案",
    "理由コード案",
    "理由案",
    "重複確認",
    "補正の内容",
)
"""What the contractor writes: the case, the applicant and the proposal."""

DECISION_COLUMNS: tuple[str, ...] = (
    "決定",
    "交付決定額",
    "不交付理由コード",
    "減額理由",
    "決定日",
    "備考",
)
"""What the ward fills in (empty in the handover file)."""

HEADER: tuple[str, ...] = HANDOVER_COLUMNS + DECISION_COLUMNS

GRANT = "交付"
NOT_GRANT = "不交付"
CHANNEL_LABELS: Mapping[str, str] = {"online": "オンライン", "paper": "紙"}
REASON_SEPARATOR = "／"

PASSWORD_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
"""Letters and digits without the look-alikes 0 O 1 l I."""
PASSWORD_LENGTH = 20
MIN_PASSWORD_LENGTH = 12
MAX_MEMBERS = 8
MAX_TOTAL_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024
_AES_256 = 3  # WinZip AES strength code for 256-bit keys
_EOCD = struct.Struct("<4s4H2LH")
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_DATA_DESCRIPTOR_FLAG = 0x08
_PRINTABLE_ASCII = re.compile(r"[!-~]+")
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\:]|\.\.")


@dataclass(frozen=True, slots=True)
class HandoverRow:
    """One case as the ward receives it; dates are ISO strings, amounts integer yen."""

    application_number: str
    program_id: str
    received_on: str
    channel: str
    checked_on: str
    name: str
    name_kana: str
    birth_date: str
    postal_code: str
    address: str
    applied_amount: int
    rules_amount: int
    proposal: str
    proposal_reasons: tuple[str, ...]
    proposal_text: str
    duplicate_note: str
    correction_note: str

    def __post_init__(self) -> None:
        if not self.application_number or not self.program_id:
            raise ValueError("a handover row needs an application number and a program id")
        _iso_date("received_on", self.received_on)
        if self.checked_on:
            _iso_date("checked_on", self.checked_on)
        if self.channel not in CHANNEL_LABELS:
            raise ValueError("channel must be 'online' or 'paper'")
        for field in ("applied_amount", "rules_amount"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{field} must be a non-negative integer (yen)")
        if self.proposal not in (GRANT, NOT_GRANT):
            raise ValueError("proposal must be 交付 or 不交付")
        unknown = [code for code in self.proposal_reasons if code not in Reason.__members__]
        if unknown:
            raise ValueError(f"{len(unknown)} proposal reason(s) are not reason codes")

    def cells(self) -> tuple[str | int, ...]:
        """The row's cells in ``HEADER`` order, decision columns empty."""
        return (
            self.application_number,
            self.program_id,
            self.received_on,
            CHANNEL_LABELS[self.channel],
            self.checked_on,
            self.name,
            self.name_kana,
            self.birth_date,
            self.postal_code,
            self.address,
            self.applied_amount,
            self.rules_amount,
            self.proposal,
            " ".join(self.proposal_reasons),
            self.proposal_text,
            self.duplicate_note,
            self.correction_note,
            *("" for _ in DECISION_COLUMNS),
        )


def _iso_date(field: str, value: str) -> None:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be an ISO date (YYYY-MM-DD)") from None


def reason_text(codes: Iterable[str]) -> str:
    """The Japanese messages of reason codes joined by 「／」 (the 理由案 column)."""
    return REASON_SEPARATOR.join(Reason(code).message for code in codes)


def handover_csv(rows: Iterable[HandoverRow]) -> bytes:
    """The handover file: Excel CSV with ``HEADER`` and one row per case."""
    return write_excel_csv(HEADER, (row.cells() for row in rows))


def generate_password() -> str:
    """A fresh 20-character password from ``PASSWORD_ALPHABET`` (about 116 bits)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of ``data`` in lower-case hex (recorded in the 管理簿)."""
    return hashlib.sha256(data).hexdigest()


class SealError(ValueError):
    """A sealed container cannot be opened; the message is Japanese, for staff."""


class WrongPassword(SealError):
    """The password does not open the container."""

    def __init__(self) -> None:
        super().__init__(
            "パスワードが正しくありません。ファイルとは別に受け渡したパスワードを確認してください"
        )


class SealBroken(SealError):
    """The container is damaged, tampered with, or not one that ``seal`` writes."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"暗号化ファイルが壊れているか、改ざんされています（{detail}）")
        self.detail = detail


def _valid_name(name: str) -> bool:
    return bool(name) and len(name) <= 255 and not _BAD_NAME.search(name) and name != "."


def seal(files: Mapping[str, bytes], password: str) -> bytes:
    """An AES-256 encrypted ZIP (WinZip AES, deflated) holding ``files`` by name.

    Names are plain file names (no folders, ``..``, control characters or ``:``); at
    most ``MAX_MEMBERS`` files; the password is at least ``MIN_PASSWORD_LENGTH``
    printable ASCII characters, so that 7-Zip and pyzipper derive the same key.
    Raises ``ValueError`` otherwise.
    """
    if not files or len(files) > MAX_MEMBERS:
        raise ValueError(f"a sealed container holds 1 to {MAX_MEMBERS} files")
    if not all(_valid_name(name) for name in files):
        raise ValueError("file names in a sealed container must be plain file names")
    if len(password) < MIN_PASSWORD_LENGTH or not _PRINTABLE_ASCII.fullmatch(password):
        raise ValueError(
            f"the password must be at least {MIN_PASSWORD_LENGTH} printable ASCII characters"
        )
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode("ascii"))
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# What pyzipper raises for damaged archives, besides its own BadZipFile: zlib errors for
# a corrupted deflate stream, struct errors and seek/offset ValueErrors for damaged
# headers, NotImplementedError for a damaged compression method, EOFError when cut off.
_BROKEN: tuple[type[BaseException], ...] = (
    pyzipper.BadZipFile,
    pyzipper.LargeZipFile,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    KeyError,
    IndexError,
    OverflowError,
    UnicodeDecodeError,
)


def unseal(
    data: bytes,
    password: str,
    *,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    expected_sha256: str | None = None,
) -> dict[str, bytes]:
    """The files of a container written by ``seal`` (or 7-Zip: ZIP, AES-256, Deflate).

    ``WrongPassword`` when the password fails the check of every member. ``SealBroken``
    when: ``expected_sha256`` (the ledger's digest) differs; the data is not a ZIP or is
    cut off; the central directory disagrees with its end record; a member is not
    AES-256 encrypted, is not stored or deflated, has a name with a folder, ``..`` or
    a control character, or appears twice; there are more than ``MAX_MEMBERS``; the
    declared or actual decompressed size passes ``max_total_bytes`` (zip bombs); a
    member's authentication code (HMAC-SHA1, which covers the ciphertext) or CRC fails,
    or its deflate stream is corrupt; or the password opens some members but not others.

    WinZip AES checks a password with a 2-byte verifier, so one wrong password in 65,536
    passes it and is then reported as ``SealBroken`` by the HMAC; and a damaged salt or
    verifier of a one-member container reads as ``WrongPassword`` (the ledger's digest
    tells the two apart).
    """
    if expected_sha256 is not None and sha256_hex(data) != expected_sha256.lower():
        raise SealBroken("SHA-256が管理簿の記録と一致しません")
    try:
        with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_directory(data, members, max_total_bytes)
            archive.setpassword(password.encode("utf-8", "replace"))
            return _read_members(archive, members, max_total_bytes)
    except SealError:
        raise
    except _BROKEN as error:
        raise SealBroken(_broken_detail(error)) from None


def _broken_detail(error: BaseException) -> str:
    if isinstance(error, zlib.error):
        return "圧縮データが壊れています"
    if isinstance(error, pyzipper.BadZipFile | zipfile.BadZipFile) and "HMAC" in str(error):
        return "認証コード（HMAC）が一致しません"
    return "ZIPファイルとして読めません"


def _check_directory(data: bytes, members: list[Any], max_total_bytes: int) -> None:
    """Refuse what ``seal`` never writes, before any member is decrypted."""
    if not members:
        raise SealBroken("ファイルが入っていません")
    if len(members) > MAX_MEMBERS:
        raise SealBroken(f"ファイルの数が多すぎます（上限{MAX_MEMBERS}）")
    if _declared_entries(data) != len(members):
        raise SealBroken("ZIPの目録が一致しません")
    names: set[str] = set()
    total = 0
    for info in members:
        name = info.filename
        if not isinstance(name, str) or not _valid_name(name):
            raise SealBroken("フォルダや「..」を含むファイル名があります")
        if name in names:
            raise SealBroken("同じ名前のファイルが複数あります")
        names.add(name)
        if not info.flag_bits & 0x1 or info.wz_aes_version is None:
            raise SealBroken("暗号化されていないファイル、またはAES以外の暗号のファイルがあります")
        if info.wz_aes_strength != _AES_256:
            raise SealBroken("AES-256以外の暗号のファイルがあります")
        if info.compress_type not in (pyzipper.ZIP_STORED, pyzipper.ZIP_DEFLATED):
            raise SealBroken("対応していない圧縮方式です（Deflateで圧縮してください）")
        total += info.file_size
        if total > max_total_bytes:
            raise SealBroken("展開後のサイズが上限を超えます")
        _check_local_header(data, info)


def _check_local_header(data: bytes, info: Any) -> None:
    """The member's local header must agree with the central directory on CRC and sizes.

    pyzipper trusts the directory's sizes and silently cuts a member's output to the
    declared size, so a damaged size would otherwise shorten a file without an error.
    """
    offset = info.header_offset
    if offset + _LOCAL_HEADER.size > len(data):
        raise SealBroken("ZIPファイルとして読めません")
    fields = _LOCAL_HEADER.unpack_from(data, offset)
    if fields[0] != b"PK\x03\x04":
        raise SealBroken("ZIPファイルとして読めません")
    if fields[2] & _DATA_DESCRIPTOR_FLAG:
        return  # sizes follow the data; the HMAC and the length check below still apply
    if (fields[6], fields[7], fields[8]) != (info.CRC, info.compress_size, info.file_size):
        raise SealBroken("ZIPの目録とファイルの見出しが一致しません")


def _declared_entries(data: bytes) -> int | None:
    """The member count in the end-of-central-directory record, if there is one."""
    offset = data.rfind(b"PK\x05\x06", max(0, len(data) - _EOCD.size - 0xFFFF))
    if offset < 0 or offset + _EOCD.size > len(data):
        return None
    total: int = _EOCD.unpack_from(data, offset)[4]
    return total


def _read_members(
    archive: pyzipper.AESZipFile, members: list[Any], max_total_bytes: int
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    refused = 0
    budget = max_total_bytes
    for info in members:
        try:
            handle = archive.open(info)
        except RuntimeError:
            # pyzipper's only RuntimeError here: "Bad password" (the 2-byte verifier).
            refused += 1
            continue
        with handle:
            chunks: list[bytes] = []
            while chunk := handle.read(_CHUNK):
                budget -= len(chunk)
                if budget < 0:
                    raise SealBroken("展開後のサイズが上限を超えます")
                chunks.append(chunk)
        content = b"".join(chunks)
        if len(content) != info.file_size:
            raise SealBroken("展開後のサイズが目録と一致しません")
        files[info.filename] = content
    if refused == len(members):
        raise WrongPassword()
    if refused:
        raise SealBroken("一部のファイルだけがパスワードで開けません")
    return files
