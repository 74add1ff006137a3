"""The migration's backfill gives every outbox row written before `program_id` existed the
program its event names: the message's own `program_id`, else the program of the application
a status report names (looked up in the service's own table); a row naming neither, or an
application no longer there, keeps NULL (subsidy_platform.outbox_backfill)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.intake.v1 import intake_pb2

from subsidy_platform.outbox import outbox_ddl, outbox_program_ddl
from subsidy_platform.outbox_backfill import backfill_outbox_programs

SCHEMA = "backfill_probe"
STATUS = "/subsidy.intake.v1.IntakeService/ReportStatusTransition"
DECISION = "/subsidy.payments.v1.PaymentsService/DecisionReceived"


@pytest.fixture
def probe(admin_engine: Engine) -> Iterator[Engine]:
    with admin_engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        connection.execute(text(outbox_ddl(SCHEMA)))  # the table as it was before
        connection.execute(
            text(
                f"CREATE TABLE {SCHEMA}.cases (application_number text PRIMARY KEY, "
                "program_id text NOT NULL)"
            )
        )
        connection.execute(text(f"INSERT INTO {SCHEMA}.cases VALUES ('S-0001', 'ward-a-2025')"))
    try:
        yield admin_engine
    finally:
        with admin_engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


def test_the_backfill_finds_each_rows_program_from_its_message(probe: Engine) -> None:
    rows = {
        "decision": (
            DECISION,
            events_pb2.DecisionEvent(
                event_id="decision-S-0002", application_number="S-0002", program_id="ward-b-2025"
            ),
        ),
        "status": (
            STATUS,
            intake_pb2.ReportStatusTransitionRequest(
                request_id="status-1", application_number="S-0001", status=common_pb2.GRANTED
            ),
        ),
        "gone": (
            STATUS,
            intake_pb2.ReportStatusTransitionRequest(request_id="s-2", application_number="S-9"),
        ),
        "unknown": ("/nowhere.Service/Method", events_pb2.DecisionEvent(program_id="x")),
    }
    with probe.begin() as connection:
        for key, (method, message) in rows.items():
            connection.execute(
                text(
                    f"INSERT INTO {SCHEMA}.outbox (destination, method, topic, key, payload) "
                    "VALUES ('payments', :m, 'review.decision', :k, :p)"
                ),
                {"m": method, "k": key, "p": message.SerializeToString()},
            )
        connection.execute(text(outbox_program_ddl(SCHEMA)))
        assert backfill_outbox_programs(connection, SCHEMA, f"{SCHEMA}.cases") == 2
        found = dict(connection.execute(text(f"SELECT key, program_id FROM {SCHEMA}.outbox")).all())
    assert found == {
        "decision": "ward-b-2025",
        "status": "ward-a-2025",
        "gone": None,
        "unknown": None,
    }


def test_the_backfill_takes_plain_table_names_only(probe: Engine) -> None:
    with probe.begin() as connection, pytest.raises(ValueError):
        backfill_outbox_programs(connection, SCHEMA, "cases; DROP TABLE x")
