"""Intake over real gRPC, PostgreSQL and OpenBao: submission, idempotency, validation,
duplicates, masking, unmasking with a purpose, inquiries, timeline and attachments."""

from __future__ import annotations

import grpc
import pytest
from intake_support import PROGRAM, Client, count, proto
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2

from subsidy_platform.errors import field_violations


def submit(
    client: Client, request_id: str, role: str = "operator", **changes: object
) -> intake_pb2.SubmitApplicationResponse:
    with client.stub() as stub:
        response: intake_pb2.SubmitApplicationResponse = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=request_id, program_id=PROGRAM, application=proto(**changes)
            ),
            metadata=client.staff(role),
        )
        return response


def unique(tag: str) -> dict[str, object]:
    """Changes that make an application nobody else's (no duplicate with other tests)."""
    n = sum(ord(c) for c in tag) * 7 + len(tag)
    return {
        "applicant.name_kana": f"テスト {tag}",
        "applicant.address": f"新宿区大久保3丁目{n % 40 + 1}番{n % 9 + 1}号 ユニークハイツ{n % 900 + 100}",
        "bank_account.number": f"{n % 10_000_000:07d}",
        "logo_answer_id": f"77{n:08d}",
        "applicant.phone": f"090-{n % 10000:04d}-{(n * 7) % 10000:04d}",
    }


def test_a_submission_is_numbered_received_and_stored_as_ciphertext(
    intake: Client, admin_engine: Engine
) -> None:
    response = submit(intake, "submit-1", **unique("submit-1"))
    assert response.application_number.startswith("S2025-")
    assert response.status == common_pb2.RECEIVED
    assert not response.replayed
    with admin_engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT name_ct, address_ct, account_number_ct, received_on FROM intake.applications "
                "WHERE application_number = :n"
            ),
            {"n": response.application_number},
        ).one()
    assert all(value.startswith(("vault:v", "env:v")) for value in row[:3])
    assert "試験" not in "".join(row[:3])
    assert str(row.received_on) == "2025-06-10"


def test_the_same_request_id_returns_the_first_result(intake: Client, admin_engine: Engine) -> None:
    first = submit(intake, "submit-again", **unique("again"))
    before = count(admin_engine, "SELECT count(*) FROM intake.applications")
    second = submit(intake, "submit-again", **unique("again"))
    assert second.replayed and second.application_number == first.application_number
    assert count(admin_engine, "SELECT count(*) FROM intake.applications") == before


def test_the_same_request_id_with_other_content_is_refused(intake: Client) -> None:
    submit(intake, "submit-conflict", **unique("conflict"))
    changed = {
        **unique("conflict"),
        "purchases": [
            {
                "item": "sensor_light",
                "kind": "purchase",
                "amount": 5000,
                "purchased_on": "2025-05-02",
            }
        ],
    }
    with pytest.raises(grpc.RpcError) as raised:
        submit(intake, "submit-conflict", **changed)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_the_same_logo_answer_returns_the_first_result(intake: Client) -> None:
    first = submit(intake, "logo-first", **unique("logo"))
    again = submit(intake, "logo-second", **unique("logo"))
    assert again.replayed and again.application_number == first.application_number


def test_bad_input_names_the_field_in_japanese_and_writes_nothing(
    intake: Client, admin_engine: Engine
) -> None:
    before = count(admin_engine, "SELECT count(*) FROM intake.applications")
    with pytest.raises(grpc.RpcError) as raised:
        submit(intake, "bad-date", **{**unique("bad"), "applicant.birth_date": "1980/01/02"})
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = field_violations(raised.value)
    assert violation.field == "applicant.birth_date"
    assert "日付" in violation.description
    assert count(admin_engine, "SELECT count(*) FROM intake.applications") == before


def test_an_unknown_program_is_an_invalid_argument(intake: Client) -> None:
    with intake.stub() as stub, pytest.raises(grpc.RpcError) as raised:
        stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id="x", program_id="nerima-2099", application=proto()
            ),
            metadata=intake.staff("operator"),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(raised.value)[0].field == "program_id"


def test_a_second_household_member_is_flagged_not_refused(intake: Client) -> None:
    first = submit(intake, "household-1", **unique("household-1"))
    spouse = {
        **unique("household-2"),
        "applicant.address": unique("household-1")["applicant.address"],
        "applicant.name": "新宿 試験花子",
    }
    second = submit(intake, "household-2", **spouse)
    assert second.status == common_pb2.RECEIVED
    assert [(d.other_application_number, d.evidence) for d in second.duplicates] == [
        (first.application_number, common_pb2.SAME_HOUSEHOLD)
    ]


def test_the_call_center_finds_by_kana_and_birth_date_and_sees_a_masked_view(
    intake: Client,
) -> None:
    created = submit(intake, "callcenter-1", **unique("callcenter"))
    agent = intake.staff("call_center")
    with intake.stub() as stub:
        found = stub.SearchApplications(
            intake_pb2.SearchApplicationsRequest(
                program_id=PROGRAM,
                kana_and_birth_date=intake_pb2.KanaAndBirthDate(
                    name_kana="ﾃｽﾄ callcenter", birth_date="1980-01-02"
                ),
                purpose="進捗の問合せ",
            ),
            metadata=agent,
        )
        assert [r.application_number for r in found.results] == [created.application_number]
        view = stub.GetApplication(
            intake_pb2.GetApplicationRequest(application_number=created.application_number),
            metadata=agent,
        )
        assert view.masked
        assert view.application.applicant.birth_date == "1980-**-**"
        assert view.application.bank_account.number.endswith(
            unique("callcenter")["bank_account.number"][-3:]
        )
        assert view.application.bank_account.number.startswith("****")
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetApplication(
                intake_pb2.GetApplicationRequest(
                    application_number=created.application_number, unmask=True, purpose="確認"
                ),
                metadata=agent,
            )
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_checker_unmasks_with_a_purpose_and_the_read_is_audited(
    intake: Client, admin_engine: Engine
) -> None:
    created = submit(intake, "unmask-1", **unique("unmask"))
    checker = intake.staff("checker", "checker-suzuki")
    with intake.stub() as stub:
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetApplication(
                intake_pb2.GetApplicationRequest(
                    application_number=created.application_number, unmask=True
                ),
                metadata=checker,
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        view = stub.GetApplication(
            intake_pb2.GetApplicationRequest(
                application_number=created.application_number, unmask=True, purpose="補正内容の確認"
            ),
            metadata=checker,
        )
    assert not view.masked
    assert view.application.applicant.birth_date == "1980-01-02"
    # intake cannot decrypt bank details (payments alone may): unmasked, the account stays masked
    account = str(unique("unmask")["bank_account.number"])
    assert view.application.bank_account.number == "*" * (len(account) - 3) + account[-3:]
    audited = count(
        admin_engine,
        "SELECT count(*) FROM audit.events WHERE actor = 'checker-suzuki' AND action = 'unmask' "
        "AND application_id = :n AND purpose = '補正内容の確認'",
        n=created.application_number,
    )
    assert audited == 1


def test_an_unknown_application_number_is_not_found(intake: Client) -> None:
    with intake.stub() as stub, pytest.raises(grpc.RpcError) as raised:
        stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number="S2025-999999"),
            metadata=intake.staff("call_center"),
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_inquiries_are_logged_with_an_encrypted_summary(
    intake: Client, admin_engine: Engine
) -> None:
    created = submit(intake, "inquiry-1", **unique("inquiry"))
    agent = intake.staff("call_center", "agent-tanaka")
    with intake.stub() as stub:
        stub.RecordInquiry(
            intake_pb2.RecordInquiryRequest(
                request_id="inq-1",
                application_number=created.application_number,
                channel="電話",
                category="進捗",
                summary="振込予定日の問合せ。折り返し電話を希望。",
                follow_up_needed=True,
            ),
            metadata=agent,
        )
        listed = stub.ListInquiries(
            intake_pb2.ListInquiriesRequest(
                application_number=created.application_number, purpose="折り返し対応"
            ),
            metadata=agent,
        )
        with pytest.raises(grpc.RpcError) as raised:
            stub.RecordInquiry(
                intake_pb2.RecordInquiryRequest(channel="FAX", category="進捗", summary="x"),
                metadata=agent,
            )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [inquiry] = listed.inquiries
    assert (inquiry.agent, inquiry.follow_up_needed) == ("agent-tanaka", True)
    assert inquiry.summary.startswith("振込予定日")
    assert (
        count(admin_engine, "SELECT count(*) FROM intake.inquiries WHERE summary_ct LIKE '%振込%'")
        == 0
    )


def test_other_services_report_transitions_onto_the_timeline(intake: Client) -> None:
    created = submit(intake, "timeline-1", **unique("timeline"))
    request = intake_pb2.ReportStatusTransitionRequest(
        request_id="review-grant-1",
        application_number=created.application_number,
        status=common_pb2.GRANTED,
        note="交付決定",
    )
    with intake.stub("review") as as_review:  # the review service's certificate, no token
        as_review.ReportStatusTransition(request)
        as_review.ReportStatusTransition(request)  # idempotent by request id
        with pytest.raises(grpc.RpcError) as raised:
            as_review.ReportStatusTransition(
                intake_pb2.ReportStatusTransitionRequest(
                    request_id="review-paid-1",
                    application_number=created.application_number,
                    status=common_pb2.PAID,
                )
            )
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with intake.stub() as stub:
        with pytest.raises(grpc.RpcError) as denied:
            stub.ReportStatusTransition(request, metadata=intake.staff("ward_officer"))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        timeline = stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=created.application_number),
            metadata=intake.staff("call_center"),
        )
    # (the review service of the session may report its own UNDER_REVIEW meanwhile)
    statuses = [e.status for e in timeline.events]
    assert statuses[0] == common_pb2.RECEIVED
    assert statuses.count(common_pb2.GRANTED) == 1  # idempotent by request id
    granted = next(e for e in timeline.events if e.status == common_pb2.GRANTED)
    assert granted.service == "review" and granted.note == "交付決定"


def test_the_attachments_checklist_shows_what_is_missing(intake: Client) -> None:
    created = submit(intake, "attach-1", **unique("attach"))
    with intake.stub() as stub:
        empty = stub.GetAttachmentChecklist(
            intake_pb2.GetAttachmentChecklistRequest(application_number=created.application_number),
            metadata=intake.staff("checker"),
        )
        assert not empty.complete and "領収書の写し" in empty.missing
        some = stub.RecordAttachments(
            intake_pb2.RecordAttachmentsRequest(
                application_number=created.application_number, present=["receipt", "id_copy"]
            ),
            metadata=intake.staff("operator"),
        )
        assert set(some.missing) == {"設置後の写真", "振込先口座が確認できるものの写し"}
        done = stub.RecordAttachments(
            intake_pb2.RecordAttachmentsRequest(
                application_number=created.application_number,
                present=["photo_after_installation", "bank_account_proof"],
            ),
            metadata=intake.staff("operator"),
        )
        assert done.complete and not done.missing
        with pytest.raises(grpc.RpcError) as raised:
            stub.RecordAttachments(
                intake_pb2.RecordAttachmentsRequest(
                    application_number=created.application_number, present=["selfie"]
                ),
                metadata=intake.staff("operator"),
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_general_inquiry_names_its_program(intake: Client) -> None:
    agent = intake.staff("call_center", "agent-ueda")
    question = {"channel": "電話", "category": "制度", "summary": "対象となる機器を知りたい。"}
    with intake.stub() as stub:
        with pytest.raises(grpc.RpcError) as raised:
            stub.RecordInquiry(intake_pb2.RecordInquiryRequest(**question), metadata=agent)
        assert field_violations(raised.value)[0].field == "program_id"
        logged = stub.RecordInquiry(
            intake_pb2.RecordInquiryRequest(program_id=PROGRAM, **question), metadata=agent
        )
    assert logged.application_number == "" and logged.agent == "agent-ueda"


def test_intake_hands_payments_an_account_only_once_the_application_is_granted(
    intake: Client,
) -> None:
    """Payments' certificate alone is not enough: an application never granted (or whose
    grant was revoked) has no account to hand; a granted one has."""
    created = submit(intake, "account-grant-1", **unique("account"))
    number = created.application_number
    ask = intake_pb2.GetPaymentAccountRequest(application_number=number, purpose="振込指図の作成")
    with intake.stub("payments") as as_payments:
        with pytest.raises(grpc.RpcError) as refused:
            as_payments.GetPaymentAccount(ask)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert number not in (refused.value.details() or "")
        with intake.stub("review") as as_review:
            as_review.ReportStatusTransition(
                intake_pb2.ReportStatusTransitionRequest(
                    request_id=f"grant-{number}",
                    application_number=number,
                    status=common_pb2.GRANTED,
                )
            )
        assert as_payments.GetPaymentAccount(ask).number_ciphertext
        with intake.stub("review") as as_review:
            as_review.ReportStatusTransition(
                intake_pb2.ReportStatusTransitionRequest(
                    request_id=f"revoke-{number}",
                    application_number=number,
                    status=common_pb2.GRANT_REVOKED,
                )
            )
        with pytest.raises(grpc.RpcError) as revoked:
            as_payments.GetPaymentAccount(ask)
        assert revoked.value.code() == grpc.StatusCode.FAILED_PRECONDITION
