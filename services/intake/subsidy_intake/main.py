"""The intake service process: wiring only (DESIGN.md principle 12).

`subsidy-intake` reads the environment (`DATABASE_URL`, `VAULT_ADDR`, `SUBSIDY_STATE_DIR`,
`INTAKE_LISTEN` default 127.0.0.1:50051, `OTEL_EXPORTER_OTLP_ENDPOINT`), prepares the
platform (runtime.prepare), and serves IntakeService and AuthService over mutual TLS with
tracing, access control, health and reflection until SIGTERM, which drains in-flight calls.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from subsidy.auth.v1 import auth_pb2_grpc
from subsidy.intake.v1 import intake_pb2_grpc

from subsidy_intake.roles import AUTH, INTAKE, TABLE
from subsidy_intake.service import IntakeService
from subsidy_intake.servicer import IntakeServicer
from subsidy_platform.access import AccessPolicy, AuthInterceptor
from subsidy_platform.auth_service import AuthServicer
from subsidy_platform.config import Settings
from subsidy_platform.crypto import FieldCipher
from subsidy_platform.db import SERVICE_ROLES, database_url_for, make_engine, session_factory
from subsidy_platform.logs import setup_logging
from subsidy_platform.runtime import Environment, prepare
from subsidy_platform.server import RunningServer, start_server, wait_for_termination
from subsidy_platform.telemetry import (
    instrument_engine,
    instrument_grpc_server,
    setup_telemetry,
    shutdown,
)
from subsidy_platform.tls import server_credentials
from subsidy_platform.tokens import TokenIssuer, TokenVerifier, load_private_key, load_public_key
from subsidy_rules.program import Program, load_programs

SERVICE = "intake"


@dataclass
class IntakeProcess:
    """A running intake server and what must be closed with it."""

    running: RunningServer
    engine: Engine
    service: IntakeService
    tracer_provider: TracerProvider

    @property
    def port(self) -> int:
        return self.running.port

    def stop(self, grace: float = 5.0) -> None:
        """Drain in-flight calls, then close the database pool and flush the traces."""
        self.running.stop(grace)
        self.engine.dispose()
        shutdown(self.tracer_provider)


def build(
    environment: Environment,
    programs: Mapping[str, Program],
    *,
    address: str = "127.0.0.1:0",
    tls: bool = True,
) -> IntakeProcess:
    """Start the intake server on `address` (port 0: any free port)."""
    settings = environment.settings
    database_url = database_url_for(environment.infrastructure.database_url, SERVICE_ROLES[SERVICE])
    engine = make_engine(database_url, pool_size=16, max_overflow=16)
    provider = setup_telemetry(SERVICE, settings)
    instrument_engine(engine, provider)
    vault = environment.vault_client(SERVICE)
    service = IntakeService(
        session_factory(engine), lambda program_id: FieldCipher(vault, program_id), programs
    )
    verifier = TokenVerifier(load_public_key(settings.state_dir))
    issuer = TokenIssuer(load_private_key(settings.state_dir))
    running = start_server(
        [
            (intake_pb2_grpc.add_IntakeServiceServicer_to_server, IntakeServicer(service), INTAKE),
            (
                auth_pb2_grpc.add_AuthServiceServicer_to_server,
                AuthServicer(session_factory(engine), issuer),
                AUTH,
            ),
        ],
        credentials=server_credentials(environment.pki, SERVICE) if tls else None,
        interceptors=[
            instrument_grpc_server(provider),
            AuthInterceptor(AccessPolicy(TABLE), verifier),
        ],
        address=address,
    )
    return IntakeProcess(running, engine, service, provider)


def main() -> None:
    setup_logging(SERVICE)
    settings = Settings.from_env()
    programs = load_programs()
    environment = prepare(settings, list(programs))
    process = build(
        environment, programs, address=os.environ.get("INTAKE_LISTEN", "127.0.0.1:50051")
    )
    wait_for_termination(process.running)
    process.stop(grace=0)


if __name__ == "__main__":
    main()
