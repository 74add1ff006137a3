"""The demo's review part: a simulated checker and a simulated ward, over gRPC.

After intake has taken the program's applications, this carries every one of them to a
decision the way the contractor and the ward would: wait until review has learnt of each
application (intake's outbox), resolve every duplicate group (strong evidence: keep the
earliest; name kana + birth date alone: namesakes, cleared), record the attachments a
contractor received, request corrections where a document is missing, key some of the
corrections in (the others wait for their deadline: expiry never names a future day, so
they stay 補正依頼中 in this run), check every application, hand the ready ones
to the ward as an AES-256 ZIP under `out/ward/`, let a simulated ward fill in its decisions
(one grant reduced, approved by a second ward officer), import the decision file, and print
the decisions and the handover ledger (管理簿).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import grpc
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy.review.v1 import review_pb2, review_pb2_grpc
from subsidy_review.handover import seal, unseal

from subsidy_platform.excel_csv import read_excel_csv, write_excel_csv
from subsidy_platform.private_files import write_private

Metadata = tuple[tuple[str, str | bytes], ...]
T = TypeVar("T")
ATTACHMENTS = ("receipt", "photo_after_installation", "id_copy", "bank_account_proof")
MANUAL_ITEMS = (
    "attachments_legible",
    "receipt_matches",
    "photo_shows_installation",
    "account_proof_matches",
)
WORKERS = 8


def step(text: str) -> None:
    print(f"\n--- {text}", flush=True)


def parallel(function: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(function, items))


def request_id() -> str:
    return uuid.uuid4().hex


class ReviewDemo:
    """The simulated contractor checkers and ward officers of the demo."""

    def __init__(
        self,
        intake: intake_pb2_grpc.IntakeServiceStub,
        review: review_pb2_grpc.ReviewServiceStub,
        staff: dict[str, Metadata],
        program_id: str,
        out: Path,
    ) -> None:
        self.intake = intake
        self.review = review
        self.staff = staff
        self.program_id = program_id
        self.out = out

    def worklist(self, filter_: review_pb2.WorklistFilter.ValueType) -> list[review_pb2.Case]:
        cases: list[review_pb2.Case] = []
        token = ""
        while True:
            page = self.review.ListWorklist(
                review_pb2.ListWorklistRequest(
                    program_id=self.program_id, filter=filter_, page_size=200, page_token=token
                ),
                metadata=self.staff["checker"],
            )
            cases.extend(page.cases)
            token = page.next_page_token
            if not token:
                return cases

    def wait_for_cases(self, expected: int, timeout: float = 300.0) -> int:
        """Until review has a case for every application intake took (its outbox)."""
        deadline = time.monotonic() + timeout
        total = 0
        while time.monotonic() < deadline:
            total = self.review.ListWorklist(
                review_pb2.ListWorklistRequest(program_id=self.program_id, page_size=1),
                metadata=self.staff["checker"],
            ).total
            if total >= expected:
                break
            time.sleep(1.0)
        return total

    # the contractor ------------------------------------------------------------------

    def record_attachments(self, numbers: list[str], missing_receipt: set[str]) -> None:
        def record(number: str) -> None:
            present = [a for a in ATTACHMENTS if not (a == "receipt" and number in missing_receipt)]
            self.intake.RecordAttachments(
                intake_pb2.RecordAttachmentsRequest(application_number=number, present=present),
                metadata=self.staff["operator"],
            )

        parallel(record, numbers)

    def resolve_duplicates(self) -> Counter[str]:
        outcome: Counter[str] = Counter()
        for case in self.worklist(review_pb2.FLAGGED_DUPLICATES):
            current = self.review.GetCase(
                review_pb2.GetCaseRequest(application_number=case.application_number),
                metadata=self.staff["checker"],
            )
            if current.state != review_pb2.DUPLICATE_SUSPECTED:
                continue  # resolved with an earlier member of its group
            group = self.review.GetDuplicateGroup(
                review_pb2.GetDuplicateGroupRequest(
                    application_number=case.application_number, purpose="重複の確認"
                ),
                metadata=self.staff["checker"],
            )
            request = review_pb2.ResolveDuplicatesRequest(
                request_id=request_id(), application_number=case.application_number
            )
            if group.strength == "strong":
                request.keep = group.members[0].application_number
                outcome["kept the earliest (strong evidence)"] += 1
            else:
                request.clear_reason = "氏名フリガナと生年月日のみの一致で、住所・口座が異なる別人"
                outcome["cleared (namesakes)"] += 1
            try:
                self.review.ResolveDuplicates(request, metadata=self.staff["checker"])
            except grpc.RpcError as error:
                outcome[f"refused: {error.code().name}"] += 1
        return outcome

    def check(self, case: review_pb2.Case) -> str:
        number = case.application_number
        who = self.staff["checker"]
        try:
            self.review.ClaimApplication(
                review_pb2.ClaimRequest(application_number=number), metadata=who
            )
            self.review.RecordCheck(
                review_pb2.RecordCheckRequest(
                    request_id=request_id(), application_number=number, confirmed=MANUAL_ITEMS
                ),
                metadata=who,
            )
            return "checked"
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
        self.review.RequestCorrection(
            review_pb2.RequestCorrectionRequest(
                request_id=request_id(),
                application_number=number,
                items=[
                    events_pb2.CorrectionItem(
                        field="receipt",
                        problem="領収書の写しが添付されていません。ご提出ください。",
                    )
                ],
            ),
            metadata=who,
        )
        return "correction requested"

    def check_all(self) -> Counter[str]:
        return Counter(parallel(self.check, self.worklist(review_pb2.TO_CHECK)))

    def key_corrections(self, share: float) -> int:
        """The applicants who answered: the receipt arrives and the operator keys it in."""
        waiting = self.worklist(review_pb2.AWAITING_CORRECTION_FILTER)
        answered = waiting[: int(len(waiting) * share)]

        def key(case: review_pb2.Case) -> None:
            number = case.application_number
            operator = self.staff["operator"]
            self.intake.RecordAttachments(
                intake_pb2.RecordAttachmentsRequest(application_number=number, present=ATTACHMENTS),
                metadata=operator,
            )
            view = self.intake.GetApplication(
                intake_pb2.GetApplicationRequest(
                    application_number=number, unmask=True, purpose="補正の入力"
                ),
                metadata=operator,
            )
            request = intake_pb2.SubmitCorrectionRequest(
                request_id=request_id(),
                application_number=number,
                application=view.application,
                note="領収書の写しの提出",
            )
            if view.application.channel == common_pb2.PAPER:
                request.second_keying.CopyFrom(view.application)
            self.intake.SubmitCorrection(request, metadata=operator)

        parallel(key, answered)
        return len(answered)

    def expire_corrections(self, as_of: str) -> int:
        expired = self.review.ExpireCorrections(
            review_pb2.ExpireCorrectionsRequest(program_id=self.program_id, as_of=as_of),
            metadata=self.staff["checker"],
        )
        return len(expired.expired)

    # the ward -------------------------------------------------------------------------

    def hand_over(self) -> review_pb2.WardExport:
        export: review_pb2.WardExport = self.review.ExportForWard(
            review_pb2.ExportForWardRequest(request_id=request_id(), program_id=self.program_id),
            metadata=self.staff["ward"],
            timeout=600,
        )
        write_private(self.out / export.file_name, export.sealed_file)
        return export

    def ward_decides(self, export: review_pb2.WardExport) -> tuple[Path, str | None]:
        """The ward's intranet PC: open the file, decide as proposed, one grant reduced."""
        files = unseal(export.sealed_file, export.password)
        _, rows = read_excel_csv(files["applications.csv"])
        header, body = rows[0], rows[1:]
        col = {name: i for i, name in enumerate(header)}
        reduced = None
        for row in body:
            if row[col["審査結果案"]] == "交付":
                row[col["決定"]] = "交付"
                amount = int(row[col["算定額"]])
                if reduced is None and amount > 1000:
                    reduced = row[col["申請番号"]]
                    amount -= 1000
                    row[col["減額理由"]] = "領収書のうち送料分は補助対象外のため"
                row[col["交付決定額"]] = str(amount)
            else:
                row[col["決定"]] = "不交付"
                row[col["不交付理由コード"]] = row[col["理由コード案"]] or "WARD_DECISION"
        sealed = seal({"applications.csv": write_excel_csv(header, body)}, export.password)
        path = self.out / export.file_name.replace("handover-", "decisions-")
        write_private(path, sealed)
        return path, reduced

    def import_decisions(self, path: Path, password: str) -> review_pb2.DecisionImportReport:
        report: review_pb2.DecisionImportReport = self.review.ImportWardDecisions(
            review_pb2.ImportWardDecisionsRequest(
                request_id=request_id(),
                program_id=self.program_id,
                file_name=path.name,
                sealed_file=path.read_bytes(),
                password=password,
            ),
            metadata=self.staff["ward"],
            timeout=600,
        )
        return report

    def approve(self, number: str) -> review_pb2.Case:
        case: review_pb2.Case = self.review.ApproveReducedGrant(
            review_pb2.ApproveReducedGrantRequest(
                request_id=request_id(),
                application_number=number,
                verdict=review_pb2.REDUCTION_VERDICT_APPROVE,
            ),
            metadata=self.staff["ward2"],
        )
        return case

    def ledger(self) -> list[review_pb2.Handover]:
        return list(
            self.review.ListHandovers(
                review_pb2.ListHandoversRequest(program_id=self.program_id),
                metadata=self.staff["ward"],
            ).handovers
        )


def run_review(demo: ReviewDemo, expected: int) -> None:
    """Every application from intake to the ward's decision (see the module docstring)."""
    step(f"review: waiting until the review service knows all {expected:,} applications")
    started = time.perf_counter()
    known = demo.wait_for_cases(expected)
    print(
        f"{known:,} cases in review after {time.perf_counter() - started:.1f} s (intake's outbox)"
    )

    numbers = sorted(
        c.application_number for c in demo.worklist(review_pb2.WORKLIST_FILTER_UNSPECIFIED)
    )
    missing = set(numbers[::40])
    step(f"contractor records the attachments received ({len(missing)} without a receipt)")
    demo.record_attachments(numbers, missing)

    step("checker: every duplicate group, evidence side by side")
    for outcome, n in sorted(demo.resolve_duplicates().items()):
        print(f"    {outcome}: {n}")

    step("checker: claim, rules' evaluation, manual items, 審査日 — every application")
    started = time.perf_counter()
    for outcome, n in sorted(demo.check_all().items()):
        print(f"    {outcome}: {n}")
    print(f"    in {time.perf_counter() - started:.1f} s")

    step("corrections (補正): half of the applicants answer, the others have until the deadline")
    answered = demo.key_corrections(0.5)
    print(f"    corrections keyed in: {answered}")
    demo.wait_for_cases(expected)
    time.sleep(2.0)  # intake's CORRECTED events reach review through the outbox
    for outcome, n in sorted(demo.check_all().items()):
        print(f"    re-checked: {outcome}: {n}")
    # expiry judges deadlines on the ward's today and never on a future day: the requests
    # made today (deadline 14 days on) stay 補正依頼中 and are not handed over in this run
    expired = demo.expire_corrections("")
    print(f"    expired on the ward's today (to the ward as not granted): {expired}")
    waiting = len(demo.worklist(review_pb2.AWAITING_CORRECTION_FILTER))
    print(f"    still awaiting a correction (deadline not yet passed): {waiting}")

    step("handover to the ward (step 5): AES-256 ZIP, password for separate delivery")
    export = demo.hand_over()
    print(
        f"    {demo.out / export.file_name}: {export.records:,} records, sha256 {export.sha256[:16]}…"
    )
    print(f"    password (shown once to the exporting officer): {export.password}")

    step("the ward decides on its intranet PC and sends the decision file back (step 7)")
    path, reduced = demo.ward_decides(export)
    wrong = demo.import_decisions(path, "not-the-password-1")
    print(f"    with a wrong password: committed={wrong.committed} ({wrong.errors[0].message})")
    report = demo.import_decisions(path, export.password)
    print(
        f"    {path}: committed={report.committed} 交付 {report.granted:,} 不交付 "
        f"{report.not_granted:,} 減額承認待ち {report.pending_approval} 未決定 {report.undecided}"
    )
    for error in report.errors[:5]:
        print(f"    {error.line}行目 {error.column}: {error.message}")
    if reduced:
        approved = demo.approve(reduced)
        print(
            f"    reduced grant {reduced} approved by a second ward officer: "
            f"{approved.state_label} {approved.granted_amount:,} 円"
        )

    step("decisions")
    final = Counter(
        review_pb2.CaseState.Name(c.state)
        for c in demo.worklist(review_pb2.WORKLIST_FILTER_UNSPECIFIED)
    )
    print(f"    still open: {dict(final) or 'none'}")

    step("handover ledger (管理簿)")
    for entry in demo.ledger():
        print(
            f"    {entry.at[:19]} {entry.direction:6} {entry.handler:14} {entry.records:6,} 件 "
            f"{entry.file_name} {entry.sha256[:12]}… {entry.content}"
        )
