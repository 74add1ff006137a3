"""When Vault or PostgreSQL is down, intake answers UNAVAILABLE and writes nothing.

Each test runs its own intake server against a dependency of its own (a second OpenBao
or a second embedded PostgreSQL) so that stopping it does not disturb the other tests.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import hvac
import pytest
from intake_support import PROGRAM, Client, count, make_client, proto
from sqlalchemy import Engine, text
from subsidy.intake.v1 import intake_pb2
from subsidy_intake.main import build

from conftest import PrivateDatabase
from subsidy_platform.db import make_engine
from subsidy_platform.embedded import (
    Infrastructure,
    ensure_openbao,
    ensure_postgres,
    stop_openbao,
    stop_postgres,
)
from subsidy_platform.runtime import Environment
from subsidy_platform.vault import provision_vault
from subsidy_rules.program import get_program


def submit(
    client: Client, request_id: str, **changes: object
) -> intake_pb2.SubmitApplicationResponse:
    with client.stub() as stub:
        response: intake_pb2.SubmitApplicationResponse = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=request_id, program_id=PROGRAM, application=proto(**changes)
            ),
            metadata=client.staff("operator"),
            timeout=30,
        )
        return response


def test_vault_down_gives_unavailable_and_no_row(
    environment: Environment, admin_engine: Engine, private_state: Path
) -> None:
    bao = ensure_openbao(private_state)
    tokens = provision_vault(hvac.Client(url=bao.addr, token=bao.root_token), [PROGRAM])
    own = Environment(
        environment.settings,
        Infrastructure(environment.infrastructure.database_url, bao.addr, bao.root_token),
        tokens,
        environment.pki,
    )
    process = build(own, {PROGRAM: get_program(PROGRAM)})
    client = make_client(own, process)
    try:
        before = submit(
            client,
            "vault-up",
            **{"logo_answer_id": "5500000001", "applicant.name_kana": "ボルト アップ"},
        )
        assert before.application_number
        rows = count(admin_engine, "SELECT count(*) FROM intake.applications")
        last_seq = count(admin_engine, "SELECT coalesce(max(seq), 0) FROM audit.events")
        stop_openbao(private_state)
        with pytest.raises(grpc.RpcError) as raised:
            submit(
                client,
                "vault-down",
                **{"logo_answer_id": "5500000002", "applicant.name_kana": "ボルト ダウン"},
            )
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "Vault" in (raised.value.details() or "")
        assert count(admin_engine, "SELECT count(*) FROM intake.applications") == rows
        # (other services of the session audit their own work meanwhile: only submissions count)
        submissions = count(
            admin_engine,
            "SELECT count(*) FROM audit.events WHERE seq > :s AND rpc LIKE '%SubmitApplication'",
            s=last_seq,
        )
        assert submissions == 0
    finally:
        process.stop(grace=0.5)
        # The row written under the private Vault's keys would be unreadable for the others.
        with admin_engine.begin() as connection:
            connection.execute(
                text("DELETE FROM intake.applications WHERE application_number = :n"),
                {"n": before.application_number},
            )


def test_postgres_down_gives_unavailable_and_nothing_half_written(
    private_database: PrivateDatabase, private_state: Path
) -> None:
    database_url, own = private_database.url, private_database.environment
    process = build(own, {PROGRAM: get_program(PROGRAM)})
    client = make_client(own, process)
    try:
        submit(client, "pg-up", **{"logo_answer_id": "5600000001"})
        stop_postgres(private_state)
        with pytest.raises(grpc.RpcError) as raised:
            submit(
                client,
                "pg-down",
                **{"logo_answer_id": "5600000002", "applicant.name_kana": "ピージー ダウン"},
            )
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        process.stop(grace=0.5)
    ensure_postgres(private_state)
    engine = make_engine(database_url)
    try:
        assert count(engine, "SELECT count(*) FROM intake.applications") == 1
        assert (
            count(
                engine,
                "SELECT count(*) FROM intake.blind_indexes WHERE application_id NOT IN "
                "(SELECT id FROM intake.applications)",
            )
            == 0
        )
        assert count(engine, "SELECT count(*) FROM audit.events") == 1
    finally:
        engine.dispose()
