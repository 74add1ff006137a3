"""Refused calls are durable before they are answered (issue 19): a service process that
refuses calls and is then killed with SIGKILL, inside the aggregation window and so before
any flush, loses none of them. The next process of the service adopts the dead process's
journal and audits every refusal, with its count, under the verified caller; nothing is
left in the journal folder once it stops."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest
from fault_support import FaultStack
from sqlalchemy import text
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc

from subsidy_platform import audit
from subsidy_platform.config import Settings
from subsidy_platform.refusals import REFUSED

REFUSALS = 7


def test_refusals_answered_before_a_sigkill_are_audited_by_the_next_process(
    private_state: Path,
) -> None:
    settings = Settings(private_state, None, None, None, None)
    login = f"refused-{uuid.uuid4().hex[:8]}"
    with FaultStack.of(settings) as stack:
        stack.start("intake")
        auditor = stack.tokens.staff("auditor", login)  # an auditor may not submit
        with stack.channel("intake") as channel:
            stub = intake_pb2_grpc.IntakeServiceStub(channel)
            for _ in range(REFUSALS):
                with pytest.raises(grpc.RpcError) as refused:
                    stub.SubmitApplication(
                        intake_pb2.SubmitApplicationRequest(), metadata=auditor, timeout=10
                    )
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        stack.kill("intake")  # well within the first 10-second window: nothing flushed yet
        journal = private_state / "refusals"
        assert any(journal.glob("intake-*.jsonl")), "the refusals were not journaled"
        with stack.admin.connect() as connection:
            before = connection.execute(
                text("SELECT count(*) FROM audit.events WHERE actor = :a"), {"a": login}
            ).scalar_one()
        assert before == 0
        stack.start("intake")
        stack.close()  # SIGTERM: the process flushes what it adopted
        with stack.admin.connect() as connection:
            rows = connection.execute(
                text("SELECT rpc, action, purpose FROM audit.events WHERE actor = :a"),
                {"a": login},
            ).all()
        assert [(r.rpc, r.action) for r in rows] == [
            ("/subsidy.intake.v1.IntakeService/SubmitApplication", REFUSED)
        ]
        assert rows[0].purpose.startswith(f"拒否 {REFUSALS} 回")
        assert not [p.name for p in journal.iterdir() if p.name.startswith("intake-")]
        assert audit.verify(stack.admin).ok
