"""Limits on what a caller may send, checked in one place before any work (issue 11).

Every identifier and free text a caller controls is bounded here, and a value that breaks
a limit is `INVALID_ARGUMENT` naming the field; the message never repeats the value.

- identifiers (request ids, application numbers, handover ids): at most 64 characters of
  `[A-Za-z0-9_.:-]`;
- free texts (purposes, notes, reasons, problems): at most their documented length
  (200 characters unless said otherwise), no NUL or other control characters except
  line breaks and tabs.
"""

from __future__ import annotations

import re

from subsidy_platform.errors import FieldViolation, InvalidArgument

MAX_ID = 64
MAX_TEXT = 200
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def identifier(field: str, value: str, *, required: bool = True) -> str:
    """A caller's identifier, checked; empty only when not required."""
    if not value:
        if required:
            raise InvalidArgument([FieldViolation(field, "値を入力してください")])
        return ""
    if len(value) > MAX_ID or not _ID.fullmatch(value):
        raise InvalidArgument(
            [FieldViolation(field, f"英数字と _ . : - の{MAX_ID}文字以内で入力してください")]
        )
    return value


def bounded_text(field: str, value: str, limit: int = MAX_TEXT, *, required: bool = False) -> str:
    """A caller's free text, stripped and checked against `limit` characters."""
    if len(value) > limit * 4:
        raise InvalidArgument([FieldViolation(field, f"{limit}文字以内で入力してください")])
    stripped = value.strip()
    if required and not stripped:
        raise InvalidArgument([FieldViolation(field, "値を入力してください")])
    if len(stripped) > limit:
        raise InvalidArgument([FieldViolation(field, f"{limit}文字以内で入力してください")])
    if _CONTROL.search(stripped):
        raise InvalidArgument([FieldViolation(field, "制御文字は使えません")])
    return stripped
