"""Limits on what a caller may send, checked in one place before any work (issue 11).

Every identifier and free text a caller controls is bounded here, and a value that breaks
a limit is `INVALID_ARGUMENT` naming the field; the message never repeats the value.

- identifiers (request ids, application numbers, handover ids): at most 64 characters of
  `[A-Za-z0-9_.:-]` (event ids of the outbox contract: at most 200);
- free texts (purposes, notes, reasons, problems): at most their documented length
  (200 characters unless said otherwise), no NUL or other control characters (C0, C1,
  DEL, lone surrogates, U+2028/U+2029) except line breaks and tabs.

A message may name an identifier the caller sent only through `shown`: a well-formed one
short enough to be real, never anything else.
"""

from __future__ import annotations

import re

from subsidy_platform.errors import FieldViolation, InvalidArgument

MAX_ID = 64
MAX_TEXT = 200
MAX_SHOWN = 32
NOT_SHOWN = "（指定された値）"
_ID = re.compile(r"[A-Za-z0-9_.:\-]+")
# C0 and C1 controls, DEL, lone surrogates, and the line/paragraph separators (U+2028/9)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def identifier(field: str, value: str, *, required: bool = True, limit: int = MAX_ID) -> str:
    """A caller's identifier, checked (at most `limit` characters); empty only when not
    required."""
    if not value:
        if required:
            raise InvalidArgument([FieldViolation(field, "値を入力してください")])
        return ""
    if len(value) > limit or not _ID.fullmatch(value):
        raise InvalidArgument(
            [FieldViolation(field, f"英数字と _ . : - の{limit}文字以内で入力してください")]
        )
    return value


def shown(value: str, limit: int = MAX_SHOWN) -> str:
    """An identifier as a message may repeat it: the value when it is a well-formed id of at
    most `limit` characters, a fixed placeholder otherwise."""
    if len(value) <= limit and _ID.fullmatch(value):
        return value
    return NOT_SHOWN


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
