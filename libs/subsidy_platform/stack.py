"""`subsidy-admin up` / `down`: the whole system on one machine, for interactive use.

`up` prepares the platform (the embedded PostgreSQL and OpenBao unless external ones are
configured, migrations, Vault keys and policies, the private CA, the token-signing key),
then starts every installed service, the sign-in service first and then each service
declared under the entry-point group `subsidy_platform.services`, each as its own process
(`subsidy_platform.launcher`), detached (its own session: it outlives the command and its
terminal), listening on `<NAME>_LISTEN` (default: its declared port on 127.0.0.1) and told
where its peers are. A pid file per service (`<state>/run/<name>.pid`: pid, the process's
start time, its address) lets `down` stop exactly that process and nothing that reused its
pid. A service already running from an earlier `up` is left as it is. `up` then prints the
state folder, the addresses, the CA and staff client certificate, and how to sign in.

`down` sends SIGTERM to every service of the state folder (each drains its calls in flight),
waits, kills one that lingers, then stops the embedded servers, and says what it stopped.
The data stays in the state folder: the next `up` serves the same applications.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy import text

from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine
from subsidy_platform.declaration import default_address
from subsidy_platform.embedded import stop_infrastructure
from subsidy_platform.launcher import service_modules, start_stack
from subsidy_platform.runtime import STAFF_CLIENTS, Environment, prepare
from subsidy_platform.tls import client_identity

STOP_TIMEOUT = 40.0  # a service's drain (SUBSIDY_DRAIN_SECONDS, default 25 s) and its exit


@dataclass(frozen=True)
class ServiceRecord:
    """What a pid file says of one running service."""

    name: str
    pid: int
    started: str
    address: str


def listen_addresses(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Where each installed service listens: `<NAME>_LISTEN`, or its default address."""
    return {
        name: environ.get(f"{name.upper()}_LISTEN") or default_address(name)
        for name in service_modules()
    }


def up(settings: Settings, programs: Sequence[str], out: TextIO) -> int:
    """Start (or keep) everything; print where it is and how to sign in."""
    environment = prepare(settings, programs)
    addresses = listen_addresses()
    run = run_folder(settings)
    running = {r.name: r for r in running_services(settings)}
    missing = [name for name in addresses if name not in running]
    if missing:
        stack = start_stack(environment, addresses, names=missing, detach=True)
        for name, process in stack.processes.items():
            _write_record(
                run,
                ServiceRecord(name, process.pid, _start_time(process.pid) or "", addresses[name]),
            )
    _print_summary(environment, addresses, running, out)
    return 0


def down(settings: Settings, out: TextIO) -> int:
    """Stop every service of the state folder, then its embedded servers; say what stopped."""
    stopped = []
    records = list(reversed(running_services(settings)))
    for record in records:  # all at once: each drains its own calls in flight
        _signal(record, signal.SIGTERM)
    for record in records:
        if not _ended(record, STOP_TIMEOUT):
            _signal(record, signal.SIGKILL)
            _ended(record, 5.0)
        stopped.append(f"{record.name} (pid {record.pid}, {record.address})")
    for path in run_folder(settings).glob("*.pid"):
        path.unlink(missing_ok=True)
    stopped += [f"embedded {name}" for name in stop_infrastructure(settings)]
    print(f"state folder: {settings.state_dir}", file=out)
    if not stopped:
        print("nothing was running", file=out)
    for what in stopped:
        print(f"stopped {what}", file=out)
    return 0


def run_folder(settings: Settings) -> Path:
    folder = settings.state_dir / "run"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def running_services(settings: Settings) -> list[ServiceRecord]:
    """The services whose pid file names a process still running (in start order)."""
    order = list(service_modules())
    found = []
    for path in run_folder(settings).glob("*.pid"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(path.read_text())
            record = ServiceRecord(
                path.stem, int(data["pid"]), str(data["started"]), str(data["address"])
            )
            if record.started and _start_time(record.pid) == record.started:
                found.append(record)
    return sorted(found, key=lambda r: order.index(r.name) if r.name in order else len(order))


def _write_record(run: Path, record: ServiceRecord) -> None:
    body = {"pid": record.pid, "started": record.started, "address": record.address}
    temporary = run / f".{record.name}.pid.new"
    temporary.write_text(json.dumps(body) + "\n")
    os.replace(temporary, run / f"{record.name}.pid")


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with
    the pid, it names one process (a pid reused later has another start time)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def _signal(record: ServiceRecord, sig: signal.Signals) -> None:
    """Signal the recorded process, only if it is still that process."""
    if _start_time(record.pid) == record.started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, sig)


def _ended(record: ServiceRecord, patience: float) -> bool:
    """Wait up to `patience` seconds for the recorded process to end; whether it did."""
    deadline = time.monotonic() + patience
    while _start_time(record.pid) == record.started:
        if time.monotonic() > deadline:
            return False
        with contextlib.suppress(ChildProcessError):
            os.waitpid(record.pid, os.WNOHANG)
        time.sleep(0.05)
    return True


def _print_summary(
    environment: Environment,
    addresses: Mapping[str, str],
    kept: Mapping[str, ServiceRecord],
    out: TextIO,
) -> None:
    settings = environment.settings
    pki = settings.state_dir / "pki"
    client = client_identity(STAFF_CLIENTS[0])
    lines = [
        f"state folder: {settings.state_dir}",
        f"PostgreSQL:   {environment.infrastructure.database_url}",
        f"Vault:        {environment.infrastructure.vault_addr}",
        "services:",
    ]
    for name, address in addresses.items():
        note = " (already running)" if name in kept else ""
        lines.append(f"  {name:10} {address}{note}   log {settings.state_dir / 'logs' / name}.log")
    lines += [
        f"CA certificate:     {pki / 'ca.crt'}",
        f"client certificate: {pki / client}.crt",
        f"client key:         {pki / client}.key",
        "",
        *_sign_in_help(environment, addresses["auth"]),
        "",
        "Stop everything with `make down` (subsidy-admin down); the data stays.",
    ]
    print("\n".join(lines), file=out)


def _sign_in_help(environment: Environment, auth_address: str) -> list[str]:
    engine = make_engine(environment.infrastructure.database_url)
    try:
        with engine.connect() as connection:
            admins = connection.execute(
                text("SELECT count(*) FROM auth.users WHERE role = 'admin' AND NOT disabled")
            ).scalar_one()
    finally:
        engine.dispose()
    if not admins:
        return [
            "No administrator account yet. Create the first one on this machine (the password",
            "is asked twice, never on the command line):",
            "  subsidy-admin users add <login> --role admin",
            "then add staff accounts the same way (--role operator, checker, ward_officer, ...).",
        ]
    return [
        f"Sign in at {auth_address} (AuthService/SignIn) with your ID and password; the staff",
        "commands do it for you, e.g.:",
        "  subsidy-intake-import --program shinjuku-2025 --login <ID> export.csv",
        "New accounts: subsidy-admin users add <login> --role <role>.",
    ]
