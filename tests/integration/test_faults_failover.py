"""The whole pipeline under faults, failover (issue 15): PostgreSQL runs as a primary with a
synchronous streaming standby (two embedded instances: `pg_basebackup -R`,
`synchronous_standby_names = '*'`), and the services' `DATABASE_URL` names both with
`target_session_attrs=read-write`. The primary is killed (SIGKILL to all its processes)
while clients submit; while no server accepts writes, intake's health says NOT_SERVING and
calls get UNAVAILABLE; the standby is promoted (`pg_ctl promote`) and the running intake
processes reach it without a restart of their own. Every application acknowledged before,
during or after is on the promoted server exactly once and whole (a synchronous standby
has every commit the primary acknowledged), and its audit chain verifies. `SUBSIDY_SOAK`
(make soak) multiplies the load before and after the failover.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fault_support import (
    NOT_SERVING,
    SERVING,
    FaultStack,
    HealthWatch,
    Standby,
    SubmitLoad,
    check_applications_exactly_once,
    check_audit_chain,
    failover_url,
    free_address,
    kill_postgres,
    no_internal,
    soak,
)

from subsidy_platform.config import Settings
from subsidy_platform.embedded import ensure_postgres

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL") or os.environ.get("VAULT_ADDR")),
    reason="runs two embedded PostgreSQL servers of its own",
)


def test_the_primary_killed_mid_load_and_the_standby_promoted_keeps_every_application_once(
    private_state: Path,
) -> None:
    primary = ensure_postgres(private_state)
    standby = Standby.of(primary, private_state / "standby")
    try:
        url = failover_url(primary, standby)
        settings = Settings(private_state, url, None, None, None)
        with FaultStack.of(settings, DATABASE_URL=url) as stack:
            stack.start("intake")
            stack.start("intake-b", service="intake", address=free_address())
            keys = ["intake", "intake-b"]
            pids = {key: stack.processes[key].pid for key in keys}
            with HealthWatch(stack, keys) as health, SubmitLoad(stack, keys, clients=4) as load:
                load.wait_for(10 * soak())
                kill_postgres(private_state / "pg")
                for key in keys:
                    health.wait_for(key, NOT_SERVING, timeout=30)
                time.sleep(2.0)
                failed_while_down = len(load.outcomes.failures)
                standby.promote()
                for key in keys:
                    health.wait_for(key, SERVING, timeout=60)
                load.wait_for(load.acknowledged() + 10 * soak(), timeout=90 * soak())
                load.stop()
            assert failed_while_down > 0
            assert {key: stack.processes[key].pid for key in keys} == pids
            assert all(stack.alive(key) for key in keys)
            no_internal(load.outcomes)
            check_applications_exactly_once(stack.admin, load.outcomes.acknowledged)
            check_audit_chain(url)
    finally:
        standby.stop()
