"""Phone-number normalisation: Japanese numbers to their digits in national form.

Full-width digits, hyphens of every look, parentheses and spaces are dropped; an
international +81 prefix becomes the trunk prefix 0 (+81 90-... -> 090...). The
result is ASCII digits only; `ValueError` when fewer than 10 or more than 11 digits remain
(the length of Japanese fixed and mobile numbers), when the text is longer than 32
characters, or when it holds digits of another script (٣, ३: Python's `str.isdigit` takes
them, a phone number never has them).
"""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 32
_ASCII_DIGITS = frozenset("0123456789")


def normalize_phone(text: str) -> str:
    """ASCII digits of a Japanese phone number in national form (0 + 9 or 10 digits)."""
    if len(text) > MAX_LENGTH:
        raise ValueError(f"a phone number has at most {MAX_LENGTH} characters")
    folded = unicodedata.normalize("NFKC", text).strip()
    if any(ch.isdigit() and ch not in _ASCII_DIGITS for ch in folded):
        raise ValueError("a phone number is written in ASCII or full-width digits")
    international = folded.startswith("+81")
    rest = folded[3:] if international else folded
    digits = "".join(ch for ch in rest if ch in _ASCII_DIGITS)
    if international:
        digits = "0" + digits.removeprefix("0")
    if not 10 <= len(digits) <= 11 or not digits.startswith("0"):
        raise ValueError(f"not a Japanese phone number: {len(digits)} digits")
    return digits
