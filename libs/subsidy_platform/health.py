"""Health follows the dependencies (DESIGN.md principle 9; docs/OPERATIONS.md, "When PostgreSQL
or OpenBao goes down").

A service that cannot reach PostgreSQL or Vault answers every call that needs them with
UNAVAILABLE; its gRPC health says so too, so that a load balancer or Kubernetes' readiness
probe stops sending it work. `DependencyWatch` probes each dependency every `interval`
seconds on a thread of its own:

- the database: one `SELECT 1` through the service's own engine (its pool pre-pings, so a
  restarted PostgreSQL is reached again by fresh connections);
- Vault: the service's token looked up (`auth/token/lookup-self`, which its policy grants):
  Vault up, unsealed, active and the token valid. A failed connection asks `reconnect` to
  point the client at Vault's current address first.

Any probe failing sets NOT_SERVING for the process and each of its services; all passing
sets SERVING again (subsidy_platform.server: a draining server stays NOT_SERVING). Each
change is logged once, naming the dependency and the exception type, never a value.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

import hvac
import requests
from sqlalchemy import Engine, text

from subsidy_platform.server import RunningServer

log = logging.getLogger(__name__)

INTERVAL = 1.0
"""Seconds between two probes of every dependency."""
PROBE_TIMEOUT = 3.0
"""Seconds a Vault probe may take before the dependency counts as down."""

Probe = Callable[[], None]


def database_probe(engine: Engine) -> Probe:
    """Raises unless a connection of `engine` answers `SELECT 1`."""

    def probe() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return probe


def vault_probe(
    client: Callable[[], hvac.Client], reconnect: Callable[[hvac.Client], None] | None = None
) -> Probe:
    """Raises unless Vault accepts the client's token (up, unsealed, active)."""

    def probe() -> None:
        vault = client()
        try:
            vault.adapter.get("/v1/auth/token/lookup-self", timeout=PROBE_TIMEOUT)
        except requests.exceptions.ConnectionError:
            if reconnect is None:
                raise
            reconnect(vault)
            vault.adapter.get("/v1/auth/token/lookup-self", timeout=PROBE_TIMEOUT)

    return probe


class DependencyWatch:
    """Probes the dependencies periodically and reports the result as the server's health."""

    def __init__(
        self, running: RunningServer, probes: Mapping[str, Probe], interval: float = INTERVAL
    ) -> None:
        self._running = running
        self._probes = dict(probes)
        self._interval = interval
        self._stopped = threading.Event()
        self._down: frozenset[str] = frozenset()
        self._thread = threading.Thread(target=self._run, name="dependency-watch", daemon=True)

    @property
    def down(self) -> frozenset[str]:
        """The dependencies that failed their latest probe."""
        return self._down

    def start(self) -> DependencyWatch:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def check(self) -> frozenset[str]:
        """Probe every dependency now and report the result; the ones down."""
        down = frozenset(name for name, probe in self._probes.items() if not _passes(probe))
        for name in sorted(down - self._down):
            log.warning("dependency %s unavailable: health NOT_SERVING", name)
        for name in sorted(self._down - down):
            log.info("dependency %s available again", name)
        self._down = down
        self._running.set_serving(not down)
        return down

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.check()
            except Exception:
                log.exception("dependency watch pass failed")
            self._stopped.wait(self._interval)


def _passes(probe: Probe) -> bool:
    try:
        probe()
    except Exception as error:
        log.debug("probe failed: %s", type(error).__name__)
        return False
    return True
