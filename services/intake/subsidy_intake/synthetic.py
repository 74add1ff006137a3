"""Synthetic intake traffic for the demo, the tests and the benchmarks.

Splits synthetic applications (subsidy_rules.synth) the way they reach intake: online
answers that a LoGoフォーム export can carry (well-formed, one row per 回答ID, no more
purchases than the form has groups) and paper forms (keyed by operators).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from subsidy_intake.logo_csv import ColumnMapping
from subsidy_rules.synth import MALFORMED, SyntheticApplication, generate


def by_channel(
    synthetic: Iterable[SyntheticApplication], mapping: ColumnMapping
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(online records for a LoGo export, paper records) of the well-formed applications."""
    online: list[dict[str, Any]] = []
    paper: list[dict[str, Any]] = []
    answers: set[str] = set()
    groups = mapping.purchase_groups
    for item in synthetic:
        record = item.record
        if set(item.defects) & set(MALFORMED) or len(record["purchases"]) > groups:
            continue
        answer = record.get("logo_answer_id")
        if record["channel"] == "paper" or not answer:
            paper.append(record)
        elif answer not in answers:
            answers.add(answer)
            online.append(record)
    return online, paper


def online_applications(count: int, seed: int, mapping: ColumnMapping) -> list[dict[str, Any]]:
    """`count` online records fit for one LoGo export (deterministic for a seed)."""
    online, _ = by_channel(generate(count * 2 + 100, seed), mapping)
    if len(online) < count:
        raise ValueError(
            f"only {len(online)} online applications in {count * 2 + 100} synthetic ones"
        )
    return online[:count]
