"""`subsidy-admin up` / `down` as an operator runs them (issue 10, section 2): in subprocesses,
on a state folder of the test and free ports; `up` starts the embedded servers and every
installed service detached (each answers the health check after `up` has exited, each logged
one ready line with its address), prints the state folder, addresses, certificates and how to
sign in; `down` says what it stopped (each service logged one stopped line) and leaves nothing
running; the data stays for the next `up`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from subsidy_platform.declaration import declarations
from subsidy_platform.tls import Pki, channel_credentials, client_identity

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL") or os.environ.get("VAULT_ADDR")),
    reason="starts the embedded servers",
)
ADMIN = str(Path(sys.executable).parent / "subsidy-admin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ADMIN, *arguments],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _serving(pki: Pki, address: str) -> bool:
    credentials = channel_credentials(pki, client_identity("console"))
    with grpc.secure_channel(address, credentials) as channel:
        try:
            status = (
                health_pb2_grpc.HealthStub(channel)
                .Check(  # type: ignore[attr-defined]
                    health_pb2.HealthCheckRequest(), timeout=10
                )
                .status
            )
        except grpc.RpcError:
            return False
    return bool(status == health_pb2.HealthCheckResponse.SERVING)


def test_up_starts_every_service_detached_and_down_stops_everything(private_state: Path) -> None:
    names = ["auth", *declarations()]
    addresses = {name: f"127.0.0.1:{_free_port()}" for name in names}
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "VAULT_ADDR", "VAULT_TOKEN")
    }
    environment["SUBSIDY_STATE_DIR"] = str(private_state)
    environment.update({f"{name.upper()}_LISTEN": address for name, address in addresses.items()})

    started = _admin(environment, "up")
    assert started.returncode == 0, started.stderr
    out = started.stdout
    assert f"state folder: {private_state}" in out
    for name, address in addresses.items():
        assert f"{name}" in out and address in out
    assert str(private_state / "pki" / "ca.crt") in out
    assert str(private_state / "pki" / "client-console.crt") in out
    assert "subsidy-admin users add <login> --role admin" in out  # no account yet

    pki = Pki(private_state / "pki")
    pids = {}
    for name, address in addresses.items():
        record = json.loads((private_state / "run" / f"{name}.pid").read_text())
        pids[name] = int(record["pid"])
        assert record["address"] == address
        assert _alive(pids[name]), name
        assert _serving(pki, address), name  # still serving after `up` has exited
    bao = int(json.loads((private_state / "bao" / "server.json").read_text())["pid"])
    postmaster = int((private_state / "pg" / "postmaster.pid").read_text().split()[0])
    assert _alive(bao) and _alive(postmaster)

    again = _admin(environment, "up")  # a second `up` keeps what runs
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("(already running)") == len(names)

    stopped = _admin(environment, "down")
    assert stopped.returncode == 0, stopped.stderr
    for name, address in addresses.items():
        assert f"stopped {name} (pid {pids[name]}, {address})" in stopped.stdout
        assert not _alive(pids[name]), name
        log = (private_state / "logs" / f"{name}.log").read_text().splitlines()
        messages = [json.loads(line).get("message", "") for line in log if line.startswith("{")]
        assert messages.count(f"{name} serving on {address}") == 1, name
        assert messages.count(f"{name} stopped serving on {address}") == 1, name
    assert "stopped embedded OpenBao" in stopped.stdout
    assert "stopped embedded PostgreSQL" in stopped.stdout
    assert not _alive(bao) and not _alive(postmaster)
    assert list((private_state / "run").iterdir()) == []
    assert (private_state / "bao" / "unseal-key").stat().st_mode & 0o777 == 0o600
    assert (private_state / "bao").stat().st_mode & 0o777 == 0o700

    nothing = _admin(environment, "down")
    assert nothing.returncode == 0 and "nothing was running" in nothing.stdout
