"""Intake and review as separate servers over mutual TLS, on real PostgreSQL and OpenBao:
applications from intake to the ward's decision, through the outboxes of both services."""

from __future__ import annotations

import csv
import io
import time
import uuid
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client, count
from review_support import (
    case,
    check,
    decision_file,
    deliver,
    person,
    submit,
)
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy.review.v1 import review_pb2

from subsidy_platform.process import ServiceProcess


def test_applications_go_from_intake_to_the_wards_decision(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    first = submit(intake, **person("一郎"))
    shared = person("花子")
    second = submit(intake, **{**person("次郎"), "applicant.address": shared["applicant.address"]})
    third = submit(
        intake,
        **{
            **shared,
            "applicant.name": "審査 三郎",
            "applicant.name_kana": "シンサ サブロウ",
            "bank_account.number": "7777771",
            "logo_answer_id": "8899999991",
            "applicant.phone": "080-1111-2222",
            "applicant.birth_date": "1970-03-03",
        },
    )
    to_correct = submit(intake, **person("補正"))
    deliver(intake, review, admin_engine)

    assert case(review_stub, intake, first).state == review_pb2.RECEIVED
    assert case(review_stub, intake, second).state == review_pb2.DUPLICATE_SUSPECTED
    assert case(review_stub, intake, third).state == review_pb2.DUPLICATE_SUSPECTED

    group = review_stub.GetDuplicateGroup(
        review_pb2.GetDuplicateGroupRequest(application_number=third, purpose="重複確認"),
        metadata=intake.staff("checker"),
    )
    assert [m.application_number for m in group.members] == [second, third]
    assert {p.evidence for p in group.pairs} == {common_pb2.SAME_HOUSEHOLD}
    assert group.strength == "strong" and not group.resolved
    assert group.members[0].name == "審査 次郎"  # contact details, for the checker
    review_stub.ResolveDuplicates(
        review_pb2.ResolveDuplicatesRequest(
            request_id=uuid.uuid4().hex, application_number=third, keep=second
        ),
        metadata=intake.staff("checker"),
    )
    refused = case(review_stub, intake, third)
    assert refused.state == review_pb2.CHECKED and not refused.proposal_granted
    assert list(refused.proposal_reasons) == [common_pb2.DUPLICATE_HOUSEHOLD]

    # two checkers never work one application at once
    review_stub.ClaimApplication(
        review_pb2.ClaimRequest(application_number=first),
        metadata=intake.staff("checker", "checker-a"),
    )
    with pytest.raises(grpc.RpcError) as taken:
        review_stub.ClaimApplication(
            review_pb2.ClaimRequest(application_number=first),
            metadata=intake.staff("checker", "checker-b"),
        )
    assert taken.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    view = review_stub.GetCheck(
        review_pb2.GetCheckRequest(application_number=first, purpose="審査"),
        metadata=intake.staff("checker", "checker-a"),
    )
    assert view.rules.eligible and view.rules.amount == 16_000
    assert "*" in view.application.bank_account.number  # never bank details in review
    checked = check(review_stub, intake, first)
    assert checked.state == review_pb2.CHECKED and checked.proposal_granted
    assert checked.rules_amount == 16_000 and checked.checked_on
    check(review_stub, intake, second)

    corrected = review_stub.RequestCorrection(
        review_pb2.RequestCorrectionRequest(
            request_id=uuid.uuid4().hex,
            application_number=to_correct,
            items=[events_pb2.CorrectionItem(field="receipt", problem="領収書の日付が読めません")],
        ),
        metadata=intake.staff("checker"),
    )
    assert corrected.state == review_pb2.AWAITING_CORRECTION
    seen = case(review_stub, intake, to_correct)
    assert seen.corrections[0].items[0].problem == "領収書の日付が読めません"
    assert seen.corrections[0].requested_on
    with pytest.raises(grpc.RpcError) as early:
        review_stub.DecideApplication(
            review_pb2.DecideRequest(
                request_id=uuid.uuid4().hex,
                application_number=to_correct,
                verdict=review_pb2.DECISION_VERDICT_GRANT,
                amount=1000,
            ),
            metadata=intake.staff("ward_officer"),
        )
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    ward = intake.staff("ward_officer", "ward-sato")
    decided_before = count(admin_engine, "SELECT count(*) FROM review.decisions")
    export = review_stub.ExportForWard(
        review_pb2.ExportForWardRequest(request_id=uuid.uuid4().hex, program_id=PROGRAM),
        metadata=ward,
    )
    assert export.records >= 3 and len(export.password) == 20
    assert export.password.encode() not in b"".join(
        bytes(r[0]) if isinstance(r[0], bytes | memoryview) else str(r[0]).encode()
        for r in admin_engine.connect().execute(
            text("SELECT row_to_json(h)::text FROM review.handovers h")
        )
    )
    for number in (first, second, third):
        assert case(review_stub, intake, number).state == review_pb2.HANDED_OVER

    good = decision_file(
        export,
        {
            first: ("交付", "16000", ""),
            second: ("交付", "16000", ""),
            third: ("不交付", "", "DUPLICATE_HOUSEHOLD"),
        },
    )
    imports = review_pb2.ImportWardDecisionsRequest(
        program_id=PROGRAM,
        file_name="decisions.zip",
        sealed_file=good,
        password="wrong-password-123",
    )
    imports.request_id = uuid.uuid4().hex
    wrong = review_stub.ImportWardDecisions(imports, metadata=ward)
    assert not wrong.committed and wrong.errors
    tampered = bytearray(good)
    tampered[len(tampered) // 2] ^= 0x55
    bad = review_stub.ImportWardDecisions(
        review_pb2.ImportWardDecisionsRequest(
            request_id=uuid.uuid4().hex,
            program_id=PROGRAM,
            file_name="d.zip",
            sealed_file=bytes(tampered),
            password=export.password,
        ),
        metadata=ward,
    )
    assert not bad.committed
    too_much = review_stub.ImportWardDecisions(
        review_pb2.ImportWardDecisionsRequest(
            request_id=uuid.uuid4().hex,
            program_id=PROGRAM,
            file_name="d.zip",
            sealed_file=decision_file(export, {first: ("交付", "99999", "")}),
            password=export.password,
        ),
        metadata=ward,
    )
    assert not too_much.committed and any(e.column == "交付決定額" for e in too_much.errors)
    assert case(review_stub, intake, first).state == review_pb2.HANDED_OVER  # nothing changed
    # the wrong password, the tampered file and the excess amount decided nothing
    assert count(admin_engine, "SELECT count(*) FROM review.decisions") == decided_before

    report = review_stub.ImportWardDecisions(
        review_pb2.ImportWardDecisionsRequest(
            request_id=uuid.uuid4().hex,
            program_id=PROGRAM,
            file_name="decisions.zip",
            sealed_file=good,
            password=export.password,
        ),
        metadata=ward,
    )
    assert report.committed, list(report.errors)
    assert (report.granted, report.not_granted) == (2, 1)
    granted = case(review_stub, intake, first)
    assert granted.state == review_pb2.GRANTED and granted.granted_amount == 16_000
    assert granted.decision_number
    assert case(review_stub, intake, third).state == review_pb2.NOT_GRANTED
    again = review_stub.ImportWardDecisions(
        review_pb2.ImportWardDecisionsRequest(
            request_id=uuid.uuid4().hex,
            program_id=PROGRAM,
            file_name="decisions.zip",
            sealed_file=good,
            password=export.password,
        ),
        metadata=ward,
    )
    assert not again.committed

    ledger = review_stub.ListHandovers(
        review_pb2.ListHandoversRequest(program_id=PROGRAM), metadata=ward
    )
    directions = [h.direction for h in ledger.handovers]
    assert directions.count("export") >= 1 and directions.count("import") >= 1
    assert all(len(h.sha256) == 64 and h.handler for h in ledger.handovers)
    assert [h.direction for h in ledger.handovers if h.sha256 == report.sha256] == ["import"]
    assert [h.records for h in ledger.handovers if h.sha256 == export.sha256] == [export.records]
    exported = review_stub.ExportHandoverLedger(
        review_pb2.ExportHandoverLedgerRequest(program_id=PROGRAM), metadata=intake.staff("auditor")
    )
    rows = list(csv.reader(io.StringIO(exported.csv.decode("utf-8-sig"))))
    assert rows[0][0] == "日時" and len(rows) == len(ledger.handovers) + 1

    deliver(intake, review, admin_engine)
    with intake.stub() as intake_stub:
        timeline = intake_stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=first),
            metadata=intake.staff("call_center"),
        )
    assert timeline.status == common_pb2.GRANTED
    assert common_pb2.UNDER_REVIEW in [e.status for e in timeline.events]


def test_review_catches_up_with_what_intake_took_while_it_was_down(
    intake: Client,
    review: ServiceProcess,
    environment: Any,
    addresses: dict[str, str],
    admin_engine: Engine,
) -> None:
    from subsidy_review.main import build as build_review

    from subsidy_rules.program import get_program

    review.stop(grace=0.5)
    try:
        number = submit(intake, **person("停止中"))
        relay = intake.process.context.relay
        assert relay is not None
        relay.deliver_once()
        pending = count(
            admin_engine,
            "SELECT count(*) FROM intake.outbox WHERE delivered_at IS NULL AND key = :k",
            k=f"received-{number}",
        )
        assert pending == 1
    finally:
        restarted = build_review(
            environment, {PROGRAM: get_program(PROGRAM)}, addresses["review"], addresses=addresses
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not count(
            admin_engine,
            "SELECT count(*) FROM review.cases WHERE application_number = :n",
            n=number,
        ):
            deliver(intake, restarted, admin_engine)
            time.sleep(0.5)
        assert (
            count(
                admin_engine,
                "SELECT count(*) FROM review.cases WHERE application_number = :n",
                n=number,
            )
            == 1
        )
        with admin_engine.begin() as connection:  # a redelivery is applied once only
            connection.execute(
                text("UPDATE intake.outbox SET delivered_at = NULL WHERE key = :k"),
                {"k": f"received-{number}"},
            )
        deliver(intake, restarted, admin_engine)
        assert (
            count(
                admin_engine,
                "SELECT count(*) FROM review.cases WHERE application_number = :n",
                n=number,
            )
            == 1
        )
    finally:
        review.running = restarted.running
        review.context = restarted.context


def test_an_application_without_its_receipt_is_listed_as_missing_attachments(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    number = submit(
        intake,
        attachments=["photo_after_installation", "id_copy", "bank_account_proof"],
        **person("領収書なし"),
    )
    deliver(intake, review, admin_engine)

    def missing() -> set[str]:
        page = review_stub.ListWorklist(
            review_pb2.ListWorklistRequest(
                program_id=PROGRAM, filter=review_pb2.MISSING_ATTACHMENTS, page_size=200
            ),
            metadata=intake.staff("checker"),
        )
        return {c.application_number for c in page.cases}

    assert number not in missing()  # nobody has looked yet
    view = review_stub.GetCheck(
        review_pb2.GetCheckRequest(application_number=number, purpose="審査"),
        metadata=intake.staff("checker"),
    )
    assert list(view.missing_attachments) == ["領収書の写し"]
    assert number in missing()
    with pytest.raises(grpc.RpcError) as refused:
        check(review_stub, intake, number)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert case(review_stub, intake, number).state == review_pb2.RECEIVED


def test_a_correction_keyed_in_at_intake_reopens_the_case_for_a_new_check(
    intake: Client, review: ServiceProcess, review_stub: Any, admin_engine: Engine
) -> None:
    number = submit(intake, **person("訂正"))
    deliver(intake, review, admin_engine)
    review_stub.RequestCorrection(
        review_pb2.RequestCorrectionRequest(
            request_id=uuid.uuid4().hex,
            application_number=number,
            items=[
                events_pb2.CorrectionItem(
                    field="applicant.address", problem="住所の番地が読み取れません"
                )
            ],
        ),
        metadata=intake.staff("checker"),
    )
    with intake.stub() as stub:
        view = stub.GetApplication(
            intake_pb2.GetApplicationRequest(
                application_number=number, unmask=True, purpose="補正の入力"
            ),
            metadata=intake.staff("operator"),
        )
        corrected = intake_pb2.SubmitCorrectionRequest(
            request_id=uuid.uuid4().hex, application_number=number, note="番地の訂正"
        )
        corrected.application.CopyFrom(view.application)
        n = uuid.uuid4().int  # a dwelling of its own: no other test's household
        corrected.application.applicant.address = (
            f"東京都新宿区西新宿二丁目{n % 97 + 1}番{(n // 97) % 59 + 1}号 訂正荘{n % 900 + 100}"
        )
        assert stub.SubmitCorrection(corrected, metadata=intake.staff("operator")).applied
    deliver(intake, review, admin_engine)

    reopened = case(review_stub, intake, number)
    assert reopened.state == review_pb2.RECEIVED
    assert reopened.corrections[0].corrected_on  # 補正 received
    assert reopened.corrections[0].items[0].problem == "住所の番地が読み取れません"
    checked = check(review_stub, intake, number)
    assert checked.state == review_pb2.CHECKED and checked.proposal_granted
