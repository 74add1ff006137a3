"""Paper entry with verification keying (ベリファイ入力) and key rotation with rewrap,
on the real intake server."""

from __future__ import annotations

import hvac
from intake_support import PROGRAM, Client, count, proto
from sqlalchemy import Engine, text
from subsidy.intake.v1 import intake_pb2
from subsidy_intake.records import CIPHERTEXT_COLUMNS

from subsidy_platform.crypto import DataClass, FieldCipher
from subsidy_platform.rotation import rotate_and_rewrap
from subsidy_platform.runtime import Environment

PAPER = {
    "channel": "paper",
    "logo_answer_id": None,
    "applicant.name_kana": "カミ テスト",
    "applicant.address": "新宿区早稲田町12番3号",
    "bank_account.number": "3141592",
}


def key(
    client: Client,
    form_id: str,
    login: str,
    *,
    resolve: bool = False,
    role: str = "operator",
    **changes: object,
) -> intake_pb2.KeyPaperFormResponse:
    with client.stub() as stub:
        response: intake_pb2.KeyPaperFormResponse = stub.KeyPaperForm(
            intake_pb2.KeyPaperFormRequest(
                form_id=form_id,
                program_id=PROGRAM,
                application=proto(**{**PAPER, **changes}),
                resolve=resolve,
            ),
            metadata=client.staff(role, login),
        )
        return response


def test_two_agreeing_keyings_by_two_operators_submit_the_form(intake: Client) -> None:
    first = key(intake, "P-100", "op-sato")
    assert first.outcome == intake_pb2.FIRST_KEYING_STORED and not first.application_number
    same = key(intake, "P-100", "op-sato")
    assert same.outcome == intake_pb2.SAME_OPERATOR
    # the second operator types in full-width digits and extra spaces: still the same form
    second = key(
        intake,
        "P-100",
        "op-ito",
        **{"applicant.phone": "０３－１２３４－５６７８", "applicant.name": "新宿  試験太郎"},
    )
    assert second.outcome == intake_pb2.ACCEPTED and second.application_number.startswith("S2025-")
    again = key(intake, "P-100", "op-kato")
    assert (again.outcome, again.application_number) == (
        intake_pb2.ACCEPTED,
        second.application_number,
    )


def test_disagreeing_keyings_show_the_fields_and_a_third_look_settles_them(
    intake: Client, admin_engine: Engine
) -> None:
    key(
        intake,
        "P-200",
        "op-sato",
        **{"applicant.name_kana": "カミ ベリファイ", "bank_account.number": "2718281"},
    )
    mismatch = key(
        intake,
        "P-200",
        "op-ito",
        **{
            "applicant.name_kana": "カミ ベリファイ",
            "bank_account.number": "2718282",
            "applicant.birth_date": "1980-01-03",
        },
    )
    assert mismatch.outcome == intake_pb2.MISMATCH
    assert list(mismatch.differing_fields) == ["applicant.birth_date", "bank_account.number"]
    before = count(admin_engine, "SELECT count(*) FROM intake.applications")
    refused = key(
        intake, "P-200", "op-ito", resolve=True, **{"applicant.name_kana": "カミ ベリファイ"}
    )
    assert refused.outcome == intake_pb2.SAME_OPERATOR
    settled = key(
        intake,
        "P-200",
        "chk-mori",
        resolve=True,
        role="checker",
        **{"applicant.name_kana": "カミ ベリファイ", "bank_account.number": "2718281"},
    )
    assert settled.outcome == intake_pb2.ACCEPTED
    assert count(admin_engine, "SELECT count(*) FROM intake.applications") == before + 1
    stored = count(
        admin_engine,
        "SELECT count(*) FROM intake.paper_keyings WHERE form_id = 'P-200' "
        "AND contact_ct LIKE '%ベリファイ%'",
    )
    assert stored == 0


def test_rotating_a_key_rewraps_every_stored_value(
    intake: Client, environment: Environment, admin_engine: Engine
) -> None:
    key(
        intake,
        "P-300",
        "op-sato",
        **{"applicant.name_kana": "カミ ローテート", "bank_account.number": "1618033"},
    )
    key(
        intake,
        "P-300",
        "op-ito",
        **{"applicant.name_kana": "カミ ローテート", "bank_account.number": "1618033"},
    )
    admin = hvac.Client(
        url=environment.infrastructure.vault_addr,
        token=environment.infrastructure.vault_admin_token,
    )
    cipher = FieldCipher(admin, PROGRAM)
    counts = rotate_and_rewrap(
        admin_engine, cipher, DataClass.BANK, CIPHERTEXT_COLUMNS, retire=True
    )
    version = counts["version"]
    assert counts["intake.applications"] > 0 and counts["intake.paper_keyings"] > 0
    with admin_engine.connect() as connection:
        values = [
            v
            for (v,) in connection.execute(
                text(
                    "SELECT account_number_ct FROM intake.applications WHERE account_number_ct IS NOT NULL"
                )
            )
        ]
    assert values and all(f":v{version}:" in v for v in values)
    with intake.stub() as stub:
        found = stub.SearchApplications(
            intake_pb2.SearchApplicationsRequest(
                program_id=PROGRAM,
                kana_and_birth_date=intake_pb2.KanaAndBirthDate(
                    name_kana="カミ ローテート", birth_date="1980-01-02"
                ),
                purpose="鍵更新後の確認",
            ),
            metadata=intake.staff("checker"),
        )
        view = stub.GetApplication(
            intake_pb2.GetApplicationRequest(
                application_number=found.results[0].application_number,
                unmask=True,
                purpose="鍵更新後の確認",
            ),
            metadata=intake.staff("checker"),
        )
    assert view.application.bank_account.number == "****033"  # masked: payments alone decrypts
