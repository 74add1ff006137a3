"""Private adapter to the Japan Post customer barcode of the rules library (until merged).

The barcode itself (カスタマバーコード: extraction of the address number, CC4 padding to 20
characters, the modulo-19 check character, the bar pattern and the manual's dimensions) is
`subsidy_rules.customer_barcode`, written apart from this service. This module imports it
lazily, so that the service runs (and says so in each batch's manifest) where that module is
not installed yet, and reads its `BAR_DIMENSIONS` whether it is a mapping or an object.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

MODULE = "subsidy_rules.customer_barcode"
NAMES = {
    "width": ("bar_width", "width"),
    "pitch": ("pitch", "bar_pitch"),
    "full": ("full", "long", "full_height", "long_height", "long_bar", "F"),
    "semi": ("semi_long", "semi", "semi_long_height", "semilong", "ascender", "A"),
    "timing": ("timing", "short", "timing_height", "timing_bar", "T"),
}


class BarcodeUnavailable(LookupError):
    """The customer barcode module is not installed."""


@dataclass(frozen=True)
class BarDimensions:
    """The bars in millimetres (the manual's reference size)."""

    width: float
    pitch: float
    full: float
    semi: float
    timing: float


def module() -> ModuleType:
    try:
        return importlib.import_module(MODULE)
    except ImportError as error:
        raise BarcodeUnavailable(MODULE) from error


def available() -> bool:
    try:
        module()
    except BarcodeUnavailable:
        return False
    return True


def _read(source: Any, names: tuple[str, ...]) -> float:
    for name in names:
        value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
        if value is not None:
            return float(value)
    raise BarcodeUnavailable(f"{MODULE}.BAR_DIMENSIONS has none of {names}")


def dimensions() -> BarDimensions:
    source = module().BAR_DIMENSIONS
    return BarDimensions(**{key: _read(source, names) for key, names in NAMES.items()})


def bar_kinds(postal_code: str, address: str) -> str:
    """One letter per bar (F, A, D, T); ValueError (BarcodeError) for a code it refuses."""
    barcode = module()
    return str(barcode.bar_kinds(barcode.customer_barcode(postal_code, address)))


def format_barcode(postal_code: str, address: str) -> str:
    return str(module().format_barcode(postal_code, address))
