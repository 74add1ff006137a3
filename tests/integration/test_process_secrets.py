"""Least privilege in every process (issue 19): the administrator prepares the platform
once; each service process the launcher starts (as `make up` and `make demo` start them)
holds only what is its own, as a pod does.

For the sign-in service and every declared service, started by `launcher.start_stack` on
the session's prepared platform, the test reads the running process's environment
(`/proc/<pid>/environ`) and what it has open (`/proc/<pid>/fd`): no Vault root token, no
administrator's database URL, no token of another service, neither in a variable nor as an
open file; its database login is its own role and its Vault token file is its own. It then
makes one real call through the whole stack, so the processes did start with that little.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import grpc
import pytest
from admin_support import PASSWORD, account
from sqlalchemy import Engine, make_url
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc

from subsidy_platform.db import role_of
from subsidy_platform.deployed import TOKEN_FILE
from subsidy_platform.launcher import TOKEN_HOLDERS, service_modules, start_stack
from subsidy_platform.runtime import TOKEN_FOLDER, Environment
from subsidy_platform.staff_client import StaffSession

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("VAULT_ADDR")), reason="the root token is the embedded OpenBao's"
)


def _free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode(errors="replace") for key, value in pairs}


def _open_files(pid: int) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.append(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile
    return found


def test_each_service_process_holds_only_its_own_secrets(
    environment: Environment, admin_engine: Engine
) -> None:
    root = environment.infrastructure.vault_admin_token
    tokens = environment.vault_tokens
    admin_user = make_url(environment.infrastructure.database_url).username
    token_folder = environment.settings.state_dir / TOKEN_FOLDER
    addresses = {name: _free_address() for name in service_modules()}
    stack = start_stack(environment, addresses)
    try:
        for name, process in stack.processes.items():
            own_holder = TOKEN_HOLDERS.get(name, name)
            variables = _environ(process.pid)
            text = "\n".join(f"{k}={v}" for k, v in variables.items())
            assert "VAULT_TOKEN" not in variables, name
            assert root and root not in text, f"{name} holds the root token"
            for holder, token in tokens.items():
                if holder != own_holder:
                    assert token not in text, f"{name} holds {holder}'s token"
            assert variables[TOKEN_FILE] == str(token_folder / own_holder)
            login = make_url(variables["DATABASE_URL"]).username
            assert login == role_of(name) and login != admin_user, name
            opened = _open_files(process.pid)
            assert not [f for f in opened if "root-token" in f or "unseal" in f], name
            assert not [
                f
                for f in opened
                if f.startswith(str(token_folder)) and f != str(token_folder / own_holder)
            ], name
            assert process.poll() is None, f"{name} exited"
        # the processes serve with that little: a real sign-in and a read through intake
        login = account(admin_engine, "call_center", "least")
        session = StaffSession(environment.pki)
        try:
            session.sign_in(addresses["auth"], login, PASSWORD)
            stub = session.stub(addresses["intake"], intake_pb2_grpc.IntakeServiceStub)
            with pytest.raises(grpc.RpcError) as missing:
                stub.GetTimeline(
                    intake_pb2.GetTimelineRequest(application_number="S2025-999998"),
                    metadata=session.metadata,
                    timeout=30,
                )
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        finally:
            session.close()
    finally:
        stack.stop()
