"""The whole pipeline under faults, a replica killed (issue 15): two intake processes serve
the same database while clients submit through both, each retrying its request id through
the other replica when a call fails. SIGKILL to one replica in the middle of that loses
nothing and doubles nothing: every acknowledged application is stored exactly once, with
the number its client was given, whole (blind indexes, event, audit); the calls cut off
got UNAVAILABLE, never INTERNAL; the surviving replica never stopped; the audit chain
verifies. `SUBSIDY_SOAK` (make soak) repeats the kill with a fresh replica each time.
"""

from __future__ import annotations

from pathlib import Path

from fault_support import (
    SERVING,
    FaultStack,
    SubmitLoad,
    check_applications_exactly_once,
    check_audit_chain,
    free_address,
    no_internal,
    soak,
)

from subsidy_platform.config import Settings


def test_sigkill_to_one_of_two_intake_replicas_under_load_loses_and_doubles_nothing(
    private_state: Path,
) -> None:
    settings = Settings(private_state, None, None, None, None)
    with FaultStack.of(settings) as stack:
        stack.start("intake")
        survivor = stack.processes["intake"].pid
        stack.start("intake-b", service="intake", address=free_address())
        with SubmitLoad(stack, ["intake", "intake-b"], clients=4, pause=0.0) as load:
            for round_ in range(soak()):
                if round_:
                    stack.start("intake-b", service="intake", address=free_address())
                load.wait_for(load.acknowledged() + 10)
                failures = len(load.outcomes.failures)
                stack.kill("intake-b")
                load.wait_for(load.acknowledged() + 10)
                # clients did call the killed replica, and went on through the survivor
                assert len(load.outcomes.failures) > failures
            load.stop()
        assert stack.alive("intake") and stack.processes["intake"].pid == survivor
        assert stack.health("intake") == SERVING
        no_internal(load.outcomes)
        check_applications_exactly_once(stack.admin, load.outcomes.acknowledged)
        check_audit_chain(stack.environment.infrastructure.database_url)
