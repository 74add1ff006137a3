"""Postal-code normalisation: 〒, widths and hyphen look-alikes to seven digits."""

from __future__ import annotations

import unicodedata


def normalize_postal_code(text: str) -> str:
    """Seven ASCII digits (`160-0023`, `１６０－００２３`, `〒1600023` -> `1600023`)."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isdigit())
    if len(digits) != 7:
        raise ValueError(f"a postal code has 7 digits, got {len(digits)}")
    return digits
