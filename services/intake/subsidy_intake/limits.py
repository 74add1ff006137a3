"""Limits on what a caller sends to intake: one table, checked before any work (hardening).

Every string a caller controls is bounded, and a value that breaks its limit is
`InvalidArgument` naming the field (the proto field's name); the message never repeats
the value. The application record's own fields (names, addresses, kana, phone, e-mail,
purchase descriptions, amounts, codes, LoGo answer id, application id) are bounded by the
rules library's format v1 parser (`subsidy_rules.application`: `TEXT_LIMITS`,
`MAX_PURCHASE_YEN`, `MAX_APPLICATION_YEN`, `MAX_PURCHASES`); everything else is checked
here with the platform's `identifier` and `bounded_text` (`subsidy_platform.limits`), and
the use cases call these checks first, before a transaction or a Vault call. Enum values
outside their proto enum are refused by the servicer (`enum_name`).

| field | limit |
|---|---|
| request_id | 1-64 characters of `[A-Za-z0-9_.:-]` (optional where the RPC says so) |
| application_number | 1-32 characters of `[A-Za-z0-9_.:-]` |
| program_id | 1-64 characters of `[A-Za-z0-9_.:-]`, and a program intake serves |
| form_id (paper form control number) | 1-64 characters of `[A-Za-z0-9_.:-]` |
| header.file_name (LoGo CSV) | at most 255 characters, no control characters, no `/` or `\\` |
| purpose | at most 200 characters, no control characters except tabs and line breaks |
| note (status report, correction) | at most 200 characters, as purpose |
| summary (inquiry) | 1-2,000 characters, as purpose |
| kana_and_birth_date.name_kana | 1-100 characters, as purpose |
| kana_and_birth_date.birth_date | `YYYY-MM-DD` in ASCII digits, a calendar date |
| phone (search) | at most 24 characters |
| contacted_at | at most 40 characters, RFC 3339 with a time zone |
| present (attachment kinds) | at most 20 kinds, each an identifier of at most 64 characters |
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier

MAX_REQUEST_ID = 64
MAX_APPLICATION_NUMBER = 32
MAX_PROGRAM_ID = 64
MAX_FORM_ID = 64
MAX_FILE_NAME = 255
MAX_PURPOSE = 200
MAX_NOTE = 200
MAX_SUMMARY = 2000
MAX_KANA = 100
MAX_PHONE = 24
MAX_INSTANT = 40
MAX_ATTACHMENTS = 20

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _refuse(field: str, message: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation(field, message)])


def request_id(value: str, *, required: bool = True, field: str = "request_id") -> str | None:
    """A caller's idempotency key; None when empty and not required."""
    return identifier(field, value, required=required, limit=MAX_REQUEST_ID) or None


def application_number(value: str, *, field: str = "application_number") -> str:
    """An application number (S2025-000123): a well-formed id of at most 32 characters."""
    return identifier(field, value.strip(), limit=MAX_APPLICATION_NUMBER)


def optional_application_number(value: str, *, field: str = "application_number") -> str | None:
    return application_number(value, field=field) if value else None


def program_id(value: str, *, required: bool = True, field: str = "program_id") -> str | None:
    """A program id as written (whether intake serves it is `IntakeService.program`'s)."""
    return identifier(field, value, required=required, limit=MAX_PROGRAM_ID) or None


def form_id(value: str) -> str:
    """A paper form's control number (受付番号)."""
    return identifier("form_id", value.strip(), limit=MAX_FORM_ID)


def file_name(value: str, field: str = "header.file_name") -> str:
    """The uploaded file's name as the operator's tool sent it (kept in intake.imports)."""
    name = bounded_text(field, value, MAX_FILE_NAME)
    if "/" in name or "\\" in name:
        raise _refuse(field, "ファイル名にフォルダの区切り（/ \\）は使えません")
    return name


def purpose(value: str | None, *, required: bool = True, field: str = "purpose") -> str | None:
    """Why a caller reads personal data (recorded in the audit log)."""
    text = bounded_text(field, value or "", MAX_PURPOSE, required=required)
    return text or None


def note(value: str, field: str = "note") -> str:
    return bounded_text(field, value, MAX_NOTE)


def summary(value: str, field: str = "summary") -> str:
    return bounded_text(field, value, MAX_SUMMARY)


def name_kana(value: str, field: str = "kana_and_birth_date.name_kana") -> str:
    return bounded_text(field, value, MAX_KANA, required=True)


def birth_date(value: str, field: str = "kana_and_birth_date.birth_date") -> str:
    """`YYYY-MM-DD` in ASCII digits, a calendar date."""
    if len(value) > 10 or not _DATE.fullmatch(value):
        raise _refuse(field, "生年月日は YYYY-MM-DD で入力してください")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise _refuse(field, "生年月日は YYYY-MM-DD で入力してください") from None
    return value


def phone(value: str, field: str = "phone") -> str:
    if len(value) > MAX_PHONE:
        raise _refuse(field, f"電話番号は{MAX_PHONE}文字以内で入力してください")
    return value


def instant(value: str, field: str) -> str:
    """An RFC 3339 time as text, before it is parsed (at most 40 characters)."""
    if len(value) > MAX_INSTANT:
        raise _refuse(field, "日時は RFC 3339 形式で入力してください")
    return value


def attachment_kinds(values: Sequence[str], field: str = "present") -> list[str]:
    """Attachment kinds (receipt, id_copy, ...): at most 20, each a well-formed id."""
    if len(values) > MAX_ATTACHMENTS:
        raise _refuse(field, f"添付書類の種類は{MAX_ATTACHMENTS}件までです")
    return [identifier(field, value) for value in values]
