"""The audit log is append-only and hash-chained, on a real PostgreSQL (DESIGN.md principle 7).

Each test gets its own database, migrated from scratch, so tampering in one test never
breaks the chain another test (or another module) relies on.
"""

from __future__ import annotations

import contextlib
import io
import json
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

from subsidy_platform import audit, audit_cli
from subsidy_platform.admin import main as admin_main
from subsidy_platform.audit import Action, AuditEvent
from subsidy_platform.checkpoints import (
    CheckpointError,
    CheckpointSigner,
    CheckpointStore,
    start_checkpointing,
    verify_with_checkpoints,
    write_checkpoint,
)
from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine, migrate, provision_database
from subsidy_platform.errors import AccessDenied
from subsidy_platform.runtime import Environment
from subsidy_platform.vault import CHECKPOINT_WRITER

SERVICE_ROLE = "svc_intake"


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
    engine = make_engine(database_url)
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
    engine: Engine,
) -> None:
    for number in range(20):
        _record(engine, [_event(number * 5 + offset) for offset in range(5)])
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def writer(thread: int) -> None:
        try:
            start.wait()
            for number in range(25):
                with Session(engine) as session, session.begin():
                    audit.record(session, _event(1000 * thread + number, actor=f"op-{thread}"))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(thread,)) for thread in range(4)]
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


@pytest.mark.parametrize(
    ("tampering", "first_broken_seq"),
    [
        (["UPDATE audit.events SET actor = 'someone-else' WHERE seq = 7"], 7),
        (["UPDATE audit.events SET fields = '{}' WHERE seq = 13"], 13),
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
    ids=["altered-actor", "altered-fields", "removed-row", "truncated-tail", "re-ordered-rows"],
)
def test_tampering_by_a_database_administrator_is_found_at_the_first_broken_seq(
    engine: Engine, tampering: list[str], first_broken_seq: int
) -> None:
    _record(engine, [_event(number) for number in range(20)])
    assert audit.verify(engine).ok

    _tamper(engine, *tampering)
    result = audit.verify(engine)

    assert not result.ok
    assert result.first_broken_seq == first_broken_seq
    assert result.rows == first_broken_seq - 1
    assert result.problem


def test_a_rewritten_chain_is_found_by_an_anchor_kept_outside_the_database(
    engine: Engine,
) -> None:
    _record(engine, [_event(number) for number in range(10)])
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
    _record(engine, [_event(number, actor="forger") for number in range(10)])

    assert audit.verify(engine).ok
    result = audit.verify(engine, anchors={10: anchor})
    assert (result.ok, result.first_broken_seq) == (False, 10)


def _verify_command(database_url: str, folder: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = audit_cli.verify_main(
            ["--database-url", database_url, "--checkpoints", str(folder), *argv]
        )
    return code, json.loads(output.getvalue())


def test_the_verify_command_prints_json_and_exits_1_on_a_broken_chain(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    _record(engine, [_event(number) for number in range(3)])

    def run(*argv: str) -> tuple[int, dict[str, object]]:
        return _verify_command(database_url, tmp_path / "checkpoints", *argv)

    code, intact = run()
    assert (code, intact["ok"], intact["rows"]) == (0, True, 3)

    _tamper(engine, "DELETE FROM audit.events WHERE seq = 2")
    code, broken = run()
    assert (code, broken["ok"], broken["first_broken_seq"]) == (1, False, 2)


@contextlib.contextmanager
def _as_service_role(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session, session.begin():
        session.execute(text(f"SET LOCAL ROLE {SERVICE_ROLE}"))
        yield session


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.events SET purpose = 'x' WHERE seq = 1",
        "DELETE FROM audit.events WHERE seq = 1",
        "TRUNCATE audit.events",
    ],
)
def test_a_service_role_may_append_and_read_but_not_change_audit_events(
    engine: Engine, statement: str
) -> None:
    with _as_service_role(engine) as session:
        assert audit.record(session, _event(1)) == 1
        assert [found.seq for found in audit.search(session, application_id="S2025-000001")] == [1]

    with (
        pytest.raises(ProgrammingError, match="permission denied"),
        _as_service_role(engine) as session,
    ):
        session.execute(text(statement))
    assert audit.verify(engine).ok


def test_even_the_owner_cannot_change_audit_events_or_move_the_chain_head_back(
    engine: Engine,
) -> None:
    _record(engine, [_event(number) for number in range(3)])
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
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE public.applications (id text PRIMARY KEY)"))

    with pytest.raises(RuntimeError), Session(engine) as session, session.begin():
        session.execute(text("INSERT INTO public.applications VALUES ('S2025-000001')"))
        audit.record(session, _event(1, action=Action.CREATE))
        raise RuntimeError("the business write failed after the audit record")

    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit.events")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM applications")).scalar_one() == 0
    assert _record(engine, [_event(2)]) == [1]
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
    engine: Engine,
) -> None:
    with pytest.raises(ValueError, match="purpose"):
        AuditEvent("op-1", "call_center", "intake", "/x/Unmask", Action.UNMASK, "S2025-000001")

    with pytest.raises(DBAPIError, match="ck_events_purpose_given"), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit.events (seq, at, actor, role, service, rpc, action, prev_hash,"
                " hash) VALUES (1, now(), 'a', 'r', 's', 'x', 'unmask', repeat('0', 64),"
                " repeat('0', 64))"
            )
        )


def test_the_auditor_searches_newest_first_and_sees_activity_counted_per_actor(
    engine: Engine,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    _record(engine, [_event(1, actor="op-1"), _event(2, actor="op-1"), _event(1, actor="op-2")])
    _record(engine, [_event(1, actor="op-2", action=Action.UNMASK)])
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
    assert [event.seq for event in by_actor] == [2]
    assert [event.seq for event in older] == [1]
    assert summary.total == 4
    assert [(item.actor, item.action, item.count) for item in summary.activity] == [
        ("op-1", "read", 2),
        ("op-2", "read", 1),
        ("op-2", "unmask", 1),
    ]


def test_a_given_time_and_the_current_trace_id_are_recorded_and_verify(engine: Engine) -> None:
    japan = timezone(timedelta(hours=9), "JST")
    imported = replace(_event(1), at=datetime(2025, 6, 1, 9, 30, 15, 123456, tzinfo=japan))
    tracer = TracerProvider().get_tracer(__name__)
    with tracer.start_as_current_span("GetApplication") as span:
        _record(engine, [imported, _event(2)])
    trace_id = f"{span.get_span_context().trace_id:032x}"

    with Session(engine) as session:
        second, first = audit.search(session)

    assert first.at == imported.at
    assert (first.trace_id, second.trace_id) == (trace_id, trace_id)
    assert audit.verify(engine).ok


# Signed checkpoints (issue "Hardening", finding 6). Every tampering below is done as the
# database superuser (the tests' administrator connection), who cannot reach Vault's signing
# key nor write the checkpoint folder.


@pytest.fixture
def signer(vault_admin_client: hvac.Client, vault_tokens: dict[str, str]) -> CheckpointSigner:
    """Signs as the platform's checkpoint writer (its own Vault token and policy)."""
    return CheckpointSigner(
        hvac.Client(url=vault_admin_client.url, token=vault_tokens[CHECKPOINT_WRITER])
    )


@pytest.fixture
def store(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(tmp_path / "audit-checkpoints")


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


def test_forged_rows_in_place_of_checkpointed_ones_are_found_as_rewritten_history(
    engine: Engine, signer: CheckpointSigner, store: CheckpointStore
) -> None:
    _record(engine, [_event(number) for number in range(20)])
    checkpoint = write_checkpoint(engine, signer, store)
    assert checkpoint is not None and checkpoint.seq == 20

    _move_head_back(engine, 16)
    _record(engine, [_event(number, actor="forger") for number in range(4)])
    assert audit.verify(engine).ok  # the chain alone cannot tell
    check = verify_with_checkpoints(engine, store)

    assert (check.ok, check.result.first_broken_seq) == (False, 20)
    assert "書き換え" in (check.result.problem or "")
    with pytest.raises(CheckpointError):
        write_checkpoint(engine, signer, store)  # a rewritten chain is never sealed


def test_deleting_the_newest_rows_and_moving_the_head_back_is_found_by_the_checkpoint(
    engine: Engine, signer: CheckpointSigner, store: CheckpointStore
) -> None:
    _record(engine, [_event(number) for number in range(12)])
    write_checkpoint(engine, signer, store)

    _move_head_back(engine, 9)
    assert audit.verify(engine).ok
    check = verify_with_checkpoints(engine, store)

    assert (check.ok, check.result.rows, check.result.first_broken_seq) == (False, 9, 10)
    assert "削除" in (check.result.problem or "")


def test_emptying_the_table_and_resetting_the_head_is_found_by_the_checkpoint(
    engine: Engine, signer: CheckpointSigner, store: CheckpointStore
) -> None:
    _record(engine, [_event(number) for number in range(5)])
    write_checkpoint(engine, signer, store)

    _move_head_back(engine, 0)
    assert audit.verify(engine).ok
    assert not verify_with_checkpoints(engine, store).ok
    _record(engine, [_event(number, actor="forger") for number in range(8)])  # and refilled

    check = verify_with_checkpoints(engine, store)
    assert (check.ok, check.result.first_broken_seq) == (False, 5)


@pytest.mark.xfail(
    strict=True,
    reason="a checkpoint cannot tell a forged row from a genuine one: rows appended with "
    "correct hashes after the newest checkpoint pass, and the next checkpoint seals them "
    "(docs/SECURITY.md, Hardening findings)",
)
def test_rows_forged_after_the_newest_checkpoint_are_found(
    engine: Engine, signer: CheckpointSigner, store: CheckpointStore
) -> None:
    _record(engine, [_event(number) for number in range(5)])
    write_checkpoint(engine, signer, store)
    _record(engine, [_event(number, actor="forger") for number in range(3)])
    assert not verify_with_checkpoints(engine, store).ok


def test_an_altered_checkpoint_file_fails_verification(
    engine: Engine, signer: CheckpointSigner, store: CheckpointStore
) -> None:
    _record(engine, [_event(number) for number in range(6)])
    checkpoint = write_checkpoint(engine, signer, store)
    assert checkpoint is not None and verify_with_checkpoints(engine, store).ok
    path = store.directory / f"{checkpoint.seq:020d}.json"
    document = json.loads(path.read_text())
    _move_head_back(engine, 3)
    document["hash"] = audit.verify(engine).head_hash  # "the checkpoint said seq 3"
    path.unlink()
    (store.directory / f"{3:020d}.json").write_text(json.dumps({**document, "seq": 3}))

    check = verify_with_checkpoints(engine, store)

    assert (check.ok, check.result.first_broken_seq) == (False, 3)
    assert "署名" in (check.result.problem or "")


def test_only_the_checkpoint_writer_may_sign_checkpoints(
    vault_admin_client: hvac.Client, vault_tokens: dict[str, str]
) -> None:
    for service in ("intake", "review"):
        service_signer = CheckpointSigner(
            hvac.Client(url=vault_admin_client.url, token=vault_tokens[service])
        )
        with pytest.raises(AccessDenied):
            service_signer.sign(b"seq 1000 is fine")


def test_checkpoints_are_written_every_n_events_and_only_over_an_intact_chain(
    engine: Engine, signer: CheckpointSigner, store: CheckpointStore
) -> None:
    assert write_checkpoint(engine, signer, store) is None  # an empty chain
    _record(engine, [_event(number) for number in range(4)])
    first = write_checkpoint(engine, signer, store, every=3)
    _record(engine, [_event(number) for number in range(2)])
    assert write_checkpoint(engine, signer, store, every=3) == first
    _record(engine, [_event(9)])
    second = write_checkpoint(engine, signer, store, every=3)
    assert (first and first.seq, second and second.seq) == (4, 7)
    assert [c.seq for c in store.checkpoints()] == [4, 7]
    assert {p.stat().st_mode & 0o777 for p in store.directory.glob("*.json")} == {0o600}
    assert store.directory.stat().st_mode & 0o777 == 0o700

    _record(engine, [_event(10)])
    _record(engine, [_event(11)])
    _tamper(engine, "UPDATE audit.events SET actor = 'someone-else' WHERE seq = 8")
    with pytest.raises(CheckpointError):
        write_checkpoint(engine, signer, store)
    assert [c.seq for c in store.checkpoints()] == [4, 7]


def test_a_long_running_process_checkpoints_by_itself(
    engine: Engine, signer: CheckpointSigner, store: CheckpointStore
) -> None:
    checkpointing = start_checkpointing(engine, signer, store, every=5, interval=0.05)
    try:
        _record(engine, [_event(number) for number in range(5)])
        assert checkpointing.wait_for_checkpoint(5, timeout=30)
    finally:
        checkpointing.stop()
    assert checkpointing.failures == 0
    assert [c.seq for c in store.checkpoints()] == [5]


def test_the_verify_command_prints_the_head_as_the_anchor_it_takes_and_checks_checkpoints(
    engine: Engine, database_url: str, signer: CheckpointSigner, tmp_path: Path
) -> None:
    store = CheckpointStore(tmp_path / "checkpoints")
    _record(engine, [_event(number) for number in range(7)])
    write_checkpoint(engine, signer, store)

    code, intact = _verify_command(database_url, store.directory)
    head = intact["head"]
    assert (code, intact["ok"], intact["checkpoint"], intact["checkpoints"]) == (0, True, head, 1)
    assert head == f"7:{intact['head_hash']}"
    assert _verify_command(database_url, store.directory, "--anchor", head)[0] == 0

    _move_head_back(engine, 6)
    code, broken = _verify_command(database_url, store.directory)
    assert (code, broken["ok"], broken["head"]) == (1, False, broken["head"])
    assert broken["head"].startswith("6:")


def test_the_checkpoint_command_signs_the_platforms_audit_head(
    environment: Environment, platform_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUBSIDY_STATE_DIR", str(platform_settings.state_dir))
    admin = make_engine(environment.infrastructure.database_url)
    try:
        with Session(admin) as session, session.begin():
            audit.record(session, _event(1))
    finally:
        admin.dispose()
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = admin_main(["audit", "checkpoint"])
    printed = json.loads(output.getvalue())

    assert (code, printed["ok"]) == (0, True)
    store = CheckpointStore.of(platform_settings.state_dir)
    assert store.checkpoints()[-1].anchor == printed["checkpoint"]
