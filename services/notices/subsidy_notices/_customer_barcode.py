"""The Japan Post customer barcode (カスタマバーコード) as the postcards draw it.

The barcode itself (extraction of the address number, CC4 padding to 20 characters, the
modulo-19 check character, the bar pattern and the manual's dimensions) is the rules
library's pure `subsidy_rules.customer_barcode`; this module gives the layout the bar kinds
of one addressee and the bar sizes in millimetres at the manual's reference size.
"""

from __future__ import annotations

from dataclasses import dataclass

from subsidy_rules import customer_barcode
from subsidy_rules.customer_barcode import BarcodeError

__all__ = ["BarDimensions", "BarcodeError", "bar_kinds", "dimensions", "format_barcode"]


@dataclass(frozen=True)
class BarDimensions:
    """The bars in millimetres (the manual's reference size, 10 pt)."""

    width: float
    pitch: float
    full: float
    semi: float
    timing: float


def dimensions() -> BarDimensions:
    size = customer_barcode.BAR_DIMENSIONS
    return BarDimensions(
        width=size.bar_width,
        pitch=size.bar_pitch,
        full=size.long_bar,
        semi=size.semi_long_bar,
        timing=size.timing_bar,
    )


def bar_kinds(postal_code: str, address: str) -> str:
    """One letter per bar (F, A, D, T); BarcodeError (a ValueError) for what it refuses."""
    return customer_barcode.bar_kinds(customer_barcode.customer_barcode(postal_code, address))


def format_barcode(postal_code: str, address: str) -> str:
    return customer_barcode.format_barcode(postal_code, address)
