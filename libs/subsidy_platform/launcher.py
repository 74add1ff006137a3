"""Start the platform's services as separate processes on one machine, and stop them.

The demo (and an operator's interactive stack) runs every service as its own process, as
in production: the sign-in service and each declared service, started with
`python -m <module>` under the same state folder once the caller has prepared the platform
(`runtime.prepare`, the administrator's step). Each process starts as a pod does, with
only what is its own (subsidy_platform.deployed): its database login, Vault's address and
the file of its own Vault token; never the administrator's token, database URL or another
service's token. Each listens on its own port (`<NAME>_LISTEN`) and is told where its
peers are (`<NAME>_ADDRESS`). `start_stack` waits
until each answers the gRPC health check over mutual TLS (with the staff client
certificate), and `Stack.stop` sends SIGTERM (each service drains its calls in flight) and
waits, killing one that lingers. Each process logs to `<state>/logs/<name>.log`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from subsidy_platform.db import database_url_for, role_of
from subsidy_platform.declaration import declarations
from subsidy_platform.deployed import TOKEN_FILE
from subsidy_platform.runtime import TOKEN_FOLDER, Environment
from subsidy_platform.tls import Pki, channel_credentials, client_identity
from subsidy_platform.vault import CHECKPOINT_WRITER

START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
MODULES = {"auth": "subsidy_platform.auth_main"}
TOKEN_HOLDERS = {"auth": CHECKPOINT_WRITER}
"""Whose Vault token a process holds when it is not its own name's: the sign-in service
writes the audit checkpoints."""
WITHHELD = frozenset(
    {"VAULT_TOKEN", "DATABASE_URL", "VAULT_ADDR", "PGPASSWORD", "PGPASSFILE", TOKEN_FILE}
)
"""Variables of the caller a service never inherits (an administrator's secrets)."""


@dataclass
class Stack:
    """Running service processes by name, with the addresses they listen on."""

    addresses: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def stop(self) -> list[str]:
        """SIGTERM every process, wait for each to drain; the names of those stopped."""
        stopped = []
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in reversed(list(self.processes.items())):
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            stopped.append(name)
        self.processes.clear()
        return stopped


def service_modules() -> dict[str, str]:
    """The module each service runs as (`python -m`), sign-in first."""
    modules = dict(MODULES)
    for name in declarations():
        modules[name] = f"subsidy_{name}.main"
    return modules


def start_stack(
    environment: Environment,
    addresses: Mapping[str, str],
    *,
    names: Sequence[str] | None = None,
    detach: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Stack:
    """Start the services (all by default) of a prepared platform and wait until each
    serves; `detach`: each in its own session, so that it outlives the caller and its
    terminal (`subsidy-admin up`); `environ`: variables added to the services' environment
    only (a test's `TZ`, a preloaded clock), never to the servers they use."""
    settings, pki = environment.settings, environment.pki
    modules = service_modules()
    stack = Stack(dict(addresses))
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for name in names or list(modules):
            with (logs / f"{name}.log").open("ab") as log:
                stack.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", modules[name]],
                    env={**service_environment(environment, name, addresses), **(environ or {})},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=detach,
                )
            _wait_serving(name, stack.processes[name], addresses[name], pki, logs)
    except BaseException:
        stack.stop()
        raise
    return stack


def service_environment(
    environment: Environment, name: str, addresses: Mapping[str, str]
) -> dict[str, str]:
    """What service `name` starts with: the caller's variables less every secret and
    dependency setting, then, as a pod has them, its own database login, Vault's address and
    the file of its own Vault token (so it attaches and provisions nothing), its listen
    address and its peers' addresses; the service's declared local defaults (the synthetic
    ward account of payments) where the caller sets none."""
    tokens = environment.settings.state_dir / TOKEN_FOLDER
    declared = declarations().get(name)
    variables = dict(declared.local_defaults) if declared is not None else {}
    variables.update({k: v for k, v in os.environ.items() if k not in WITHHELD})
    variables.update(
        {
            "SUBSIDY_STATE_DIR": str(environment.settings.state_dir),
            "DATABASE_URL": database_url_for(
                environment.infrastructure.database_url, role_of(name)
            ),
            "VAULT_ADDR": environment.infrastructure.vault_addr,
            TOKEN_FILE: str(tokens / TOKEN_HOLDERS.get(name, name)),
            f"{name.upper()}_LISTEN": addresses[name],
        }
    )
    for peer, address in addresses.items():
        variables[f"{peer.upper()}_ADDRESS"] = address
    return variables


def _wait_serving(
    name: str, process: subprocess.Popen[bytes], address: str, pki: Pki, logs: Path
) -> None:
    credentials = channel_credentials(pki, client_identity("console"))
    deadline = time.monotonic() + START_TIMEOUT
    with grpc.secure_channel(address, credentials) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; see {logs}/{name}.log"
                )
            try:
                status = health.Check(  # type: ignore[attr-defined]
                    health_pb2.HealthCheckRequest(), timeout=2
                ).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start in time; see {logs}/{name}.log")
            time.sleep(0.3)
