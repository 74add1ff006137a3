"""The audit log is append-only and hash-chained, on a real PostgreSQL (DESIGN.md principle 7);
its checkpoints are signed and kept in a real OpenBao (issue 19).

Each test gets its own database, migrated from scratch, so tampering in one test never
breaks the chain another test (or another module) relies on; its checkpoints are those of
its own chain (named after its database) in the session's OpenBao. Events are written with
intake's own login (the database binds every row to its writer); tampering is done as the
embedded PostgreSQL's superuser.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hvac
import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.orm import Session

from subsidy_platform import audit, audit_cli, checkpoints
from subsidy_platform.admin import main as admin_main
from subsidy_platform.audit import Action, AuditEvent
from subsidy_platform.checkpoints import (
    CheckpointCheck,
    CheckpointError,
    CheckpointSigner,
    VaultCheckpoints,
    chain_name,
    start_checkpointing,
    verify_with_checkpoints,
    write_checkpoint,
)
from subsidy_platform.config import Settings
from subsidy_platform.db import (
    database_url_for,
    make_engine,
    migrate,
    provision_database,
    service_roles,
)
from subsidy_platform.errors import AccessDenied
from subsidy_platform.runtime import Environment
from subsidy_platform.vault import CHECKPOINT_WRITER

SERVICE_ROLE = "svc_intake"
"""The events below are intake's: they are written with intake's own database login."""


def _event(number: int, *, actor: str = "op-001", action: str = Action.READ) -> AuditEvent:
    return AuditEvent(
        actor=actor,
        role="call_center",
        service="intake",
        rpc="/subsidy.intake.v1.IntakeService/GetApplication",
        action=action,
        application_id=f"S2025-{number:06d}",
        fields=("applicant.name", "applicant.phone"),
        purpose="本人からの問い合わせ対応" if action == Action.UNMASK else None,
    )


@pytest.fixture
def database_url(admin_database_url: str) -> Iterator[str]:
    """A fresh database with the service roles and the audit migration applied."""
    name = f"audit_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_database_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_database_url).set(database=name).render_as_string(hide_password=False)
    provision_database(url)
    migrate(url, "audit")
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The database superuser (the embedded default's administrator)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def writer(database_url: str) -> Iterator[Engine]:
    """Intake's own database login, which writes the events of these tests."""
    engine = make_engine(database_url_for(database_url, SERVICE_ROLE))
    yield engine
    engine.dispose()


def _record(engine: Engine, events: list[AuditEvent]) -> list[int]:
    with Session(engine) as session, session.begin():
        return audit.record_many(session, events)


def _tamper(engine: Engine, *statements: str) -> None:
    """What an attacker with database-administrator rights can do: switch the trigger off."""
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit.events DISABLE TRIGGER events_append_only"))
        for statement in statements:
            connection.execute(text(statement))
        connection.execute(text("ALTER TABLE audit.events ENABLE TRIGGER events_append_only"))


def test_the_chain_verifies_after_200_events_some_written_by_four_threads_at_once(
    engine: Engine, writer: Engine
) -> None:
    for number in range(20):
        _record(writer, [_event(number * 5 + offset) for offset in range(5)])
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            start.wait()
            for number in range(25):
                with Session(writer) as session, session.begin():
                    audit.record(session, _event(1000 * thread + number, actor=f"op-{thread}"))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=write, args=(thread,)) for thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    result = audit.verify(engine)
    assert result == audit.VerifyResult(True, 200, None, None, result.head_hash)
    with engine.connect() as connection:
        seqs = connection.execute(text("SELECT seq FROM audit.events ORDER BY seq")).scalars()
        assert list(seqs) == list(range(1, 201))
        writers = connection.execute(text("SELECT DISTINCT written_by FROM audit.events"))
        assert list(writers.scalars()) == [SERVICE_ROLE]


@pytest.mark.parametrize(
    ("tampering", "first_broken_seq"),
    [
        (["UPDATE audit.events SET actor = 'someone-else' WHERE seq = 7"], 7),
        (["UPDATE audit.events SET fields = '{}' WHERE seq = 13"], 13),
        (["UPDATE audit.events SET written_by = 'svc_payments' WHERE seq = 9"], 9),
        (["DELETE FROM audit.events WHERE seq = 12"], 12),
        (["DELETE FROM audit.events WHERE seq >= 19"], 19),
        (
            [
                "UPDATE audit.events SET seq = 1000 WHERE seq = 4",
                "UPDATE audit.events SET seq = 4 WHERE seq = 5",
                "UPDATE audit.events SET seq = 5 WHERE seq = 1000",
            ],
            4,
        ),
    ],
    ids=[
        "altered-actor",
        "altered-fields",
        "altered-writer",
        "removed-row",
        "truncated-tail",
        "re-ordered-rows",
    ],
)
def test_tampering_by_a_database_administrator_is_found_at_the_first_broken_seq(
    engine: Engine, writer: Engine, tampering: list[str], first_broken_seq: int
) -> None:
    _record(writer, [_event(number) for number in range(20)])
    assert audit.verify(engine).ok

    _tamper(engine, *tampering)
    result = audit.verify(engine)

    assert not result.ok
    assert result.first_broken_seq == first_broken_seq
    assert result.rows == first_broken_seq - 1
    assert result.problem


def test_a_rewritten_chain_is_found_by_an_anchor_kept_outside_the_database(
    engine: Engine, writer: Engine
) -> None:
    _record(writer, [_event(number) for number in range(10)])
    anchor = audit.verify(engine).head_hash
    assert anchor is not None

    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit.events DISABLE TRIGGER USER"))
        connection.execute(text("ALTER TABLE audit.chain_head DISABLE TRIGGER USER"))
        connection.execute(text("DELETE FROM audit.events"))
        connection.execute(
            text("UPDATE audit.chain_head SET last_seq = 0, last_hash = repeat('0', 64)")
        )
        connection.execute(text("ALTER TABLE audit.events ENABLE TRIGGER USER"))
        connection.execute(text("ALTER TABLE audit.chain_head ENABLE TRIGGER USER"))
    _record(writer, [_event(number, actor="forger") for number in range(10)])

    assert audit.verify(engine).ok
    result = audit.verify(engine, anchors={10: anchor})
    assert (result.ok, result.first_broken_seq) == (False, 10)


@contextlib.contextmanager
def _as_service_login(database_url: str, role: str = SERVICE_ROLE) -> Iterator[Session]:
    """A session logged in as the service's own login (not the administrator's SET ROLE)."""
    engine = make_engine(database_url_for(database_url, role))
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.events SET purpose = 'x' WHERE seq = 1",
        "DELETE FROM audit.events WHERE seq = 1",
        "TRUNCATE audit.events",
    ],
)
def test_a_service_role_may_append_and_read_but_not_change_audit_events(
    engine: Engine, database_url: str, statement: str
) -> None:
    with _as_service_login(database_url) as session:
        assert audit.record(session, _event(1)) == 1
        assert [found.seq for found in audit.search(session, application_id="S2025-000001")] == [1]

    with (
        pytest.raises(ProgrammingError, match="permission denied"),
        _as_service_login(database_url) as session,
    ):
        session.execute(text(statement))
    assert audit.verify(engine).ok


def test_even_the_owner_cannot_change_audit_events_or_move_the_chain_head_back(
    engine: Engine, writer: Engine
) -> None:
    _record(writer, [_event(number) for number in range(3)])
    for statement in (
        "UPDATE audit.events SET purpose = 'x' WHERE seq = 1",
        "DELETE FROM audit.events WHERE seq = 3",
        "TRUNCATE audit.events",
        "UPDATE audit.chain_head SET last_seq = 2",
        "DELETE FROM audit.chain_head",
    ):
        with pytest.raises(DBAPIError, match="監査ログ"), engine.begin() as connection:
            connection.execute(text(statement))
    assert audit.verify(engine).rows == 3


def test_a_rolled_back_business_transaction_leaves_no_audit_row_and_no_gap(
    engine: Engine, writer: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE public.applications (id text PRIMARY KEY)"))
        connection.execute(text(f"GRANT SELECT, INSERT ON public.applications TO {SERVICE_ROLE}"))

    with pytest.raises(RuntimeError), Session(writer) as session, session.begin():
        session.execute(text("INSERT INTO public.applications VALUES ('S2025-000001')"))
        audit.record(session, _event(1, action=Action.CREATE))
        raise RuntimeError("the business write failed after the audit record")

    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit.events")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM applications")).scalar_one() == 0
    assert _record(writer, [_event(2)]) == [1]
    assert audit.verify(engine).ok


def test_a_failed_audit_write_rolls_back_the_business_write(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE public.applications (id text PRIMARY KEY)"))

    with pytest.raises(DBAPIError), Session(engine) as session, session.begin():
        session.execute(text("INSERT INTO public.applications VALUES ('S2025-000001')"))
        session.execute(text("ALTER TABLE audit.chain_head RENAME TO chain_head_gone"))
        audit.record(session, _event(1, action=Action.CREATE))

    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM applications")).scalar_one() == 0


def test_unmasking_without_a_purpose_is_refused_by_the_event_and_by_the_table(
    database_url: str,
) -> None:
    with pytest.raises(ValueError, match="purpose"):
        AuditEvent("op-1", "call_center", "intake", "/x/Unmask", Action.UNMASK, "S2025-000001")

    with (
        pytest.raises(DBAPIError, match="ck_events_purpose_given"),
        _as_service_login(database_url) as session,
    ):
        session.execute(
            text(
                "INSERT INTO audit.events (seq, at, actor, role, service, rpc, action, prev_hash,"
                " hash) VALUES (1, now(), 'a', 'r', 'intake', 'x', 'unmask', repeat('0', 64),"
                " repeat('0', 64))"
            )
        )


def test_the_auditor_searches_newest_first_and_sees_activity_counted_per_actor(
    engine: Engine, writer: Engine
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    _record(writer, [_event(1, actor="op-1"), _event(2, actor="op-1"), _event(1, actor="op-2")])
    _record(writer, [_event(1, actor="op-2", action=Action.UNMASK)])
    after = datetime.now(UTC) + timedelta(seconds=1)

    with Session(engine) as session:
        found = audit.search(session, application_id="S2025-000001")
        by_actor = audit.search(session, actor="op-1", since=before, until=after, limit=1)
        older = audit.search(session, actor="op-1", before_seq=by_actor[0].seq)
        summary = audit.summarise(session, before, after)

    assert [(event.seq, event.actor, event.action) for event in found] == [
        (4, "op-2", "unmask"),
        (3, "op-2", "read"),
        (1, "op-1", "read"),
    ]
    assert found[0].purpose == "本人からの問い合わせ対応"
    assert found[0].fields == ("applicant.name", "applicant.phone")
    assert found[0].written_by == SERVICE_ROLE
    assert [event.seq for event in by_actor] == [2]
    assert [event.seq for event in older] == [1]
    assert summary.total == 4
    assert [(item.actor, item.action, item.count) for item in summary.activity] == [
        ("op-1", "read", 2),
        ("op-2", "read", 1),
        ("op-2", "unmask", 1),
    ]


def test_a_given_time_and_the_current_trace_id_are_recorded_and_verify(
    engine: Engine, writer: Engine
) -> None:
    japan = timezone(timedelta(hours=9), "JST")
    imported = replace(_event(1), at=datetime(2025, 6, 1, 9, 30, 15, 123456, tzinfo=japan))
    tracer = TracerProvider().get_tracer(__name__)
    with tracer.start_as_current_span("GetApplication") as span:
        _record(writer, [imported, _event(2)])
    trace_id = f"{span.get_span_context().trace_id:032x}"

    with Session(engine) as session:
        second, first = audit.search(session)

    assert first.at == imported.at
    assert (first.trace_id, second.trace_id) == (trace_id, trace_id)
    assert audit.verify(engine).ok


# Each writer only its own (issue 19, part 2): the database binds every appended row to the
# login that wrote it, and a login may append only its own service's events.


def test_every_service_login_may_append_only_its_own_services_events(
    engine: Engine, database_url: str
) -> None:
    logins = service_roles()
    assert {"auth", "intake", "review", "payments", "notices"} <= set(logins)
    for service, login in logins.items():
        for claimed in logins:
            forged = replace(_event(1, actor="ward-officer-7"), service=claimed)
            if claimed == service:
                with _as_service_login(database_url, login) as session:
                    audit.record(session, forged)
                continue
            with (
                pytest.raises(DBAPIError, match="自分のサービスの記録しか書けません"),
                _as_service_login(database_url, login) as session,
            ):
                audit.record(session, forged)

    with engine.connect() as connection:
        written = connection.execute(
            text("SELECT service, written_by FROM audit.events ORDER BY seq")
        ).all()
    assert [tuple(row) for row in written] == [(s, login) for s, login in logins.items()]
    assert audit.verify(engine).ok


def test_no_login_can_name_another_writer_and_the_administrator_cannot_append(
    engine: Engine, database_url: str
) -> None:
    with (
        pytest.raises(DBAPIError, match="自分のログイン名でしか書けません"),
        _as_service_login(database_url, "svc_payments") as session,
    ):
        session.execute(
            text(
                "INSERT INTO audit.events (seq, at, actor, role, service, rpc, action, prev_hash,"
                " hash, written_by) VALUES (1, now(), 'ward-officer-7', 'ward_officer', "
                "'payments', 'x', 'read', repeat('0', 64), repeat('0', 64), 'svc_review')"
            )
        )
    with (
        pytest.raises(DBAPIError, match="サービスのログインだけです"),
        Session(engine) as session,
        session.begin(),
    ):
        audit.record(session, _event(1))
    # SET ROLE does not change the writer: the administrator acting as intake is still itself
    with (
        pytest.raises(DBAPIError, match="サービスのログインだけです"),
        Session(engine) as session,
        session.begin(),
    ):
        session.execute(text(f"SET LOCAL ROLE {SERVICE_ROLE}"))
        audit.record(session, _event(1))


def _superuser_appends(engine: Engine, *events: AuditEvent, written_by: str | None) -> None:
    """The superuser appends rows with correct hashes, the binding trigger switched off,
    naming any writer (or none)."""
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit.events DISABLE TRIGGER events_bound_to_login"))
        head = connection.execute(text("SELECT last_seq, last_hash FROM audit.chain_head")).one()
        seq, prev_hash = int(head.last_seq), str(head.last_hash)
        now = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
        for event in events:
            seq += 1
            row: dict[str, Any] = {
                "seq": seq,
                "at": now,
                "actor": event.actor,
                "role": event.role,
                "service": event.service,
                "rpc": event.rpc,
                "action": event.action,
                "application_id": event.application_id,
                "fields": list(event.fields),
                "purpose": event.purpose,
                "trace_id": None,
                "target": None,
                "written_by": written_by,
                "prev_hash": prev_hash,
            }
            row["hash"] = prev_hash = audit.row_hash(row)
            connection.execute(audit.events.insert().values(**row))
        connection.execute(
            text("UPDATE audit.chain_head SET last_seq = :s, last_hash = :h"),
            {"s": seq, "h": prev_hash},
        )
        connection.execute(text("ALTER TABLE audit.events ENABLE TRIGGER events_bound_to_login"))


def test_verify_reports_a_row_whose_writer_is_not_its_services_login(
    engine: Engine, writer: Engine
) -> None:
    _record(writer, [_event(number) for number in range(3)])
    as_review = replace(_event(4, actor="ward-officer-7"), service="review")
    _superuser_appends(engine, as_review, written_by="svc_payments")

    result = audit.verify(engine)

    assert (result.ok, result.first_broken_seq, result.rows) == (False, 4, 3)
    assert "svc_payments" in (result.problem or "") and "review" in (result.problem or "")


def test_verify_reports_a_row_without_a_writer_after_rows_with_one(
    engine: Engine, writer: Engine
) -> None:
    _record(writer, [_event(number) for number in range(2)])
    _superuser_appends(engine, _event(3), written_by=None)

    result = audit.verify(engine)

    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "ログインの記録がありません" in (result.problem or "")


# Signed checkpoints in OpenBao (issue 19, part 1). Every tampering below is done as the
# database superuser (the tests' administrator connection), who reaches neither Vault's
# signing key nor its KV store.


@pytest.fixture
def writer_client(vault_admin_client: hvac.Client, vault_tokens: dict[str, str]) -> hvac.Client:
    """The platform's checkpoint writer (its own Vault token and policy)."""
    return hvac.Client(url=vault_admin_client.url, token=vault_tokens[CHECKPOINT_WRITER])


@pytest.fixture
def signer(writer_client: hvac.Client) -> CheckpointSigner:
    return CheckpointSigner(writer_client)


@pytest.fixture
def store(writer_client: hvac.Client, engine: Engine) -> VaultCheckpoints:
    """This test's chain in OpenBao (named after its database)."""
    return VaultCheckpoints(writer_client, chain_name(engine))


def _superuser(engine: Engine, *statements: str) -> None:
    """Switch every audit trigger off, run the statements, switch them on again."""
    with engine.begin() as connection:
        for table in ("events", "chain_head"):
            connection.execute(text(f"ALTER TABLE audit.{table} DISABLE TRIGGER USER"))
        for statement in statements:
            connection.execute(text(statement))
        for table in ("events", "chain_head"):
            connection.execute(text(f"ALTER TABLE audit.{table} ENABLE TRIGGER USER"))


def _move_head_back(engine: Engine, seq: int) -> None:
    """Delete the rows after `seq` and point chain_head at row `seq`, as the superuser."""
    head = "repeat('0', 64)" if seq == 0 else f"(SELECT hash FROM audit.events WHERE seq = {seq})"
    _superuser(
        engine,
        f"DELETE FROM audit.events WHERE seq > {seq}",
        f"UPDATE audit.chain_head SET last_seq = {seq}, last_hash = {head}",
    )


def _check(engine: Engine, store: VaultCheckpoints, **options: Any) -> CheckpointCheck:
    return verify_with_checkpoints(engine, store, max_age=60, **options)


def test_forged_rows_in_place_of_checkpointed_ones_are_found_as_rewritten_history(
    engine: Engine, writer: Engine, signer: CheckpointSigner, store: VaultCheckpoints
) -> None:
    _record(writer, [_event(number) for number in range(20)])
    checkpoint = write_checkpoint(engine, signer, store)
    assert checkpoint.seq == 20
    assert _check(engine, store).ok

    _move_head_back(engine, 16)
    _record(writer, [_event(number, actor="forger") for number in range(4)])
    assert audit.verify(engine).ok  # the chain alone cannot tell
    check = _check(engine, store)

    assert (check.ok, check.result.first_broken_seq) == (False, 20)
    assert "書き換え" in (check.result.problem or "")
    with pytest.raises(CheckpointError):
        write_checkpoint(engine, signer, store)  # a rewritten chain is never sealed


def test_deleting_the_newest_rows_and_moving_the_head_back_is_found_by_the_checkpoint(
    engine: Engine, writer: Engine, signer: CheckpointSigner, store: VaultCheckpoints
) -> None:
    _record(writer, [_event(number) for number in range(12)])
    write_checkpoint(engine, signer, store)

    _move_head_back(engine, 9)
    assert audit.verify(engine).ok
    check = _check(engine, store)

    assert (check.ok, check.result.rows, check.result.first_broken_seq) == (False, 9, 10)
    assert "削除" in (check.result.problem or "")


def test_emptying_the_table_and_resetting_the_head_is_found_by_the_checkpoint(
    engine: Engine, writer: Engine, signer: CheckpointSigner, store: VaultCheckpoints
) -> None:
    _record(writer, [_event(number) for number in range(5)])
    write_checkpoint(engine, signer, store)

    _move_head_back(engine, 0)
    assert audit.verify(engine).ok
    assert not _check(engine, store).ok
    _record(writer, [_event(number, actor="forger") for number in range(8)])  # and refilled

    check = _check(engine, store)
    assert (check.ok, check.result.first_broken_seq) == (False, 5)


def test_rows_forged_after_the_newest_checkpoint_are_found(
    engine: Engine, writer: Engine, signer: CheckpointSigner, store: VaultCheckpoints
) -> None:
    _record(writer, [_event(number) for number in range(5)])
    checkpoint = write_checkpoint(engine, signer, store)
    assert checkpoint.recorded is not None
    forged = [_event(number, actor="forger") for number in range(3)]
    # the superuser appends them with correct hashes in intake's name (writer included)
    _superuser_appends(engine, *forged, written_by=SERVICE_ROLE)
    assert audit.verify(engine).ok  # the chain alone cannot tell

    within = _check(engine, store, now=checkpoint.recorded + timedelta(seconds=30))
    after = _check(engine, store, now=checkpoint.recorded + timedelta(seconds=61))

    # within the window they are reported as not yet sealed; once it has passed without a
    # checkpoint that sealed them, verification refuses to vouch for them
    assert (within.ok, within.unsealed) == (True, 3)
    assert (after.ok, after.result.first_broken_seq, after.unsealed) == (False, 6, 3)
    assert "保証できません" in (after.result.problem or "")
    assert "not vouched for" in (after.result.problem or "")


def test_forged_rows_in_the_administrators_name_are_never_sealed(
    engine: Engine, writer: Engine, signer: CheckpointSigner, store: VaultCheckpoints
) -> None:
    _record(writer, [_event(number) for number in range(4)])
    first = write_checkpoint(engine, signer, store)
    _superuser_appends(engine, _event(9, actor="forger"), written_by="postgres")

    with pytest.raises(CheckpointError, match="seq 5"):
        write_checkpoint(engine, signer, store)
    check = _check(engine, store)

    assert store.newest() == first
    assert (check.ok, check.result.first_broken_seq) == (False, 5)


def test_verification_fails_without_any_checkpoint(
    engine: Engine, writer: Engine, store: VaultCheckpoints
) -> None:
    _record(writer, [_event(number) for number in range(3)])
    assert audit.verify(engine).ok

    check = _check(engine, store)

    assert (check.ok, check.newest, check.checkpoints) == (False, None, 0)
    assert "チェックポイントがありません" in (check.result.problem or "")


def test_a_checkpoint_not_signed_by_the_writer_fails_verification(
    engine: Engine,
    writer: Engine,
    signer: CheckpointSigner,
    store: VaultCheckpoints,
    vault_admin_client: hvac.Client,
) -> None:
    _record(writer, [_event(number) for number in range(6)])
    checkpoint = write_checkpoint(engine, signer, store)
    _move_head_back(engine, 3)
    head = audit.verify(engine).head_hash
    # "the checkpoint said seq 3": a new version written with a token that may write the KV
    # store but not sign (here OpenBao's administrator, keeping the old signature)
    forged = {**checkpoint.document(), "seq": 3, "hash": head}
    path = store.path(checkpoint.bucket)
    vault_admin_client.adapter.post(
        f"/v1/{store.mount}/data/{path}",
        json={"options": {"cas": checkpoint.version}, "data": forged},
    )

    check = _check(engine, store)

    assert (check.ok, check.result.first_broken_seq) == (False, 3)
    assert "署名" in (check.result.problem or "")


def test_only_the_checkpoint_writer_may_sign_or_store_checkpoints(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str], engine: Engine
) -> None:
    for service in ("intake", "review", "payments", "auth"):
        if service not in vault_tokens:
            continue
        client = hvac.Client(url=vault_admin_client.url, token=vault_tokens[service])
        with pytest.raises(AccessDenied):
            CheckpointSigner(client).sign(b"seq 1000 is fine")
        with pytest.raises(AccessDenied):
            VaultCheckpoints(client, chain_name(engine)).newest()
        with pytest.raises(hvac.exceptions.Forbidden):
            client.adapter.post(
                f"/v1/subsidy-audit/data/checkpoints/{chain_name(engine)}/000000000001",
                json={"options": {"cas": 0}, "data": {"seq": 1}},
            )


def test_the_writer_adds_versions_but_can_neither_overwrite_nor_delete_them(
    engine: Engine, writer: Engine, signer: CheckpointSigner, store: VaultCheckpoints
) -> None:
    _record(writer, [_event(1)])
    first = write_checkpoint(engine, signer, store)
    second = write_checkpoint(engine, signer, store)  # fresh again, the head unchanged
    assert (first.seq, second.seq) == (1, 1)
    assert second.recorded is not None and first.recorded is not None
    assert second.recorded >= first.recorded
    assert (first.bucket, second.bucket, second.version) == (1, 1, first.version + 1)
    path = store.path(second.bucket)
    client = store.client
    data = {"data": first.document()}
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        client.adapter.post(f"/v1/{store.mount}/data/{path}", json=data)  # no CAS
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        client.adapter.post(
            f"/v1/{store.mount}/data/{path}",
            json={**data, "options": {"cas": first.version}},  # over history
        )
    for method, url, body in (
        ("delete", f"/v1/{store.mount}/data/{path}", None),
        ("post", f"/v1/{store.mount}/delete/{path}", {"versions": [1]}),
        ("post", f"/v1/{store.mount}/destroy/{path}", {"versions": [1]}),
        ("delete", f"/v1/{store.mount}/metadata/{path}", None),
        ("post", f"/v1/{store.mount}/metadata/{path}", {"max_versions": 1}),
        ("post", f"/v1/{store.mount}/config", {"cas_required": False}),
    ):
        with pytest.raises(hvac.exceptions.Forbidden):
            if body is None:
                getattr(client.adapter, method)(url)
            else:
                getattr(client.adapter, method)(url, json=body)
    assert store.newest() == second


def test_a_full_secret_is_followed_by_the_next_numbered_one_whatever_the_clocks(
    engine: Engine,
    writer: Engine,
    signer: CheckpointSigner,
    store: VaultCheckpoints,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(checkpoints, "SECRET_VERSIONS", 2)
    _record(writer, [_event(1)])
    written = [write_checkpoint(engine, signer, store) for _ in range(3)]
    _record(writer, [_event(2)])
    last = write_checkpoint(engine, signer, store)

    assert [(c.bucket, c.version) for c in [*written, last]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert store.newest() == last and last.seq == 2
    assert _check(engine, store).ok


def test_a_long_running_process_checkpoints_by_itself_every_interval(
    engine: Engine, writer: Engine, signer: CheckpointSigner, store: VaultCheckpoints
) -> None:
    checkpointing = start_checkpointing(engine, signer, store, interval=0.05)
    try:
        _record(writer, [_event(number) for number in range(5)])
        assert checkpointing.wait_for_checkpoint(5, timeout=30)
        sealed = checkpointing.newest
        assert sealed is not None
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while (newest := store.newest()) == sealed and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
    finally:
        checkpointing.stop()
    assert checkpointing.failures == 0
    # a new checkpoint of the same head (the log's freshness), a later version
    assert newest is not None and newest.seq == 5 and newest != sealed


def _verify_command(database_url: str, *argv: str) -> tuple[int, dict[str, Any]]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = audit_cli.verify_main(["--database-url", database_url, *argv])
    return code, json.loads(output.getvalue())


@pytest.fixture
def vault_environment(monkeypatch: pytest.MonkeyPatch, vault_admin_client: hvac.Client) -> None:
    """The verify command reaches the session's OpenBao as its administrator."""
    monkeypatch.setenv("VAULT_ADDR", vault_admin_client.url)
    monkeypatch.setenv("VAULT_TOKEN", str(vault_admin_client.token))


@pytest.mark.usefixtures("vault_environment")
def test_the_verify_command_prints_json_and_exits_1_on_a_broken_chain(
    engine: Engine,
    writer: Engine,
    database_url: str,
    signer: CheckpointSigner,
    store: VaultCheckpoints,
) -> None:
    _record(writer, [_event(number) for number in range(3)])
    write_checkpoint(engine, signer, store)

    code, intact = _verify_command(database_url)
    assert (code, intact["ok"], intact["rows"], intact["unsealed_rows"]) == (0, True, 3, 0)

    _tamper(engine, "DELETE FROM audit.events WHERE seq = 2")
    code, broken = _verify_command(database_url)
    assert (code, broken["ok"], broken["first_broken_seq"]) == (1, False, 2)


@pytest.mark.usefixtures("vault_environment")
def test_the_verify_command_prints_the_head_as_the_anchor_it_takes_and_checks_checkpoints(
    engine: Engine,
    writer: Engine,
    database_url: str,
    signer: CheckpointSigner,
    store: VaultCheckpoints,
) -> None:
    code, empty = _verify_command(database_url)
    assert (code, empty["ok"], empty["checkpoints"]) == (1, False, 0)  # no checkpoint yet
    _record(writer, [_event(number) for number in range(7)])
    write_checkpoint(engine, signer, store)

    code, intact = _verify_command(database_url)
    head = intact["head"]
    assert (code, intact["ok"], intact["checkpoint"], intact["checkpoints"]) == (0, True, head, 1)
    assert head == f"7:{intact['head_hash']}"
    assert _verify_command(database_url, "--anchor", head)[0] == 0

    threading.Event().wait(1.2)
    code, stale = _verify_command(database_url, "--max-age", "1")
    assert (code, stale["ok"], stale["first_broken_seq"]) == (1, False, 8)
    assert stale["checkpoint_age_seconds"] >= 1 and stale["max_age_seconds"] == 1

    _move_head_back(engine, 6)
    code, broken = _verify_command(database_url)
    assert (code, broken["ok"]) == (1, False)
    assert broken["head"].startswith("6:")


def test_the_checkpoint_command_signs_the_platforms_audit_head(
    environment: Environment,
    platform_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    vault_admin_client: hvac.Client,
) -> None:
    monkeypatch.setenv("SUBSIDY_STATE_DIR", str(platform_settings.state_dir))
    admin = make_engine(environment.infrastructure.database_url)
    try:
        with _as_service_login(environment.infrastructure.database_url) as session:
            audit.record(session, _event(1))
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = admin_main(["audit", "checkpoint"])
        printed = json.loads(output.getvalue())

        assert (code, printed["ok"]) == (0, True)
        newest = VaultCheckpoints(vault_admin_client, chain_name(admin)).newest()
    finally:
        admin.dispose()
    assert newest is not None
    seq = int(printed["checkpoint"].split(":")[0])
    assert newest.seq >= seq >= 1  # the sign-in service may have sealed more since
    assert not (platform_settings.state_dir / "audit-checkpoints").exists()


def _as_superuser_program(engine: Engine, command: str) -> None:
    """`COPY ... TO PROGRAM`: a shell command run by the database server's operating-system
    user, as any superuser of the embedded default may."""
    quoted = command.replace("'", "''")
    with engine.begin() as connection:
        connection.execute(text(f"COPY (SELECT 'forged') TO PROGRAM '{quoted}'"))


def test_the_embedded_databases_superuser_cannot_reach_the_checkpoints_nor_escape_them(
    engine: Engine,
    writer: Engine,
    signer: CheckpointSigner,
    store: VaultCheckpoints,
    platform_settings: Settings,
) -> None:
    with engine.connect() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    if Path(f"/proc/{backend}").stat().st_uid == os.geteuid():
        pytest.skip("the database server runs as this user: no operating-system boundary")
    _record(writer, [_event(number) for number in range(6)])
    checkpoint = write_checkpoint(engine, signer, store)
    assert checkpoint.recorded is not None
    state = platform_settings.state_dir

    # the local disk: neither a checkpoint folder to rewrite nor OpenBao's keys and tokens
    for command in (
        f"mkdir -p {state}/audit-checkpoints && cat > {state}/audit-checkpoints/keys.json",
        f"cat > {state}/bao/forged",
        f"cat {state}/bao/root-token",
        f"cat {state}/vault-tokens/{CHECKPOINT_WRITER}",
        f"cat > {state}/vault-tokens/forged",
    ):
        with pytest.raises(DBAPIError, match="program"):
            _as_superuser_program(engine, command)
    assert not (state / "audit-checkpoints").exists()
    assert not (state / "bao" / "forged").exists()

    # forged rows with correct hashes after the newest checkpoint, in intake's name
    _superuser_appends(engine, _event(90, actor="forger"), written_by=SERVICE_ROLE)
    assert audit.verify(engine).ok
    later = checkpoint.recorded + timedelta(seconds=61)
    stale = _check(engine, store, now=later)
    assert (stale.ok, stale.result.first_broken_seq, stale.unsealed) == (False, 7, 1)

    # the tail deleted and the head moved back: the checkpoint in OpenBao disagrees at once
    _move_head_back(engine, 4)
    assert audit.verify(engine).ok
    moved = _check(engine, store)
    assert (moved.ok, moved.result.first_broken_seq) == (False, 5)
    with pytest.raises(CheckpointError):
        write_checkpoint(engine, signer, store)
    assert store.newest() == checkpoint
