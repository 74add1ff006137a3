"""A program's lifecycle from its spec's dates, and when its erasure may happen (pure).

Phases (issue 9), each a function of the day in Japan:

- `Draft` before the application period opens;
- `Open` while it runs (intake accepts applications);
- `Closed` after the application deadline, until `spec.lifecycle.processingEnd` inclusive
  (review, notices and payments finish; intake refuses new applications);
- `Retention` after the end of processing: the data is kept only for the handover to the
  ward and for inquiries, until the contract ends;
- `Erased` once the erasure at the end of the contract was performed.

The erasure is due on `spec.lifecycle.contractEnd` (or any day after it, while not yet
performed) and is refused unless the spec names two different approvers and records the
ward's data handover (返還・引渡し) as complete (the seed: "at the end of the contract all
personal data is returned and electronic data erased, with a written erasure report").
A bad spec is a `SpecError` naming the key (the rules library's own messages for the
definition).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from subsidy_rules.parameters import Period, ProgramError
from subsidy_rules.program import Program, parse_program


class Phase(StrEnum):
    DRAFT = "Draft"
    OPEN = "Open"
    CLOSED = "Closed"
    RETENTION = "Retention"
    ERASED = "Erased"
    INVALID = "Invalid"


class SpecError(ValueError):
    """The SubsidyProgram's spec is invalid at `key`."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class Approver:
    name: str
    title: str | None


@dataclass(frozen=True)
class Lifecycle:
    processing_end: date | None
    contract_end: date | None
    approvers: tuple[Approver, ...]
    handover_completed: bool
    handover_completed_on: date | None
    handover_reference: str | None
    handover_recorded_by: str | None


@dataclass(frozen=True)
class ProgramSpec:
    """A validated spec: the rules library's program, its definition as given, the lifecycle."""

    program: Program
    definition: Mapping[str, Any]
    lifecycle: Lifecycle
    opens: date | None
    closes: date | None

    @property
    def program_id(self) -> str:
        return self.program.id


def parse_spec(name: str, spec: Mapping[str, Any]) -> ProgramSpec:
    """Validate a SubsidyProgram's spec (the resource is named `name`)."""
    definition = spec.get("definition")
    if not isinstance(definition, Mapping):
        raise SpecError("spec.definition", "必須です (プログラム定義)")
    try:
        program = parse_program(dict(definition), f"SubsidyProgram/{name}")
    except ProgramError as error:
        key = f"spec.definition.{error.key}" if error.key else "spec.definition"
        raise SpecError(key, error.message) from None
    if program.id != name:
        raise SpecError("spec.definition.id", "リソース名 (metadata.name) と一致させてください")
    periods: list[Period] = [d.value for d in program.parameters["application_period"]]
    starts = [p.start for p in periods]
    opens = None if any(s is None for s in starts) else min(s for s in starts if s is not None)
    closes = periods[-1].end
    lifecycle = _lifecycle(spec.get("lifecycle") or {}, closes)
    return ProgramSpec(program, definition, lifecycle, opens, closes)


def phase_on(spec: ProgramSpec, today: date, *, erased: bool = False) -> Phase:
    """The phase of the program on `today` (Japan's date)."""
    if erased:
        return Phase.ERASED
    if spec.opens is not None and today < spec.opens:
        return Phase.DRAFT
    if spec.closes is None or today <= spec.closes:
        return Phase.OPEN
    end = spec.lifecycle.processing_end
    if end is None or today <= end:
        return Phase.CLOSED
    return Phase.RETENTION


def erasure_due(spec: ProgramSpec, today: date) -> bool:
    """Whether the contract has ended and the program is in retention."""
    end = spec.lifecycle.contract_end
    return end is not None and today >= end and phase_on(spec, today) is Phase.RETENTION


def erasure_refusal(lifecycle: Lifecycle) -> str | None:
    """Why the erasure may not happen now (None: it may)."""
    names = {_normalised(a.name) for a in lifecycle.approvers}
    if len(names) < 2:
        return "消去には異なる承認者2名が必要です (spec.lifecycle.erasureApprovers)"
    if not lifecycle.handover_completed:
        return "区へのデータ返還の完了が記録されていません (spec.lifecycle.handover.completed)"
    return None


def _normalised(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def _lifecycle(raw: Any, closes: date | None) -> Lifecycle:
    if not isinstance(raw, Mapping):
        raise SpecError("spec.lifecycle", "オブジェクトで指定してください")
    processing_end = _day(raw.get("processingEnd"), "spec.lifecycle.processingEnd")
    contract_end = _day(raw.get("contractEnd"), "spec.lifecycle.contractEnd")
    if processing_end is not None and (closes is None or processing_end < closes):
        raise SpecError(
            "spec.lifecycle.processingEnd", "申請受付期間の終了日以降の日付にしてください"
        )
    if contract_end is not None and (processing_end is None or contract_end < processing_end):
        raise SpecError(
            "spec.lifecycle.contractEnd", "processingEnd を指定し、それ以降の日付にしてください"
        )
    approvers = []
    for i, entry in enumerate(raw.get("erasureApprovers") or ()):
        key = f"spec.lifecycle.erasureApprovers[{i}]"
        if not isinstance(entry, Mapping) or not _text(entry.get("name")):
            raise SpecError(f"{key}.name", "承認者の氏名を入力してください")
        title = entry.get("title")
        approvers.append(Approver(str(entry["name"]).strip(), str(title) if title else None))
    handover = raw.get("handover") or {}
    if not isinstance(handover, Mapping):
        raise SpecError("spec.lifecycle.handover", "オブジェクトで指定してください")
    completed = handover.get("completed", False)
    if not isinstance(completed, bool):
        raise SpecError("spec.lifecycle.handover.completed", "true か false で指定してください")
    return Lifecycle(
        processing_end=processing_end,
        contract_end=contract_end,
        approvers=tuple(approvers),
        handover_completed=completed,
        handover_completed_on=_day(
            handover.get("completedOn"), "spec.lifecycle.handover.completedOn"
        ),
        handover_reference=_optional_text(handover.get("reference")),
        handover_recorded_by=_optional_text(handover.get("recordedBy")),
    )


def _day(value: Any, key: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise SpecError(key, "日付 (YYYY-MM-DD) で指定してください")


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _optional_text(value: Any) -> str | None:
    return str(value) if _text(value) else None
