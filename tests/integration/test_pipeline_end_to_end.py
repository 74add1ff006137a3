"""The whole pipeline on real services, following real events: no event is sent by hand.

Applications come in through a LoGoフォーム CSV import and through paper forms keyed twice;
intake's outbox tells review; a checker checks them; the ward decides one directly (a full
grant) and the others through the handover and decision file (one grant reduced and
approved by a second ward officer, one refusal); review's outbox tells payments and
notices; payments builds a batch that a second person releases, and the file read back
pays exactly the granted amounts; notices holds the right notice for every decision; the
call center's timeline shows each step; and the payments reconciliation balances.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from intake_support import PROGRAM, Client, proto, record
from payments_support import next_business_day
from review_support import ALL_ITEMS, ATTACHMENTS, arrive, person, settle
from sqlalchemy import Engine
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc
from subsidy.review.v1 import review_pb2
from subsidy_intake.logo_csv import mapping_for, to_logo_csv
from subsidy_review.handover import seal, unseal
from zengin_reader import read_zengin

from subsidy_platform.excel_csv import read_excel_csv, write_excel_csv
from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import staff_channel

RULES_AMOUNT = 16_000  # the test record: half of its cost, cut to 1,000 yen
REDUCED = 15_000


def import_logo(intake: Client, records: list[dict[str, Any]]) -> list[str]:
    """The online applications as LoGo's CSV export, streamed in; their numbers."""
    data = to_logo_csv(records, mapping_for(PROGRAM))

    def parts() -> Iterator[intake_pb2.ImportLogoCsvRequest]:
        yield intake_pb2.ImportLogoCsvRequest(
            header=intake_pb2.ImportLogoCsvRequest.Header(
                program_id=PROGRAM, file_name=f"logo-{uuid.uuid4().hex[:8]}.csv"
            )
        )
        yield intake_pb2.ImportLogoCsvRequest(chunk=data)

    with intake.stub() as stub:
        report = stub.ImportLogoCsv(parts(), metadata=intake.staff("operator"), timeout=120)
    assert report.committed and report.imported == len(records), list(report.errors)
    return [line.application_number for line in report.lines]


def key_paper_form(intake: Client, form: dict[str, Any]) -> str:
    """A paper form keyed by two different operators (ベリファイ入力)."""
    form_id = f"E2E-{uuid.uuid4().hex[:10]}"
    outcomes = []
    with intake.stub() as stub:
        for login in ("op-e2e-first", "op-e2e-second"):
            outcomes.append(
                stub.KeyPaperForm(
                    intake_pb2.KeyPaperFormRequest(
                        form_id=form_id, program_id=PROGRAM, application=proto(**form)
                    ),
                    metadata=intake.staff("operator", login),
                )
            )
    assert [o.outcome for o in outcomes] == [intake_pb2.FIRST_KEYING_STORED, intake_pb2.ACCEPTED]
    return str(outcomes[-1].application_number)


def attach(intake: Client, numbers: list[str]) -> None:
    with intake.stub() as stub:
        for number in numbers:
            stub.RecordAttachments(
                intake_pb2.RecordAttachmentsRequest(
                    application_number=number, present=list(ATTACHMENTS)
                ),
                metadata=intake.staff("operator"),
            )


def check(review_stub: Any, intake: Client, number: str) -> review_pb2.Case:
    checker = intake.staff("checker", "checker-e2e")
    review_stub.ClaimApplication(
        review_pb2.ClaimRequest(application_number=number), metadata=checker
    )
    checked: review_pb2.Case = review_stub.RecordCheck(
        review_pb2.RecordCheckRequest(
            request_id=uuid.uuid4().hex, application_number=number, confirmed=ALL_ITEMS
        ),
        metadata=checker,
    )
    return checked


def ward_decision_file(export: review_pb2.WardExport, decide: dict[str, dict[str, str]]) -> bytes:
    """The ward's intranet PC: the handover opened, columns filled in for some rows, sealed."""
    _, rows = read_excel_csv(unseal(export.sealed_file, export.password)["applications.csv"])
    header, body = rows[0], rows[1:]
    for row in body:
        for column, value in decide.get(row[0], {}).items():
            row[header.index(column)] = value
    return seal({"applications.csv": write_excel_csv(header, body)}, export.password)


def statuses(intake: Client, number: str) -> list[int]:
    with intake.stub() as stub:
        timeline = stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=number),
            metadata=intake.staff("call_center"),
        )
    return [event.status for event in timeline.events]


@pytest.mark.slow
def test_applications_follow_real_events_from_intake_to_a_released_file_and_notices(
    intake: Client,
    review: ServiceProcess,
    payments: ServiceProcess,
    notices: ServiceProcess,
    review_stub: Any,
    admin_engine: Engine,
) -> None:
    online = import_logo(
        intake,
        [record(**{**person(f"オンライン{n}"), "channel": "online"}) for n in range(3)],
    )
    paper_form = {**person("カミ"), "channel": "paper", "logo_answer_id": None}
    paper = key_paper_form(intake, paper_form)
    numbers = [*online, paper]
    attach(intake, numbers)
    arrive(intake, admin_engine, numbers)

    for number in numbers:
        checked = check(review_stub, intake, number)
        assert checked.state == review_pb2.CHECKED and checked.proposal_granted, number
        assert checked.rules_amount == RULES_AMOUNT

    # the ward decides the paper application directly: a full grant
    ward = intake.staff("ward_officer", "ward-e2e-sato")
    direct = review_stub.DecideApplication(
        review_pb2.DecideRequest(
            request_id=uuid.uuid4().hex,
            application_number=paper,
            granted=True,
            amount=RULES_AMOUNT,
        ),
        metadata=ward,
    )
    assert direct.state == review_pb2.GRANTED and direct.granted_amount == RULES_AMOUNT

    # the others through the handover and the decision file
    full, reduced, refused = online
    export = review_stub.ExportForWard(
        review_pb2.ExportForWardRequest(request_id=uuid.uuid4().hex, program_id=PROGRAM),
        metadata=ward,
    )
    sealed = ward_decision_file(
        export,
        {
            full: {"決定": "交付", "交付決定額": str(RULES_AMOUNT)},
            reduced: {
                "決定": "交付",
                "交付決定額": str(REDUCED),
                "減額理由": "領収書のうち送料分は補助対象外のため",
            },
            refused: {"決定": "不交付", "不交付理由コード": "WARD_DECISION"},
        },
    )
    report = review_stub.ImportWardDecisions(
        review_pb2.ImportWardDecisionsRequest(
            request_id=uuid.uuid4().hex,
            program_id=PROGRAM,
            file_name="decisions-e2e.zip",
            sealed_file=sealed,
            password=export.password,
        ),
        metadata=ward,
    )
    assert report.committed, list(report.errors)
    assert (
        review_stub.GetCase(
            review_pb2.GetCaseRequest(application_number=reduced), metadata=ward
        ).state
        == review_pb2.PENDING_APPROVAL
    )
    approved = review_stub.ApproveReducedGrant(
        review_pb2.ApproveReducedGrantRequest(
            request_id=uuid.uuid4().hex,
            application_number=reduced,
            verdict=review_pb2.REDUCTION_VERDICT_APPROVE,
        ),
        metadata=intake.staff("ward_officer", "ward-e2e-ito"),
    )
    assert approved.state == review_pb2.GRANTED and approved.granted_amount == REDUCED

    granted = {paper: RULES_AMOUNT, full: RULES_AMOUNT, reduced: REDUCED}
    review_relay = review.context.relay
    assert review_relay is not None
    settle(review_relay, admin_engine, "review", "payments")
    settle(review_relay, admin_engine, "review", "notices")

    with staff_channel(intake.environment.pki, payments.address) as channel:
        stub = payments_pb2_grpc.PaymentsServiceStub(channel)
        officer = intake.staff("payments_officer", "officer-e2e")
        approver = intake.staff("approver", "approver-e2e")
        pending = _instructions(stub, officer, "PENDING")
        ours = {i.application_number: i for i in pending if i.application_number in numbers}
        assert {n: i.amount for n, i in ours.items()} == granted  # nothing for the refusal
        batch = stub.BuildBatch(
            payments_pb2.BuildBatchRequest(
                request_id=uuid.uuid4().hex, program_id=PROGRAM, transfer_date=next_business_day()
            ),
            metadata=officer,
        )
        seen = stub.GetBatch(
            payments_pb2.GetBatchRequest(batch_id=batch.batch_id), metadata=approver
        )
        released = stub.ReleaseBatch(
            payments_pb2.ReleaseBatchRequest(
                request_id=uuid.uuid4().hex, batch_id=batch.batch_id, file_sha256=seen.file_sha256
            ),
            metadata=approver,
        )
        transfers = read_zengin(released.content)
        paid_by_instruction = {int(t.customer_code): t.amount for t in transfers.transfers}
        for number, amount in granted.items():
            assert paid_by_instruction[ours[number].instruction_id] == amount
        assert transfers.count == batch.count and transfers.total == batch.total
        sent = {
            i.application_number: i.state
            for i in _instructions(stub, officer, "SENT")
            if i.application_number in numbers
        }
        assert sent == dict.fromkeys(granted, "SENT")
        balance = stub.Reconcile(
            payments_pb2.ReconcileRequest(program_id=PROGRAM), metadata=intake.staff("auditor")
        )
        assert balance.balanced

    with staff_channel(intake.environment.pki, notices.address) as channel:
        notice_stub = notices_pb2_grpc.NoticesServiceStub(channel)
        kinds = {
            number: [
                n.kind
                for n in notice_stub.GetNotices(
                    notices_pb2.GetNoticesRequest(application_number=number),
                    metadata=intake.staff("call_center"),
                ).notices
            ]
            for number in numbers
        }
    assert kinds == {
        paper: [notices_pb2.GRANT],
        full: [notices_pb2.GRANT],
        reduced: [notices_pb2.GRANT],
        refused: [notices_pb2.REFUSAL],
    }

    for number in granted:
        assert common_pb2.GRANTED in statuses(intake, number)
    assert common_pb2.NOT_GRANTED in statuses(intake, refused)


def _instructions(
    stub: payments_pb2_grpc.PaymentsServiceStub, who: Any, state: str
) -> list[payments_pb2.Instruction]:
    found: list[payments_pb2.Instruction] = []
    while True:
        page = stub.ListInstructions(
            payments_pb2.ListInstructionsRequest(
                program_id=PROGRAM,
                state=state,
                limit=1000,
                after_id=found[-1].instruction_id if found else 0,
            ),
            metadata=who,
        ).instructions
        found.extend(page)
        if len(page) < 1000:
            return found
