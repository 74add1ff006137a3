"""Session fixtures for integration tests: a real PostgreSQL and a real OpenBao, never mocks.

With DATABASE_URL / VAULT_ADDR (+ VAULT_TOKEN) set, the tests use those servers; otherwise
each test session (each pytest-xdist worker) starts its own embedded PostgreSQL and OpenBao
under its own temporary state folder and stops them at the end, leaving nothing running.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
from intake_support import PROGRAM as INTAKE_PROGRAM
from intake_support import Client, make_client
from sqlalchemy import Engine
from subsidy.review.v1 import review_pb2_grpc
from subsidy_intake.main import build
from subsidy_review.main import build as build_review

from subsidy_platform.auth_main import build as build_auth
from subsidy_platform.config import STATE_ROOT, Settings
from subsidy_platform.db import make_engine, migrate, migrated_components, provision_database
from subsidy_platform.declaration import declarations
from subsidy_platform.embedded import (
    Infrastructure,
    ensure_infrastructure,
    ensure_postgres,
    stop_infrastructure,
    stop_openbao,
    stop_postgres,
)
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment, prepare
from subsidy_platform.staff_client import staff_channel
from subsidy_platform.vault import provision_vault
from subsidy_rules.program import get_program

PROGRAM = "shinjuku-2025"


@pytest.fixture(scope="session")
def platform_settings() -> Iterator[Settings]:
    """The environment's settings, with a state folder of this test session.

    The folder is made with mkdtemp rather than pytest's tmp_path_factory: pytest prunes
    old basetemp folders when another session starts, which would pull the data folder
    from under a running embedded PostgreSQL.
    """
    state_dir = Path(tempfile.mkdtemp(prefix="subsidy-test-", dir=STATE_ROOT.parent))
    try:
        yield Settings(
            state_dir=state_dir,
            database_url=os.environ.get("DATABASE_URL") or None,
            vault_addr=os.environ.get("VAULT_ADDR") or None,
            vault_token=os.environ.get("VAULT_TOKEN") or None,
            otel_endpoint=None,
        )
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def infrastructure(platform_settings: Settings) -> Iterator[Infrastructure]:
    """PostgreSQL and Vault for the session (embedded ones are stopped at the end)."""
    try:
        yield ensure_infrastructure(platform_settings)
    finally:
        stop_infrastructure(platform_settings)


@pytest.fixture(scope="session")
def admin_database_url(infrastructure: Infrastructure) -> str:
    return infrastructure.database_url


@pytest.fixture(scope="session")
def vault_admin_client(infrastructure: Infrastructure) -> hvac.Client:
    return hvac.Client(url=infrastructure.vault_addr, token=infrastructure.vault_admin_token)


@pytest.fixture(scope="session")
def vault_tokens(vault_admin_client: hvac.Client, platform_settings: Settings) -> dict[str, str]:
    """Service -> Vault token, provisioned for the program shinjuku-2025."""
    token_dir: Path = platform_settings.state_dir / "vault-tokens"
    return provision_vault(vault_admin_client, [PROGRAM], token_dir=token_dir)


@pytest.fixture(scope="session")
def environment(infrastructure: Infrastructure, platform_settings: Settings) -> Environment:
    """The platform prepared on the session's PostgreSQL and OpenBao (migrated, provisioned)."""
    return prepare(platform_settings, [INTAKE_PROGRAM])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def addresses() -> dict[str, str]:
    """Where this session's services listen (free ports picked up front, so that each
    service's clients and outbox relay know their peers before those start)."""
    return {name: f"127.0.0.1:{_free_port()}" for name in ("auth", *declarations())}


@pytest.fixture(scope="session")
def intake(environment: Environment, addresses: dict[str, str]) -> Iterator[Client]:
    """A running intake server over mutual TLS for the session."""
    process = build(
        environment,
        {INTAKE_PROGRAM: get_program(INTAKE_PROGRAM)},
        addresses["intake"],
        addresses=addresses,
    )
    try:
        yield make_client(environment, process)
    finally:
        process.stop(grace=1.0)


@pytest.fixture(scope="session")
def review(
    environment: Environment,
    addresses: dict[str, str],
    intake: Client,
    payments: ServiceProcess,  # subscribed to review's decisions: its outbox must drain
    notices: ServiceProcess,  # review's decisions and correction requests are delivered to it
) -> Iterator[ServiceProcess]:
    """A running review server (its own process object, reaching intake over mTLS)."""
    process = build_review(
        environment,
        {INTAKE_PROGRAM: get_program(INTAKE_PROGRAM)},
        addresses["review"],
        addresses=addresses,
    )
    try:
        yield process
    finally:
        process.stop(grace=1.0)


@pytest.fixture
def review_stub(
    intake: Client, review: ServiceProcess
) -> Iterator[review_pb2_grpc.ReviewServiceStub]:
    """A review stub under the staff client certificate."""
    with staff_channel(intake.environment.pki, review.address) as channel:
        yield review_pb2_grpc.ReviewServiceStub(channel)


@pytest.fixture(scope="session")
def auth(environment: Environment) -> Iterator[ServiceProcess]:
    """The platform's sign-in service for the session."""
    process = build_auth(environment)
    try:
        yield process
    finally:
        process.stop(grace=1.0)


@pytest.fixture
def private_state() -> Iterator[Path]:
    """A state folder of one test, for servers it starts and stops itself (outages)."""
    folder = Path(tempfile.mkdtemp(prefix="subsidy-private-", dir=STATE_ROOT.parent))
    try:
        yield folder
    finally:
        stop_openbao(folder)
        stop_postgres(folder)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class PrivateDatabase:
    """A PostgreSQL of one test (migrated, stoppable) under the session's Vault and PKI."""

    url: str
    environment: Environment


@pytest.fixture
def private_database(environment: Environment, private_state: Path) -> PrivateDatabase:
    url = ensure_postgres(private_state)
    provision_database(url)
    for component in migrated_components():
        migrate(url, component)
    infrastructure = Infrastructure(
        url, environment.infrastructure.vault_addr, environment.infrastructure.vault_admin_token
    )
    return PrivateDatabase(
        url,
        Environment(
            environment.settings, infrastructure, environment.vault_tokens, environment.pki
        ),
    )


@pytest.fixture(scope="session")
def admin_engine(environment: Environment) -> Iterator[Engine]:
    engine = make_engine(environment.infrastructure.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def notices(
    environment: Environment, addresses: dict[str, str], intake: Client
) -> Iterator[ServiceProcess]:
    """A running notices server (reaching intake over mTLS under its own identity)."""
    from subsidy_notices.main import build as build_notices

    process = build_notices(
        environment,
        {INTAKE_PROGRAM: get_program(INTAKE_PROGRAM)},
        addresses["notices"],
        addresses=addresses,
    )
    try:
        yield process
    finally:
        process.stop(grace=1.0)


@pytest.fixture(scope="session")
def payments(
    environment: Environment, addresses: dict[str, str], intake: Client
) -> Iterator[ServiceProcess]:
    """A running payments server (its own process object, reaching intake over mTLS)."""
    from subsidy_payments.main import build as build_payments

    process = build_payments(
        environment,
        {INTAKE_PROGRAM: get_program(INTAKE_PROGRAM)},
        addresses["payments"],
        addresses=addresses,
    )
    try:
        yield process
    finally:
        process.stop(grace=1.0)
