"""The embedded default keeps its data (issue 10, section 1): stopping both embedded servers
(`subsidy-admin down`) or killing them (a machine reboot) and starting them again on the same
state folder keeps every row of every schema, every Vault key and token; values still
decrypt, staff still sign in, the audit chain verifies against its old head, and a new
application never reuses an old number. Real PostgreSQL and OpenBao, restarted for real.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from intake_support import PROGRAM, proto
from sqlalchemy import text
from sqlalchemy.orm import Session
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy_intake.main import build as build_intake

from subsidy_platform.audit import VerifyResult, verify
from subsidy_platform.auth_main import build as build_auth
from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine
from subsidy_platform.declaration import declarations
from subsidy_platform.embedded import ensure_infrastructure, stop_infrastructure
from subsidy_platform.errors import DependencyUnavailable
from subsidy_platform.runtime import Environment, prepare
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.users import create_user
from subsidy_rules.program import get_program

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL") or os.environ.get("VAULT_ADDR")),
    reason="restarts the embedded servers",
)

LOGIN = "restart-operator"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    session: StaffSession
    intake: intake_pb2_grpc.IntakeServiceStub
    auth_address: str


@contextmanager
def services(environment: Environment) -> Iterator[Running]:
    """The sign-in and intake services of `environment`, stopped on exit."""
    addresses = {name: f"127.0.0.1:{_free_port()}" for name in ("auth", *declarations())}
    programs = {PROGRAM: get_program(PROGRAM)}
    auth = build_auth(environment, address=addresses["auth"])
    intake = build_intake(environment, programs, addresses["intake"], addresses=addresses)
    session = StaffSession(environment.pki)
    try:
        yield Running(
            session,
            session.stub(addresses["intake"], intake_pb2_grpc.IntakeServiceStub),
            addresses["auth"],
        )
    finally:
        session.close()
        intake.stop(grace=1.0)
        auth.stop(grace=1.0)


def snapshot(database_url: str) -> dict[str, str]:
    """Every table of the platform's schemas -> a digest of all its rows."""
    schemas = ["auth", "audit", *(d.schema for d in declarations().values())]
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = connection.execute(
                text(
                    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                    "WHERE table_schema = ANY(:s) AND table_type = 'BASE TABLE' ORDER BY 1"
                ),
                {"s": schemas},
            ).scalars()
            return {
                table: connection.execute(
                    text(
                        f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' "
                        f"ORDER BY t::text)), '') FROM {table} AS t"
                    )
                ).scalar_one()
                for table in tables
            }
    finally:
        engine.dispose()


def vault_keys(environment: Environment) -> dict[str, int]:
    """Transit key -> latest version, read with the administrator's token."""
    admin = environment.vault_client("intake")
    admin.token = environment.infrastructure.vault_admin_token
    names = admin.secrets.transit.list_keys()["data"]["keys"]
    return {
        name: int(admin.secrets.transit.read_key(name=name)["data"]["latest_version"])
        for name in names
    }


def kill_embedded_servers(state_dir: Path) -> None:
    """What a power cut does: SIGKILL to OpenBao and to PostgreSQL with all its processes."""
    postmaster = int((state_dir / "pg" / "postmaster.pid").read_text().split()[0])
    bao = int(json.loads((state_dir / "bao" / "server.json").read_text())["pid"])
    victims = {bao, postmaster, *_children(postmaster)}
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    for pid in victims:
        while Path(f"/proc/{pid}").exists() and _state(pid) not in ("Z", "X", None):
            time.sleep(0.05)
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) == parent:
                found.append(int(entry.name))
    return found


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_a_stop_and_a_power_cut_keep_every_application_key_token_and_audit_row(
    private_state: Path,
) -> None:
    settings = Settings(private_state, None, None, None, None)
    environment = prepare(settings, [PROGRAM])
    password = secrets.token_urlsafe(18)
    admin = make_engine(environment.infrastructure.database_url)
    try:
        with Session(admin) as session:
            create_user(session, LOGIN, "operator", password)
            session.commit()
    finally:
        admin.dispose()

    with services(environment) as running:
        running.session.sign_in(running.auth_address, LOGIN, password)
        old_token = running.session.metadata
        numbers = [
            running.intake.SubmitApplication(
                intake_pb2.SubmitApplicationRequest(
                    program_id=PROGRAM,
                    request_id=f"restart-{i}",
                    application=proto(
                        logo_answer_id=f"20000000{i:02d}",
                        **{"applicant.phone": f"03-5555-00{i:02d}"},
                    ),
                ),
                metadata=old_token,
                timeout=30,
            ).application_number
            for i in range(3)
        ]
        views = {n: _unmasked(running, n) for n in numbers}
    before = snapshot(environment.infrastructure.database_url)
    head = _verify(environment.infrastructure.database_url)
    keys = vault_keys(environment)
    assert head.ok and head.rows > 0
    assert before["intake.applications"].startswith("3:")

    for restart in ("down", "power cut"):
        if restart == "down":
            assert stop_infrastructure(settings) == ["OpenBao", "PostgreSQL"]
        else:
            kill_embedded_servers(private_state)
        environment = prepare(settings, [PROGRAM])
        url = environment.infrastructure.database_url
        assert snapshot(url) == before, restart
        assert vault_keys(environment) == keys, restart
        assert environment.vault_tokens["intake"]  # the stored service tokens still valid
        checked = _verify(url, anchors={head.rows: head.head_hash or ""})
        assert checked.ok, (restart, checked.problem)

        with services(environment) as running:
            # a token issued before the restart is still accepted, the password still works
            running.session.metadata = old_token
            assert _unmasked(running, numbers[0]) == views[numbers[0]]
            running.session.sign_in(running.auth_address, LOGIN, password)
            for number, view in views.items():
                assert _unmasked(running, number) == view
            with pytest.raises(grpc.RpcError) as refused:
                running.session.sign_in(running.auth_address, LOGIN, password + "x")
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        before = snapshot(url)  # the sign-ins and reads above were audited: the new baseline
        head = _verify(url)

    with services(environment) as running:
        running.session.sign_in(running.auth_address, LOGIN, password)
        fresh = running.intake.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                program_id=PROGRAM,
                request_id="restart-new",
                application=proto(
                    logo_answer_id="2000000099", **{"applicant.phone": "03-5555-0099"}
                ),
            ),
            metadata=running.session.metadata,
            timeout=30,
        ).application_number
    assert fresh not in numbers
    assert _serial(fresh) > max(_serial(n) for n in numbers)


def test_a_new_vault_for_a_database_holding_service_data_is_refused(
    private_state: Path,
) -> None:
    settings = Settings(private_state, None, None, None, None)
    prepare(settings, [PROGRAM])
    stop_infrastructure(settings)
    for name in ("unseal-key", "root-token"):
        (private_state / "bao" / name).unlink()
    with pytest.raises(DependencyUnavailable, match="OpenBao"):
        ensure_infrastructure(settings)


def _unmasked(running: Running, number: str) -> bytes:
    view = running.intake.GetApplication(
        intake_pb2.GetApplicationRequest(
            application_number=number, unmask=True, purpose="再起動後の確認"
        ),
        metadata=running.session.metadata,
        timeout=30,
    )
    assert not view.masked and view.application.applicant.name
    return bytes(view.application.SerializeToString(deterministic=True))


def _verify(url: str, anchors: dict[int, str] | None = None) -> VerifyResult:
    engine = make_engine(url)
    try:
        return verify(engine, anchors=anchors)
    finally:
        engine.dispose()


def _serial(number: str) -> int:
    return int(number.rsplit("-", 1)[1])
