"""Running `subsidy-admin` against the real sign-in service, and the accounts the tests use."""

from __future__ import annotations

import io
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from subsidy_platform.admin import main as admin_main
from subsidy_platform.process import ServiceProcess
from subsidy_platform.refusals import RefusalAudit
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import StaffSession
from subsidy_platform.users import create_user

PASSWORD = "admin-commands passphrase 1"


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def account(engine: Engine, role: str, prefix: str, password: str = PASSWORD) -> str:
    """A new account of `role` with a unique login."""
    login = f"{prefix}-{uuid.uuid4().hex[:10]}"
    with Session(engine) as session:
        create_user(session, login, role, password)
        session.commit()
    return login


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    auth: ServiceProcess,
    environment: Environment,
    *argv: str,
    login: str,
    stdin: str,
) -> Outcome:
    """`subsidy-admin ARGV --auth-server ... --login LOGIN --password-stdin` in this process."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = admin_main(
        [
            *argv,
            "--auth-server",
            auth.address,
            "--login",
            login,
            "--password-stdin",
            "--pki",
            str(environment.settings.state_dir / "pki"),
        ]
    )
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def signs_in(auth: ServiceProcess, environment: Environment, login: str, password: str) -> bool:
    session = StaffSession(environment.pki)
    try:
        session.sign_in(auth.address, login, password)
        return True
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        return False
    finally:
        session.close()


def events(engine: Engine, where: str, **values: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                text(f"SELECT * FROM audit.events WHERE {where} ORDER BY seq"), values
            ).mappings()
        )


def audit_text(engine: Engine, after_seq: int) -> str:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT row_to_json(e)::text FROM audit.events e WHERE seq > :s"), {"s": after_seq}
        ).all()
    return "".join(str(row[0]) for row in rows)


def last_seq(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT last_seq FROM audit.chain_head")).scalar_one())


def refusals_of(process: ServiceProcess) -> RefusalAudit:
    """The process's refused-call auditor (to flush it now instead of waiting)."""
    found = [task for task in process.context.background if isinstance(task, RefusalAudit)]
    assert len(found) == 1
    return found[0]
