"""The platform's maintenance RPC on a running service: only the operator's certificate may
purge a program; the purge runs in the service's schema, deletes only that program's rows,
lists the tables it kept (each with why), and is idempotent; a repeated erasure id gets the
recorded answer (audited as a repeat), and the same erasure id for another program is
refused."""

from __future__ import annotations

import uuid

import grpc
import pytest
from intake_support import Client
from sqlalchemy import Engine, text
from subsidy.maintenance.v1 import maintenance_pb2, maintenance_pb2_grpc

from subsidy_platform.tls import channel_credentials, client_identity

PROBE = "purge-probe-2025"


def purge(
    intake: Client, identity: str, erasure_id: str = "", program_id: str = PROBE
) -> maintenance_pb2.PurgeProgramResponse:
    credentials = channel_credentials(intake.environment.pki, identity)
    with grpc.secure_channel(f"localhost:{intake.process.port}", credentials) as channel:
        stub = maintenance_pb2_grpc.MaintenanceServiceStub(channel)
        response: maintenance_pb2.PurgeProgramResponse = stub.PurgeProgram(
            maintenance_pb2.PurgeProgramRequest(
                program_id=program_id, erasure_id=erasure_id or f"erasure-{uuid.uuid4().hex}"
            ),
            timeout=30,
        )
        return response


def test_only_the_operator_may_purge_a_program(intake: Client) -> None:
    for identity, code in [
        ("review", grpc.StatusCode.PERMISSION_DENIED),
        (client_identity("console"), grpc.StatusCode.UNAUTHENTICATED),
    ]:
        with pytest.raises(grpc.RpcError) as raised:
            purge(intake, identity)
        assert raised.value.code() == code, identity


def test_a_purge_deletes_only_the_programs_rows_and_is_idempotent(
    intake: Client, admin_engine: Engine
) -> None:
    with admin_engine.connect() as connection:
        others = connection.execute(
            text("SELECT count(*) FROM intake.applications WHERE program_id <> :p"), {"p": PROBE}
        ).scalar_one()
    first = purge(intake, "operator")
    assert first.service == "intake"
    assert "intake.applications" in {t.table for t in first.tables}
    assert "intake.outbox" in {t.table for t in first.tables}
    assert "intake.alembic_version" in first.kept_tables
    assert all(k.reason for k in first.kept) and [k.table for k in first.kept] == list(
        first.kept_tables
    )
    assert not first.repeated
    assert purge(intake, "operator").total_rows == 0
    with admin_engine.connect() as connection:
        after = connection.execute(
            text("SELECT count(*) FROM intake.applications WHERE program_id <> :p"), {"p": PROBE}
        ).scalar_one()
        audited = connection.execute(
            text(
                "SELECT count(*) FROM audit.events WHERE service = 'intake' "
                "AND action = 'purge' AND purpose LIKE :p"
            ),
            {"p": f"%{PROBE}%"},
        ).scalar_one()
    assert after == others
    assert audited >= 2


def test_a_repeated_erasure_id_gets_the_recorded_answer_and_another_program_is_refused(
    intake: Client, admin_engine: Engine
) -> None:
    erasure = f"erasure-{uuid.uuid4().hex}"
    first = purge(intake, "operator", erasure)
    again = purge(intake, "operator", erasure)
    assert again.repeated and not first.repeated
    assert [(t.table, t.rows) for t in again.tables] == [(t.table, t.rows) for t in first.tables]
    assert again.purged_at == first.purged_at and again.total_rows == first.total_rows
    with pytest.raises(grpc.RpcError) as refused:
        purge(intake, "operator", erasure, program_id="another-program-2025")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "another-program-2025" not in (refused.value.details() or "")
    with admin_engine.connect() as connection:
        actions = (
            connection.execute(
                text(
                    "SELECT action FROM audit.events WHERE service = 'intake' "
                    "AND purpose LIKE :p ORDER BY seq"
                ),
                {"p": f"%{erasure}%"},
            )
            .scalars()
            .all()
        )
    assert actions == ["purge", "purge_repeat"]
