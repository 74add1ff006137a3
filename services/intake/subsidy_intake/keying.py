"""Paper entry with verification keying (ベリファイ入力), stored and decided.

A paper form (by its control number, `form_id`) is keyed twice by two different
operators. The first keying is stored encrypted (its bank fields also as keyed HMACs:
intake cannot decrypt the bank class); the second is compared with it
(verification.compare_keyings): when they agree the application is submitted in the
same transaction, otherwise the keying is stored as a mismatch and the differing field
paths are returned for a third look. The third look (`resolve`) is a keying by an
operator who keyed neither of the first two; it replaces both and is submitted.

A form already accepted is never keyed into it again (issue 15: re-keying with other values
answered ACCEPTED and changed nothing). A keying that agrees with the accepted one (a retry,
compared like a verification keying) answers ACCEPTED with the application number again,
and stores nothing; one with other values is refused with FAILED_PRECONDITION naming the
application and the differing fields (never their values): what changes a stored
application is a correction (補正, SubmitCorrection: its own request id, keyed twice for
paper, announced to review), never a keying of the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from subsidy_intake import limits
from subsidy_intake.repository import IntakeRepository
from subsidy_intake.service import IntakeService, store
from subsidy_intake.verification import KeyingOutcome, compare_keyings, decide
from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict
from subsidy_platform.unit_of_work import Work

RPC = "KeyPaperForm"
SHOWN_FIELDS = 5


def _rekeyed(number: str, differing: list[str]) -> str:
    """The refusal of a re-keying with other values: the application and the fields."""
    fields = "、".join(differing[:SHOWN_FIELDS]) + (
        " ほか" if len(differing) > SHOWN_FIELDS else ""
    )
    return (
        f"この用紙は申請番号 {number} として受け付け済みで、入力内容が受付時と異なります"
        f"（{fields}）。受け付け済みの申請を直すには補正入力をしてください"
    )


@dataclass(frozen=True, slots=True)
class KeyingResult:
    outcome: KeyingOutcome
    differing_fields: tuple[str, ...] = ()
    application_number: str | None = None


def key_paper_form(
    service: IntakeService,
    who: Principal,
    program_id: str,
    form_id: str,
    record: dict[str, Any],
    *,
    resolve: bool = False,
) -> KeyingResult:
    form_id = limits.form_id(form_id)
    program = service.open_program(program_id, paper=True)
    record = {**record, "channel": "paper"}
    [prepared] = service.prepare(program, [record])  # validates the keyed record
    with service.uow() as work:
        work.lock(f"paper-form:{program.id}:{form_id}")
        repo = service.repo(work, program.id)
        keyings = repo.entries.keyings(program.id, form_id)
        accepted = next((k for k in keyings if k.application_id is not None), None)
        if accepted is not None:
            stored = repo.entries.keyed_record(accepted.id)
            differing = compare_keyings(stored, repo.entries.comparable(record))
            if differing:
                raise Conflict(_rekeyed(accepted.application_number or "", differing))
            return KeyingResult(
                KeyingOutcome.ACCEPTED, application_number=accepted.application_number
            )
        operators = {k.operator for k in keyings}
        if not keyings:
            _store(
                work, repo, who, program.id, form_id, 1, record, KeyingOutcome.FIRST_KEYING_STORED
            )
            return KeyingResult(KeyingOutcome.FIRST_KEYING_STORED)
        if resolve:
            if len(keyings) < 2 or who.subject in operators:
                return KeyingResult(KeyingOutcome.SAME_OPERATOR)
            diffs: list[str] = []
        else:
            first = repo.entries.keyed_record(keyings[0].id)
            keyed = repo.entries.comparable(record)  # bank fields as HMACs, like `first`
            if len(keyings) >= 2:
                return KeyingResult(KeyingOutcome.MISMATCH, tuple(compare_keyings(first, keyed)))
            diffs = compare_keyings(first, keyed)
            outcome = decide(keyings[0].operator, who.subject, diffs)
            if outcome is KeyingOutcome.SAME_OPERATOR:
                return KeyingResult(outcome)
            if outcome is KeyingOutcome.MISMATCH:
                _store(work, repo, who, program.id, form_id, 2, record, outcome)
                return KeyingResult(outcome, tuple(diffs))
        result = store(service, work, who, program, f"paper:{form_id}", prepared, RPC)
        keying = _store(
            work, repo, who, program.id, form_id, len(keyings) + 1, record, KeyingOutcome.ACCEPTED
        )
        repo.entries.accept_keying(keying, result.application_number)
        return KeyingResult(KeyingOutcome.ACCEPTED, application_number=result.application_number)


def _store(
    work: Work[IntakeRepository],
    repo: IntakeRepository,
    who: Principal,
    program_id: str,
    form_id: str,
    round_: int,
    record: dict[str, Any],
    outcome: KeyingOutcome,
) -> int:
    """Store one keying (encrypted) and note its audit event; the keying's id."""
    keying = repo.entries.add_keying(program_id, form_id, round_, who.subject, record, outcome.name)
    work.audit(
        who, RPC, "create", application=None, fields=("paper_form",), purpose=f"form {form_id}"
    )
    return keying
