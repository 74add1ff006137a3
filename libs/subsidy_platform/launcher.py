"""Start the platform's services as separate processes on one machine, and stop them.

The demo (and an operator's interactive stack) runs every service as its own process, as
in production: the sign-in service and each declared service, started with
`python -m <module>` under the same state folder, each listening on its own port
(`<NAME>_LISTEN`) and told where its peers are (`<NAME>_ADDRESS`). `start_stack` waits
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

from subsidy_platform.config import Settings
from subsidy_platform.declaration import declarations
from subsidy_platform.tls import Pki, channel_credentials, client_identity

START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
MODULES = {"auth": "subsidy_platform.auth_main"}


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
    settings: Settings,
    pki: Pki,
    addresses: Mapping[str, str],
    *,
    names: Sequence[str] | None = None,
    detach: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Stack:
    """Start the services (all by default) and wait until each serves; `detach`: each in
    its own session, so that it outlives the caller and its terminal (`subsidy-admin up`);
    `environ`: variables added to the services' environment only (a test's `TZ`, a
    preloaded clock), never to the servers they use."""
    modules = service_modules()
    stack = Stack(dict(addresses))
    environment = {**_environment(settings, addresses), **(environ or {})}
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for name in names or list(modules):
            with (logs / f"{name}.log").open("ab") as log:
                stack.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", modules[name]],
                    env={**environment, f"{name.upper()}_LISTEN": addresses[name]},
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


def _environment(settings: Settings, addresses: Mapping[str, str]) -> dict[str, str]:
    environment = dict(os.environ)
    environment["SUBSIDY_STATE_DIR"] = str(settings.state_dir)
    for name, address in addresses.items():
        environment[f"{name.upper()}_ADDRESS"] = address
    return environment


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
