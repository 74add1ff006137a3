"""The process skeleton every service runs (issue 6, DESIGN.md principles 11 and 12).

A service's `main.py` names its servicers and little else:

    def servicers(context: ServiceContext) -> list[Registration]: ...
    build = builder(DECLARATION, servicers)
    def main() -> None:
        run_service(DECLARATION.name, build)

The platform supplies the rest: the engine logged in as the service's own role, telemetry
(traced RPCs and SQL), the Vault client holding the service's token and a field cipher per
program, the token verifier, the access interceptor over the service's declared RPC x role
table, the mutual-TLS server with health and reflection, the clients for calling other
services under its identity, the outbox relay, and a drain on SIGTERM. `run_service` logs
one ready line with the address when the service serves and one when it has stopped.
With `SUBSIDY_HEALTH_LISTEN` set (Kubernetes: `0.0.0.0:8081`) it also answers the kubelet's
plaintext gRPC probes there, health checks only (subsidy_platform.server); with
`SUBSIDY_VAULT_TOKEN_FILE` set (a pod with a Vault agent) it attaches to what the pod holds
instead of provisioning (subsidy_platform.deployed).
Calls the access interceptor refuses are audited in aggregated batches (refusals), journaled
in `<state>/refusals` before each is answered so that a SIGKILL loses none.
Health follows the dependencies (subsidy_platform.health): NOT_SERVING while PostgreSQL or
(for a declared service) Vault does not answer, SERVING again when they do; the engine's
pool pre-pings and the field ciphers retry a call whose connection failed, after pointing
the client at the embedded OpenBao's current address, so a restarted dependency is reached
again without restarting the service.
The platform's own sign-in service (AuthService) is started by the same skeleton
(subsidy_platform.auth_main).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import hvac
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from subsidy_platform.access import AccessPolicy, AuthInterceptor
from subsidy_platform.accounts import AccountCheckingVerifier, AccountStates
from subsidy_platform.clients import ServiceClients, service_addresses
from subsidy_platform.config import Settings
from subsidy_platform.crypto import FieldCipher
from subsidy_platform.db import database_url_for, make_engine, role_of, session_factory
from subsidy_platform.declaration import ServiceDeclaration, default_address, peers_of
from subsidy_platform.deployed import attach, is_deployed
from subsidy_platform.embedded import openbao_address
from subsidy_platform.health import DependencyWatch, database_probe, vault_probe
from subsidy_platform.logs import setup_logging
from subsidy_platform.maintenance import MAINTENANCE_TABLE, maintenance_registration
from subsidy_platform.outbox import OutboxRelay
from subsidy_platform.refusals import RefusalAudit
from subsidy_platform.runtime import Environment, prepare
from subsidy_platform.server import (
    Registration,
    RunningServer,
    start_health_listener,
    start_server,
    wait_for_termination,
)
from subsidy_platform.telemetry import (
    instrument_engine,
    instrument_grpc_server,
    setup_telemetry,
    shutdown,
)
from subsidy_platform.tls import server_credentials
from subsidy_platform.tokens import TokenVerifier, load_public_key
from subsidy_platform.unit_of_work import UnitOfWork
from subsidy_platform.vault import TokenRenewal, start_token_renewal
from subsidy_rules.program import Program, load_programs

log = logging.getLogger(__name__)
R = TypeVar("R")
DRAIN_SECONDS = 25.0
HEALTH_LISTEN = "SUBSIDY_HEALTH_LISTEN"
"""Where the plaintext health-only listener for the kubelet's gRPC probes listens (unset: none)."""


@dataclass
class ServiceContext:
    """What a service's servicers are built from (one per process)."""

    name: str
    environment: Environment
    programs: Mapping[str, Program]
    engine: Engine
    sessions: sessionmaker[Session]
    tracer_provider: TracerProvider
    clients: ServiceClients
    relay: OutboxRelay | None = None
    _vault: hvac.Client | None = None
    _renewal: TokenRenewal | None = None
    background: list[Stoppable] = field(default_factory=list)
    _ciphers: dict[str, FieldCipher] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.environment.settings

    @property
    def vault(self) -> hvac.Client:
        """Vault under the service's own token (its policy, nothing more), renewed while
        the process runs (service tokens are short-lived)."""
        if self._vault is None:
            self._vault = self.environment.vault_client(self.name)
            self._renewal = start_token_renewal(self._vault)
        return self._vault

    def close(self) -> None:
        """Stop the background work (threads the servicers started) and the token renewal."""
        for task in reversed(self.background):
            task.stop()
        self.background.clear()
        if self._renewal is not None:
            self._renewal.stop()
            self._renewal = None

    def cipher(self, program_id: str) -> FieldCipher:
        """The field cipher of one program under this service's Vault policy (cached)."""
        cipher = self._ciphers.get(program_id)
        if cipher is None:
            cipher = self._ciphers[program_id] = FieldCipher(
                self.vault, program_id, reconnect=self.reconnect_vault
            )
        return cipher

    def reconnect_vault(self, client: hvac.Client) -> None:
        """Point `client` at the embedded OpenBao's current address (it keeps its address
        across restarts unless its port was taken meanwhile); an external Vault's address
        is configuration and stays."""
        if self.settings.vault_addr is None:
            address = openbao_address(self.settings.state_dir, client.url)
            if address is not None and address != client.url:
                log.warning("the embedded OpenBao moved; following it")
                client.url = address

    def unit_of_work(self, repository: Callable[[Session], R]) -> UnitOfWork[R]:
        """Transactions of this service; a commit that published events wakes the relay."""
        uow = UnitOfWork(self.sessions, self.name, repository)
        if self.relay is not None:
            uow.on_commit.append(self.relay.wake)
        return uow


Servicers = Callable[[ServiceContext], Sequence[Registration]]


class Stoppable(Protocol):
    """Background work of a process (a thread with a stop)."""

    def stop(self, timeout: float = ...) -> None: ...


@dataclass
class ServiceProcess:
    """A running service and what must be closed with it."""

    running: RunningServer
    context: ServiceContext

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    def stop(self, grace: float = 5.0) -> None:
        """Drain calls in flight, stop the relay, close pools and channels, flush traces."""
        self.running.stop(grace)
        if self.context.relay is not None:
            self.context.relay.stop()
        self.context.clients.close()
        self.context.close()
        self.context.engine.dispose()
        shutdown(self.context.tracer_provider)


def start_process(
    environment: Environment,
    name: str,
    table: Mapping[str, frozenset[str]],
    servicers: Servicers,
    *,
    programs: Mapping[str, Program],
    address: str = "127.0.0.1:0",
    tls: bool = True,
    addresses: Mapping[str, str] | None = None,
    outbox: bool = False,
    pool_size: int = 16,
    vault: bool = False,
) -> ServiceProcess:
    """Start one service's server on `address` (port 0: any free port); its health follows
    the database and, with `vault`, Vault under the service's token."""
    settings = environment.settings
    url = database_url_for(environment.infrastructure.database_url, role_of(name))
    engine = make_engine(url, pool_size=pool_size, max_overflow=pool_size)
    provider = setup_telemetry(name, settings)
    instrument_engine(engine, provider)
    peers = peers_of(name)
    clients = ServiceClients(
        environment.pki,
        name,
        service_addresses(names=sorted(peers or ())) if addresses is None else addresses,
        provider,
        peers=peers,
    )
    context = ServiceContext(
        name, environment, programs, engine, session_factory(engine), provider, clients
    )
    if outbox:
        context.relay = OutboxRelay(engine, name, clients.invoke)
    try:
        registrations = servicers(context)
        verifier = AccountCheckingVerifier(
            TokenVerifier(load_public_key(settings.state_dir)), AccountStates(engine)
        )
        refusals = RefusalAudit(engine, name, journal=settings.state_dir / "refusals").start()
        context.background.append(refusals)
        running = start_server(
            registrations,
            credentials=server_credentials(environment.pki, name) if tls else None,
            interceptors=[
                instrument_grpc_server(provider),
                AuthInterceptor(AccessPolicy(table), verifier, refusals),
            ],
            address=address,
        )
    except Exception:
        context.close()
        clients.close()
        engine.dispose()
        shutdown(provider)
        raise
    probes = {"database": database_probe(engine)}
    if vault:
        probes["vault"] = vault_probe(lambda: context.vault, context.reconnect_vault)
    context.background.append(DependencyWatch(running, probes).start())
    if context.relay is not None:
        context.relay.start()
    return ServiceProcess(running, context)


def start_service(
    environment: Environment,
    declaration: ServiceDeclaration,
    servicers: Servicers,
    *,
    programs: Mapping[str, Program],
    address: str = "127.0.0.1:0",
    tls: bool = True,
    addresses: Mapping[str, str] | None = None,
) -> ServiceProcess:
    """Start a declared service (its role table, its outbox relay), with the platform's
    maintenance RPCs beside its own (subsidy_platform.maintenance: only the operator)."""

    def with_maintenance(context: ServiceContext) -> list[Registration]:
        return [*servicers(context), maintenance_registration(context.sessions, context.name)]

    return start_process(
        environment,
        declaration.name,
        {**declaration.rpc_roles, **MAINTENANCE_TABLE},
        with_maintenance,
        programs=programs,
        address=address,
        tls=tls,
        addresses=addresses,
        outbox=True,
        vault=True,
    )


class Build(Protocol):
    """A service's `build`: start it on an address (tests, the demo, `main`)."""

    def __call__(
        self,
        environment: Environment,
        programs: Mapping[str, Program],
        address: str = ...,
        *,
        tls: bool = ...,
        addresses: Mapping[str, str] | None = ...,
    ) -> ServiceProcess: ...


def builder(declaration: ServiceDeclaration, servicers: Servicers) -> Build:
    """The `build` function of a declared service whose servicers are `servicers`."""

    def build(
        environment: Environment,
        programs: Mapping[str, Program],
        address: str = "127.0.0.1:0",
        *,
        tls: bool = True,
        addresses: Mapping[str, str] | None = None,
    ) -> ServiceProcess:
        return start_service(
            environment,
            declaration,
            servicers,
            programs=programs,
            address=address,
            tls=tls,
            addresses=addresses,
        )

    return build


def run_service(
    name: str,
    start: Callable[[Environment, Mapping[str, Program], str], ServiceProcess],
    argv: Sequence[str] | None = None,
) -> None:
    """A service's `main`: prepare, serve on `<NAME>_LISTEN` until SIGTERM, drain, stop.

    The command line takes no arguments (configuration is the environment); `--help` says
    so and exits before anything is started."""
    service_arguments(name).parse_args(argv)
    setup_logging(name)
    settings = Settings.from_env()
    programs = load_programs()
    environment = attach(settings, name) if is_deployed() else prepare(settings, list(programs))
    address = os.environ.get(f"{name.upper()}_LISTEN") or default_address(name)
    process = start(environment, programs, address)
    log.info("%s serving on %s", name, address)
    health_address = os.environ.get(HEALTH_LISTEN)
    probes = start_health_listener(process.running, health_address)[0] if health_address else None
    try:
        wait_for_termination(process.running, grace=drain_seconds())
    finally:
        process.stop(grace=0)
        if probes is not None:
            probes.stop(0)
        log.info("%s stopped serving on %s", name, address)


def service_arguments(name: str) -> argparse.ArgumentParser:
    """The (empty) command line of a service process: only `--help`."""
    return argparse.ArgumentParser(
        prog=f"subsidy-{name}",
        description=(
            f"Serve the {name} service over mutual TLS until SIGTERM. Configured by the "
            f"environment: {name.upper()}_LISTEN (default {default_address(name)}), "
            "<PEER>_ADDRESS, SUBSIDY_STATE_DIR, DATABASE_URL, VAULT_ADDR and VAULT_TOKEN, "
            "OTEL_EXPORTER_OTLP_ENDPOINT, SUBSIDY_DRAIN_SECONDS (docs/OPERATIONS.md). "
            "`subsidy-admin up` starts every service detached."
        ),
    )


def drain_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """How long SIGTERM waits for calls in flight (`SUBSIDY_DRAIN_SECONDS`, default 25 s:
    under Kubernetes' default grace period of 30 s)."""
    try:
        return max(0.0, float(environ.get("SUBSIDY_DRAIN_SECONDS") or DRAIN_SECONDS))
    except ValueError:
        return DRAIN_SECONDS
