"""Postal-code normalisation: 〒, widths and hyphen look-alikes to seven ASCII digits.

Digits of other scripts (٣, ३: `str.isdigit` takes them) are refused, as is text longer
than 16 characters.
"""

from __future__ import annotations

import unicodedata


def normalize_postal_code(text: str) -> str:
    """Seven ASCII digits (`160-0023`, `１６０－００２３`, `〒1600023` -> `1600023`)."""
    if len(text) > 16:
        raise ValueError("a postal code has at most 16 characters")
    folded = unicodedata.normalize("NFKC", text)
    if any(ch.isdigit() and ch not in "0123456789" for ch in folded):
        raise ValueError("a postal code is written in ASCII or full-width digits")
    digits = "".join(ch for ch in folded if ch in "0123456789")
    if len(digits) != 7:
        raise ValueError(f"a postal code has 7 digits, got {len(digits)}")
    return digits
