"""Phone-number normalisation: Japanese numbers to their digits in national form.

Full-width digits, hyphens of every look, parentheses and spaces are dropped; an
international +81 prefix becomes the trunk prefix 0 (+81 90-... -> 090...). The
result is digits only; `ValueError` when fewer than 10 or more than 11 digits remain
(the length of Japanese fixed and mobile numbers).
"""

from __future__ import annotations

import unicodedata


def normalize_phone(text: str) -> str:
    """Digits of a Japanese phone number in national form (0 + 9 or 10 digits)."""
    folded = unicodedata.normalize("NFKC", text).strip()
    international = folded.startswith("+81")
    digits = "".join(ch for ch in (folded[3:] if international else folded) if ch.isdigit())
    if international:
        digits = "0" + digits.removeprefix("0")
    if not 10 <= len(digits) <= 11 or not digits.startswith("0"):
        raise ValueError(f"not a Japanese phone number: {len(digits)} digits")
    return digits
