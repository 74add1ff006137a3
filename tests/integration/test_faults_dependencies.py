"""The whole pipeline under faults, its dependencies (issue 15): PostgreSQL restarted while
clients submit, and OpenBao stopped and started again, are ridden out by the running intake
and review processes without a restart of their own. While the dependency is down their
health says NOT_SERVING and calls get UNAVAILABLE (never INTERNAL); after it is back,
health says SERVING, the clients' retried request ids are acknowledged, every acknowledged
application is stored exactly once and whole, reaches review as exactly one case, and the
audit chain verifies. The embedded OpenBao comes back on the address it had; when another
program took its port while it was down, it comes back on a new one and the running
services follow it (they look up the state folder's record after a failed connection).

Each test has a state folder of its own (its own embedded PostgreSQL and OpenBao), so that
stopping them disturbs no other test. `SUBSIDY_SOAK` (make soak) repeats the outage.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_support import (
    NOT_SERVING,
    SERVING,
    FaultStack,
    HealthWatch,
    SubmitLoad,
    check_applications_exactly_once,
    check_audit_chain,
    check_cases_exactly_once,
    no_internal,
    soak,
)

from subsidy_platform.config import Settings
from subsidy_platform.embedded import ensure_openbao, ensure_postgres, stop_openbao, stop_postgres

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL") or os.environ.get("VAULT_ADDR")),
    reason="stops and starts the embedded servers",
)

OUTAGE_SECONDS = 3.0


def ride_out(
    private_state: Path, stop: Callable[[Path], object], start: Callable[[Path], object]
) -> None:
    """Intake and review under load while a dependency is stopped and started `soak()`
    times; then intake's events reach review, each application one case."""
    settings = Settings(private_state, None, None, None, None)
    keys = ["intake", "review"]
    with FaultStack.of(settings) as stack:
        for key in keys:
            stack.start(key)
        pids = {key: stack.processes[key].pid for key in keys}
        with HealthWatch(stack, keys) as health, SubmitLoad(stack, ["intake"]) as load:
            load.wait_for(5)
            for _round in range(soak()):
                stop(private_state)
                down = {key: health.wait_for(key, NOT_SERVING, timeout=30) for key in keys}
                time.sleep(OUTAGE_SECONDS)
                failed_while_down = len(load.outcomes.failures)
                start(private_state)
                for key in keys:
                    assert health.wait_for(key, SERVING, timeout=60) > down[key]
                acknowledged = load.acknowledged()
                load.wait_for(acknowledged + 5, timeout=90)
                # calls were made while it was down, and each got UNAVAILABLE
                assert failed_while_down > 0
            load.stop()
        assert {key: stack.processes[key].pid for key in keys} == pids
        assert all(stack.alive(key) for key in keys)
        no_internal(load.outcomes)
        check_applications_exactly_once(stack.admin, load.outcomes.acknowledged)
        check_cases_exactly_once(stack.admin, list(load.outcomes.acknowledged.values()))
        check_audit_chain(stack.environment.infrastructure.database_url)


def test_a_postgresql_restart_under_load_is_ridden_out_without_restarting_the_services(
    private_state: Path,
) -> None:
    ride_out(private_state, stop_postgres, ensure_postgres)


def test_openbao_stopped_and_started_again_keeps_its_address_and_the_services_reach_it(
    private_state: Path,
) -> None:
    addresses: list[str] = []

    def start(state: Path) -> None:
        addresses.append(ensure_openbao(state).addr)

    addresses.append(ensure_openbao(private_state).addr)
    ride_out(private_state, stop_openbao, start)
    assert len(set(addresses)) == 1, addresses


def test_an_openbao_whose_port_was_taken_meanwhile_moves_and_the_services_follow_it(
    private_state: Path,
) -> None:
    addresses = [ensure_openbao(private_state).addr]

    def start_elsewhere(state: Path) -> None:
        port = int(addresses[-1].rsplit(":", 1)[1])
        with socket.socket() as squatter:  # another program took the port while it was down
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            addresses.append(ensure_openbao(state).addr)

    ride_out(private_state, stop_openbao, start_elsewhere)
    assert len(set(addresses)) == 1 + soak(), addresses
