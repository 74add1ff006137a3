"""ベリファイ入力 (verification keying) of paper application forms.

Issue 3, "Paper entry with verification keying": a paper form is keyed twice, by two
different operators, into interchange-format v1 records (libs/subsidy_rules/application.py).
The record is accepted only when both keyings agree; otherwise the differing fields are
shown for a third look. This module holds the pure part: which fields differ, and what
happens to a keying.

Comparison forgives only what a keyer cannot see on screen: Unicode width and
compatibility forms (NFKC: ３ and 3, ｶﾅ and カナ), leading and trailing blanks and runs
of blanks. A different digit, kana or letter is always a difference, and so is a
different type (1000 and "1000"). A missing key, None and a blank string mean the same:
"not filled in".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from enum import Enum
from typing import Any

__all__ = ["KeyingOutcome", "compare_keyings", "decide", "normalise_keyed"]

_BLANKS = re.compile(r"\s+")


class KeyingOutcome(Enum):
    """What happens to a keying of a paper form."""

    FIRST_KEYING_STORED = "first_keying_stored"  # no earlier keying: wait for the second
    ACCEPTED = "accepted"  # two operators keyed the same record
    MISMATCH = "mismatch"  # the keyings differ: show the fields for a third look
    SAME_OPERATOR = "same_operator"  # refused: the second keying needs another operator


def normalise_keyed(value: Any) -> Any:
    """The light normalisation both keyings get before comparison (see module doc)."""
    if isinstance(value, str):
        text = _BLANKS.sub(" ", unicodedata.normalize("NFKC", value)).strip()
        return text or None
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _diff(first: Any, second: Any, path: str, out: list[str]) -> None:
    # A section keyed by one operator only is compared with an empty one, so the report
    # names the fields that were filled in (household.head_name), not the whole section.
    if first is None and isinstance(second, dict | list):
        first = type(second)()
    elif second is None and isinstance(first, dict | list):
        second = type(first)()
    if isinstance(first, dict) and isinstance(second, dict):
        _diff_dicts(first, second, path, out)
    elif isinstance(first, list) and isinstance(second, list):
        _diff_lists(first, second, path, out)
    else:
        a, b = normalise_keyed(first), normalise_keyed(second)
        if type(a) is not type(b) or a != b:
            out.append(path or "(record)")


def _diff_dicts(first: dict[str, Any], second: dict[str, Any], path: str, out: list[str]) -> None:
    keys = list(first) + [key for key in second if key not in first]
    for key in keys:
        _diff(first.get(key), second.get(key), _join(path, str(key)), out)


def _diff_lists(first: list[Any], second: list[Any], path: str, out: list[str]) -> None:
    for index in range(max(len(first), len(second))):
        where = f"{path}[{index}]"
        if index >= len(first) or index >= len(second):
            out.append(where)
        else:
            _diff(first[index], second[index], where, out)


def compare_keyings(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """The field paths where two keyings differ, in record order.

    Paths follow the interchange format's error paths: ``applicant.birth_date``,
    ``purchases[1].amount``; a purchase line keyed by only one operator is reported as
    a whole (``purchases[2]``). An empty list means the keyings agree.
    """
    out: list[str] = []
    _diff_dicts(first, second, "", out)
    return out


def decide(first_operator: str | None, second_operator: str, diffs: Sequence[str]) -> KeyingOutcome:
    """The outcome of a keying by ``second_operator``.

    ``first_operator`` is the operator of the stored first keying, or None when there is
    none yet (this keying is then stored as the first). The same operator can never
    verify their own keying, whatever the diffs say.
    """
    if not second_operator.strip():
        raise ValueError("the operator of a keying must be named")
    if first_operator is None:
        return KeyingOutcome.FIRST_KEYING_STORED
    if first_operator.strip() == second_operator.strip():
        return KeyingOutcome.SAME_OPERATOR
    return KeyingOutcome.MISMATCH if diffs else KeyingOutcome.ACCEPTED
