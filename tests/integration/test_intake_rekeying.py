"""Keying a paper form that is already accepted is never a silent ACCEPTED (issue 15): the same
values again (a retry) answer ACCEPTED with the same application number and store nothing,
other values are refused with FAILED_PRECONDITION naming the application and the differing
fields (never their values) and change nothing; a correction (SubmitCorrection) is how an
accepted paper application changes. Real intake server, PostgreSQL and OpenBao."""

from __future__ import annotations

import uuid

import grpc
import pytest
from intake_support import PROGRAM, Client, count, proto
from sqlalchemy import Engine
from subsidy.intake.v1 import intake_pb2

PAPER = {
    "channel": "paper",
    "logo_answer_id": None,
    "applicant.name_kana": "カミ サイニュウリョク",
    "applicant.phone": "03-2222-3333",
    "bank_account.number": "5772156",
}


def key(
    client: Client, form_id: str, login: str, *, resolve: bool = False, **changes: object
) -> intake_pb2.KeyPaperFormResponse:
    with client.stub() as stub:
        response: intake_pb2.KeyPaperFormResponse = stub.KeyPaperForm(
            intake_pb2.KeyPaperFormRequest(
                form_id=form_id,
                program_id=PROGRAM,
                application=proto(**{**PAPER, **changes}),
                resolve=resolve,
            ),
            metadata=client.staff("operator", login),
        )
        return response


def accepted_form(client: Client) -> tuple[str, str]:
    """(form id, application number) of a form keyed by two agreeing operators."""
    form_id = f"RK-{uuid.uuid4().hex[:12]}"
    assert key(client, form_id, "op-rekey-a").outcome == intake_pb2.FIRST_KEYING_STORED
    second = key(client, form_id, "op-rekey-b")
    assert second.outcome == intake_pb2.ACCEPTED
    return form_id, second.application_number


def _stored(engine: Engine, form_id: str) -> tuple[int, int]:
    return (
        count(engine, "SELECT count(*) FROM intake.paper_keyings WHERE form_id = :f", f=form_id),
        count(engine, "SELECT count(*) FROM intake.applications"),
    )


def _phone(client: Client, number: str) -> str:
    with client.stub() as stub:
        view = stub.GetApplication(
            intake_pb2.GetApplicationRequest(
                application_number=number, unmask=True, purpose="再入力の確認"
            ),
            metadata=client.staff("checker"),
        )
    return str(view.application.applicant.phone)


def test_keying_an_accepted_form_again_with_other_values_is_refused_and_changes_nothing(
    intake: Client, admin_engine: Engine
) -> None:
    form_id, number = accepted_form(intake)
    before = _stored(admin_engine, form_id)
    for login, resolve in (("op-rekey-c", False), ("op-rekey-a", False), ("chk-rekey", True)):
        with pytest.raises(grpc.RpcError) as refused:
            key(
                intake,
                form_id,
                login,
                resolve=resolve,
                **{"applicant.phone": "03-9999-8888", "bank_account.number": "1234567"},
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        message = refused.value.details() or ""
        assert number in message and "受け付け済み" in message and "補正入力" in message
        assert "applicant.phone" in message and "bank_account.number" in message
        assert "9999" not in message and "1234567" not in message  # never the values
    assert _stored(admin_engine, form_id) == before
    assert _phone(intake, number) == "03-2222-3333"


def test_the_same_keying_again_answers_accepted_with_the_same_number_and_stores_nothing(
    intake: Client, admin_engine: Engine
) -> None:
    form_id, number = accepted_form(intake)
    before = _stored(admin_engine, form_id)
    for login in ("op-rekey-b", "op-rekey-a", "op-rekey-c"):  # a retry, or the same values
        again = key(intake, form_id, login, **{"applicant.phone": "０３－２２２２－３３３３"})
        assert (again.outcome, again.application_number) == (intake_pb2.ACCEPTED, number)
    assert _stored(admin_engine, form_id) == before


def test_a_correction_not_a_keying_changes_an_accepted_paper_application(
    intake: Client, admin_engine: Engine
) -> None:
    form_id, number = accepted_form(intake)
    with pytest.raises(grpc.RpcError) as refused:
        key(intake, form_id, "op-rekey-c", **{"applicant.phone": "03-4444-5555"})
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    corrected = {**PAPER, "applicant.phone": "03-4444-5555"}
    with intake.stub() as stub:
        response = stub.SubmitCorrection(
            intake_pb2.SubmitCorrectionRequest(
                request_id=uuid.uuid4().hex,
                application_number=number,
                application=proto(**corrected),
                second_keying=proto(**corrected),
                note="電話番号の訂正",
            ),
            metadata=intake.staff("operator", "op-rekey-c"),
        )
    assert response.applied
    assert _phone(intake, number) == "03-4444-5555"
