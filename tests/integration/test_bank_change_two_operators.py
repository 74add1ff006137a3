"""A changed bank account needs two different operators' keyings, each in its own request
(issue 15: one operator could send both copies in one request). The first keying changes
nothing; the same operator cannot verify it; a second operator's differing keying lists the
fields and applies nothing; only a second, agreeing keying changes the account and sends the
`intake.bank_account` event, once; every keying is audited and idempotent by its request id,
and the database refuses a change closed by the operator who keyed it. Real intake server,
PostgreSQL and OpenBao."""

from __future__ import annotations

import uuid

import grpc
import pytest
import sqlalchemy.exc
from intake_support import PROGRAM, Client, count, proto
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2

from subsidy_platform.errors import field_violations

NEW = common_pb2.BankAccount(
    bank_code="0005", branch_code="001", type="ordinary", number="2468013",
    holder_kana="シンジユク シケンタロウ",
)  # fmt: skip
TYPO = common_pb2.BankAccount(
    bank_code="0005", branch_code="001", type="ordinary", number="2468031",
    holder_kana="シンジユク シケンタロウ",
)  # fmt: skip


def application(client: Client) -> str:
    n = uuid.uuid4().int
    with client.stub() as stub:
        response = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=uuid.uuid4().hex,
                program_id=PROGRAM,
                application=proto(
                    **{
                        "logo_answer_id": f"77{n % 10**8:08d}",
                        "applicant.name_kana": f"コウザ ヘンコウ{n % 1000}",
                        "applicant.address": f"東京都新宿区西新宿二丁目{n % 99 + 1}番"
                        f"{(n // 99) % 60 + 1}号 口座荘{n % 9000 + 1000}",
                        "bank_account.number": f"{n % 10_000_000:07d}",
                    }
                ),
            ),
            metadata=client.staff("operator"),
        )
    return str(response.application_number)


def keying(
    client: Client,
    number: str,
    login: str,
    account: common_pb2.BankAccount = NEW,
    request_id: str | None = None,
    note: str = "",
) -> intake_pb2.RecordBankAccountChangeResponse:
    with client.stub() as stub:
        response: intake_pb2.RecordBankAccountChangeResponse = stub.RecordBankAccountChange(
            intake_pb2.RecordBankAccountChangeRequest(
                request_id=request_id or uuid.uuid4().hex,
                application_number=number,
                account=account,
                note=note,
            ),
            metadata=client.staff("operator", login),
        )
    return response


def _version(engine: Engine, number: str) -> int:
    return count(
        engine,
        "SELECT account_version FROM intake.applications WHERE application_number = :n",
        n=number,
    )


def _events(engine: Engine, number: str) -> int:
    return count(
        engine,
        "SELECT count(*) FROM intake.outbox WHERE topic = 'intake.bank_account' AND key LIKE :k",
        k=f"bank-account-{number}-v%",
    )


def test_one_operator_cannot_send_both_keyings_in_one_request(
    intake: Client, admin_engine: Engine
) -> None:
    number = application(intake)
    changes = count(admin_engine, "SELECT count(*) FROM intake.bank_changes")
    with intake.stub() as stub, pytest.raises(grpc.RpcError) as refused:
        stub.RecordBankAccountChange(
            intake_pb2.RecordBankAccountChangeRequest(
                request_id=uuid.uuid4().hex,
                application_number=number,
                account=NEW,
                second_keying=NEW,
            ),
            metadata=intake.staff("operator", "op-bank-solo"),
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violation] = field_violations(refused.value)
    assert violation.field == "second_keying" and "別の担当者" in violation.description
    assert count(admin_engine, "SELECT count(*) FROM intake.bank_changes") == changes
    assert (_version(admin_engine, number), _events(admin_engine, number)) == (1, 0)


def test_the_first_keying_changes_nothing_and_its_operator_cannot_verify_it(
    intake: Client, admin_engine: Engine
) -> None:
    number = application(intake)
    first = keying(intake, number, "op-bank-a", note="口座不備のため訂正")
    assert first.outcome == intake_pb2.FIRST_KEYING_STORED and not first.applied
    again = keying(intake, number, "op-bank-a")  # the same operator, both copies in turn
    assert again.outcome == intake_pb2.SAME_OPERATOR and not again.applied
    assert (_version(admin_engine, number), _events(admin_engine, number)) == (1, 0)
    with admin_engine.connect() as connection:
        [row] = connection.execute(
            text(
                "SELECT c.state, c.keyed_by, c.bank_digest::text AS digest, c.note_ct "
                "FROM intake.bank_changes c JOIN intake.applications a "
                "ON a.id = c.application_id WHERE a.application_number = :n"
            ),
            {"n": number},
        ).all()
    assert (row.state, row.keyed_by) == ("PENDING", "op-bank-a")
    assert "2468013" not in row.digest  # the account number only as a keyed HMAC
    assert "口座不備" not in row.note_ct


def test_a_second_operators_agreeing_keying_applies_the_change_and_announces_it_once(
    intake: Client, admin_engine: Engine
) -> None:
    number = application(intake)
    first_id, second_id = uuid.uuid4().hex, uuid.uuid4().hex
    keying(intake, number, "op-bank-a", request_id=first_id)
    # the verifier keys the number in full-width digits: the same account as a keyer sees it
    wide = common_pb2.BankAccount()
    wide.CopyFrom(NEW)
    wide.number = "２４６８０１３"
    verified = keying(intake, number, "op-bank-b", wide, request_id=second_id)
    assert verified.outcome == intake_pb2.ACCEPTED and verified.applied
    assert verified.account_version == 2 == _version(admin_engine, number)
    assert _events(admin_engine, number) == 1
    retried = keying(intake, number, "op-bank-b", wide, request_id=second_id)
    assert (retried.outcome, retried.applied, retried.replayed, retried.account_version) == (
        intake_pb2.ACCEPTED,
        True,
        True,
        2,
    )
    first_again = keying(intake, number, "op-bank-a", request_id=first_id)
    assert first_again.outcome == intake_pb2.FIRST_KEYING_STORED and first_again.replayed
    assert (_version(admin_engine, number), _events(admin_engine, number)) == (2, 1)
    audited = {
        (actor, action)
        for actor, action in _audit(admin_engine, number)
        if actor in ("op-bank-a", "op-bank-b")
    }
    assert audited == {("op-bank-a", "create"), ("op-bank-b", "update")}
    with admin_engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT c.state, c.keyed_by, c.second_keyed_by, c.account_version "
                "FROM intake.bank_changes c JOIN intake.applications a "
                "ON a.id = c.application_id WHERE a.application_number = :n"
            ),
            {"n": number},
        ).one()
    assert tuple(row) == ("APPLIED", "op-bank-a", "op-bank-b", 2)
    with pytest.raises(grpc.RpcError) as reused:  # the same request id with other content
        keying(intake, number, "op-bank-b", TYPO, request_id=second_id)
    assert reused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def _audit(engine: Engine, number: str) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT actor, action FROM audit.events WHERE rpc = 'RecordBankAccountChange' "
                "AND application_id = :n ORDER BY seq"
            ),
            {"n": number},
        ).all()
    return [(r.actor, r.action) for r in rows]


def test_differing_keyings_list_the_fields_apply_nothing_and_the_next_keying_starts_again(
    intake: Client, admin_engine: Engine
) -> None:
    number = application(intake)
    keying(intake, number, "op-bank-a")
    differing = keying(intake, number, "op-bank-b", TYPO)
    assert differing.outcome == intake_pb2.MISMATCH and not differing.applied
    assert list(differing.differing_fields) == ["bank_account.number"]
    assert (_version(admin_engine, number), _events(admin_engine, number)) == (1, 0)
    assert ("op-bank-b", "read") in _audit(admin_engine, number)
    restarted = keying(intake, number, "op-bank-b")  # a new change, from its first keying
    assert restarted.outcome == intake_pb2.FIRST_KEYING_STORED
    verified = keying(intake, number, "op-bank-a")
    assert verified.outcome == intake_pb2.ACCEPTED and verified.account_version == 2
    assert _events(admin_engine, number) == 1


def test_the_database_refuses_a_change_closed_by_the_operator_who_keyed_it(
    intake: Client, admin_engine: Engine
) -> None:
    number = application(intake)
    keying(intake, number, "op-bank-a")
    with (
        pytest.raises(sqlalchemy.exc.IntegrityError, match="ck_bank_changes_two_operators"),
        admin_engine.begin() as connection,
    ):
        connection.execute(
            text(
                "UPDATE intake.bank_changes c SET state = 'APPLIED', account_version = 2, "
                "second_keyed_by = c.keyed_by, second_request_id = 'same-person' "
                "FROM intake.applications a WHERE a.id = c.application_id "
                "AND a.application_number = :n"
            ),
            {"n": number},
        )
    with (
        pytest.raises(sqlalchemy.exc.IntegrityError, match="uq_bank_changes_pending"),
        admin_engine.begin() as connection,
    ):  # one change in the making per application
        connection.execute(
            text(
                "INSERT INTO intake.bank_changes (application_id, program_id, request_id, "
                "request_digest, keyed_by, state) SELECT id, program_id, :r, 'x', 'op-bank-c', "
                "'PENDING' FROM intake.applications WHERE application_number = :n"
            ),
            {"n": number, "r": uuid.uuid4().hex},
        )
