"""The handover to the ward (flow step 5) and the ward's decision file (step 7).

Export: every case ready for the ward (審査済) goes into one CSV (UTF-8 with BOM, which
Excel opens correctly in Japanese and which holds every character of a name, unlike
CP932) with the proposal and the columns the ward fills in, sealed in an AES-256 ZIP. The
password is generated, returned once to the exporting officer for separate delivery, and
never stored. The cases become 区へ引渡し済, and the handover is written in the ledger
(管理簿: when, who, what, how many records, the file's SHA-256, direction).

Import: the same file comes back with the decisions filled in. It is opened with the
password, checked whole (every row must match an application handed over and still
awaiting a decision; an amount must pass the grant rule: within the rules' amount and the
program's cap, in whole rounding units; a decision date is neither in the future nor
before the application's receipt or review; a refusal needs a reason code), and either applied in one transaction and written in the ledger, or refused whole
with a report per row and nothing changed. A file already imported is refused.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from subsidy_platform.access import Principal
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument
from subsidy_platform.limits import bounded_text, identifier
from subsidy_review.decision_file import ExportedCase, RowError, read_decision_file
from subsidy_review.decisions import apply_decision
from subsidy_review.handover import (
    GRANT,
    NOT_GRANT,
    HandoverRow,
    SealError,
    generate_password,
    handover_csv,
    reason_text,
    seal,
    sha256_hex,
    unseal,
)
from subsidy_review.repository import Case, Correction, Flag
from subsidy_review.service import Review, move, today
from subsidy_review.states import CaseState, Command

CSV_NAME = "applications.csv"
MAX_FILE = 64 * 1024 * 1024
READ_WORKERS = 8
PURPOSE = "区への引渡し"
MAX_PASSWORD = 128
_PASSWORD = re.compile(r"[!-~]+")  # printable ASCII, as the handover's passwords (handover.py)


@dataclass(frozen=True, slots=True)
class Export:
    handover_id: str
    file_name: str
    sealed: bytes
    password: str
    records: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    committed: bool
    rows: int
    granted: int
    not_granted: int
    pending_approval: int
    undecided: int
    errors: tuple[RowError, ...]
    handover_id: str
    sha256: str
    encoding: str


def _row(
    case: Case, record: dict[str, Any], corrections: list[Correction], flags: list[Flag]
) -> HandoverRow:
    applicant = record.get("applicant", {})
    applied = sum(int(p.get("amount", 0)) for p in record.get("purchases", []))
    correction_note = "／".join(
        f"{c.requested_on.isoformat()} " + "、".join(p for _, p in c.items) for c in corrections
    )
    duplicate_note = "／".join(
        f"{f.evidence}: {f.second if f.first == case.application_number else f.first}"
        f" ({f.resolution or '未解消'})"
        for f in flags
    )
    return HandoverRow(
        application_number=case.application_number,
        program_id=case.program_id,
        received_on=case.received_on.isoformat(),
        channel=case.channel,
        checked_on=case.checked_on.isoformat() if case.checked_on else "",
        name=str(applicant.get("name", "")),
        name_kana=str(applicant.get("name_kana", "")),
        birth_date=str(applicant.get("birth_date", "")),
        postal_code=str(applicant.get("postal_code", "")),
        address=str(applicant.get("address", "")),
        applied_amount=applied,
        rules_amount=case.rules_amount,
        proposal=GRANT if case.proposal_granted else NOT_GRANT,
        proposal_reasons=case.proposal_reasons,
        proposal_text=reason_text(case.proposal_reasons),
        duplicate_note=duplicate_note[:500],
        correction_note=correction_note[:500],
    )


def export_for_ward(
    review: Review, who: Principal, request_id: str, program_id: str, limit: int
) -> Export:
    identifier("request_id", request_id)
    program = review.program(program_id)
    if limit < 0:
        raise InvalidArgument([FieldViolation("limit", "0以上で指定してください")])
    with review.uow() as work:
        numbers = work.repo.numbers_in_state(program.id, str(CaseState.CHECKED), limit or None)
        cases = work.repo.cases(numbers)
    if not cases:
        raise Conflict("区へ引き渡す審査済の申請がありません")
    with ThreadPoolExecutor(READ_WORKERS) as pool:
        records = list(
            pool.map(lambda c: review.read_application(c.application_number, who, PURPOSE), cases)
        )
    with review.uow() as work:
        repo = review.repo(work, program.id)
        corrections = repo.corrections_of(numbers)
        flags = repo.flags_touching(numbers)
    rows = [
        _row(
            case,
            record,
            corrections.get(case.application_number, []),
            [f for f in flags if case.application_number in (f.first, f.second)],
        )
        for case, record in zip(cases, records, strict=True)
    ]
    password = generate_password()
    sealed = seal({CSV_NAME: handover_csv(rows)}, password)
    digest = sha256_hex(sealed)
    file_name = f"handover-{program.id}-{today().isoformat()}-{digest[:8]}.zip"
    with review.uow() as work:
        if work.repo.command_seen(
            request_id, "ExportForWard", None, who.subject, program_id=program.id
        ):
            raise Conflict("このリクエストIDの引渡しファイルは既に作成されています")
        work.lock(f"handover:{program.id}")
        current = work.repo.cases(numbers, for_update=True)
        if any(CaseState(c.state) != CaseState.CHECKED for c in current):
            raise Conflict("引渡し対象の申請の状態が変わりました。もう一度作成してください")
        handover_id = work.repo.add_handover(
            program_id=program.id,
            direction="export",
            handler=who.subject,
            role=who.role,
            content=f"区への引渡し（審査済の申請 {len(current)} 件、AES-256 暗号化ZIP）",
            records=len(current),
            file_name=file_name,
            sha256=digest,
            items=[(c.application_number, c.rules_amount) for c in current],
        )
        for case in current:
            move(work, case, Command.HAND_OVER, note="区へ引渡し", who=who, handover_id=handover_id)
            work.audit(
                who,
                "ExportForWard",
                "export",
                application=case.application_number,
                fields=("name", "name_kana", "birth_date", "postal_code", "address"),
                purpose="区への引渡し",
            )
    return Export(handover_id, file_name, sealed, password, len(current), digest)


def import_decisions(
    review: Review,
    who: Principal,
    request_id: str,
    program_id: str,
    file_name: str,
    sealed: bytes,
    password: str,
) -> ImportReport:
    identifier("request_id", request_id)
    program = review.program(program_id)
    name = bounded_text("file_name", file_name, 200, required=True)
    if not password:
        raise InvalidArgument([FieldViolation("password", "パスワードを入力してください")])
    if len(password) > MAX_PASSWORD or not _PASSWORD.fullmatch(password):
        raise InvalidArgument(
            [
                FieldViolation(
                    "password",
                    f"パスワードは半角英数記号の{MAX_PASSWORD}文字以内で入力してください",
                )
            ]
        )
    if len(sealed) > MAX_FILE:
        raise InvalidArgument([FieldViolation("sealed_file", "ファイルが大きすぎます (64MB まで)")])
    digest = sha256_hex(sealed)

    def refused(errors: tuple[RowError, ...], rows: int = 0, encoding: str = "") -> ImportReport:
        return ImportReport(False, rows, 0, 0, 0, 0, errors, "", digest, encoding)

    try:
        files = unseal(sealed, password)
    except SealError as error:
        return refused((RowError(0, "", str(error)),))
    if set(files) != {CSV_NAME}:
        return refused((RowError(0, "", f"ZIPの中身は {CSV_NAME} の1ファイルにしてください"),))
    with review.uow() as work:
        items = work.repo.handover_items(program.id)
        exported = {
            c.application_number: ExportedCase(
                c.application_number,
                program.id,
                items[c.application_number][0],
                c.received_on,
                c.checked_on,
            )
            for c in work.repo.cases(items)
        }
    result = read_decision_file(files[CSV_NAME], exported, program, today())
    rows = len(result.decisions) + result.undecided + len({e.line for e in result.errors})
    if result.errors:
        return refused(result.errors, rows, result.encoding)
    counts = {CaseState.GRANTED: 0, CaseState.NOT_GRANTED: 0, CaseState.PENDING_APPROVAL: 0}
    with review.uow() as work:
        if work.repo.command_seen(
            request_id, "ImportWardDecisions", None, who.subject, program_id=program.id
        ):
            raise Conflict("このリクエストIDの取込は既に行われています")
        work.lock(f"handover:{program.id}")
        if work.repo.sealed_file_seen(program.id, digest, "import"):
            return refused((RowError(0, "", "この決定ファイルは既に取り込まれています"),))
        repo = review.repo(work, program.id)
        work.repo = repo
        numbers = [d.application_number for d in result.decisions]
        current = {c.application_number: c for c in repo.cases(numbers, for_update=True)}
        for decision in result.decisions:
            case = current[decision.application_number]
            if CaseState(case.state) != CaseState.HANDED_OVER:
                raise Conflict("決定ファイルの申請の状態が変わりました。何も反映していません")
            state = apply_decision(
                work,
                case,
                who,
                program,
                granted=decision.granted,
                amount=decision.amount,
                reasons=decision.reasons,
                reduction_reason=decision.reduction_reason,
                note=decision.note,
                decided_on=decision.decided_on,
            )
            counts[state] += 1
        handover_id = repo.add_handover(
            program_id=program.id,
            direction="import",
            handler=who.subject,
            role=who.role,
            content=(
                f"区の決定の取込（交付 {counts[CaseState.GRANTED]} 件、不交付 "
                f"{counts[CaseState.NOT_GRANTED]} 件、減額承認待ち "
                f"{counts[CaseState.PENDING_APPROVAL]} 件）"
            ),
            records=len(result.decisions),
            file_name=name,
            sha256=digest,
        )
    return ImportReport(
        True,
        rows,
        counts[CaseState.GRANTED],
        counts[CaseState.NOT_GRANTED],
        counts[CaseState.PENDING_APPROVAL],
        result.undecided,
        (),
        handover_id,
        digest,
        result.encoding,
    )
