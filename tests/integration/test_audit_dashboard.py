"""The access-audit dashboard's purge panels read what the services really write (issue 20).

The running services purge (intake's PurgeProgram under the operator's certificate, twice with
one erasure id: the second is a repeat) and run their retention purges (notices' print data,
payments' transfer files, as the operator's hourly run calls them); then every query of the
dashboard's JSON (k8s/base/observability/dashboards/access-audit.json) runs as Grafana would
run it, its macros expanded, against the real `audit.events`, and must show those purges with
the counts the RPCs answered. Only this test's rows are compared: the window starts when it
does, and the listing is matched on its own erasure id.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from intake_support import PROGRAM, Client
from sqlalchemy import Engine, text
from subsidy.maintenance.v1 import maintenance_pb2, maintenance_pb2_grpc
from subsidy_operator.retention import RetentionPurger

from subsidy_platform.process import ServiceProcess
from subsidy_platform.tls import channel_credentials

DASHBOARD = (
    Path(__file__).resolve().parents[2]
    / "k8s"
    / "base"
    / "observability"
    / "dashboards"
    / "access-audit.json"
)
PROBE = "dashboard-probe-2025"


def panels() -> dict[str, str]:
    """Panel title -> its SQL."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return {p["title"]: p["targets"][0]["rawSql"] for p in dashboard["panels"]}


def grafana(sql: str, since: datetime) -> tuple[str, dict[str, Any]]:
    """The query as Grafana's PostgreSQL data source sends it (its macros expanded)."""
    expanded = re.sub(
        r"\$__timeGroupAlias\((\w+), '1h'\)",
        r"to_timestamp(floor(extract(epoch FROM \1) / 3600) * 3600) AS time",
        sql,
    )
    expanded = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN :since AND :until", expanded)
    expanded = expanded.replace("${actor:sqlstring}", "''").replace(
        "${application_hash:sqlstring}", "''"
    )
    assert "$" not in expanded, "a macro the test does not know"
    return expanded, {"since": since, "until": datetime.now(UTC) + timedelta(minutes=1)}


def run(admin: Engine, sql: str, since: datetime) -> list[dict[str, Any]]:
    query, values = grafana(sql, since)
    with admin.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(text(query), values)]


def purge(intake: Client, erasure: str) -> maintenance_pb2.PurgeProgramResponse:
    credentials = channel_credentials(intake.environment.pki, "operator")
    with grpc.secure_channel(f"localhost:{intake.process.port}", credentials) as channel:
        response: maintenance_pb2.PurgeProgramResponse = (
            maintenance_pb2_grpc.MaintenanceServiceStub(channel).PurgeProgram(
                maintenance_pb2.PurgeProgramRequest(program_id=PROBE, erasure_id=erasure),
                timeout=30,
            )
        )
    return response


def test_the_purge_panels_show_the_erasures_and_retention_purges_the_services_wrote(
    intake: Client, notices: ServiceProcess, payments: ServiceProcess, admin_engine: Engine
) -> None:
    with admin_engine.connect() as connection:
        since = connection.execute(text("SELECT now()")).scalar_one()
    erasure = f"erasure-{uuid.uuid4().hex[:12]}"
    first = purge(intake, erasure)
    assert purge(intake, erasure).repeated
    retention = RetentionPurger(
        intake.environment.pki, {"notices": notices.address, "payments": payments.address}
    ).purge(PROGRAM)
    sql = panels()

    [totals_title] = [t for t in sql if "purged rows by service and table" in t]
    totals = {
        (r["service"], r["action"], r["purged_table"]): r
        for r in run(admin_engine, sql[totals_title], since)
    }
    for table in first.tables:  # the repeat is not counted twice
        row = totals[("intake", "purge", table.table)]
        assert row["purged_rows"] == table.rows and row["runs"] == 1, table.table
    assert totals[("notices", "retention_purge", "notices.print_files")]["purged_rows"] == (
        retention.print_files_deleted
    )
    assert totals[("notices", "retention_purge", "notices.addressees")]["purged_rows"] == (
        retention.addressees_deleted
    )
    assert totals[("payments", "retention_purge", "payments.transfer_files")]["purged_rows"] == (
        retention.transfer_files_deleted
    )

    [listing_title] = [t for t in sql if "erasures and retention purges" in t]
    listed = [
        r for r in run(admin_engine, sql[listing_title], since) if erasure in (r["purpose"] or "")
    ]
    assert [r["action"] for r in listed] == ["purge_repeat", "purge"]  # newest first
    expected = ", ".join(f"{t.table}={t.rows}" for t in first.tables)
    assert all(r["counts"] == expected and r["actor"] == "operator" for r in listed), listed

    [hourly_title] = [t for t in sql if "retention purges per hour" in t]
    hourly = {r["metric"] for r in run(admin_engine, sql[hourly_title], since)}
    assert {"notices.print_files", "notices.addressees", "payments.transfer_files"} <= hourly

    for title, query in sql.items():  # every other panel still runs on the real table
        if title not in (totals_title, listing_title, hourly_title):
            run(admin_engine, query, since - timedelta(days=1))
