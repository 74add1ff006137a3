"""The auditors' dashboards are in the repository and provisioned (issue 9): traces and
error rates by RPC, access events per actor, and traces by hashed application number."""

from __future__ import annotations

import json

import yaml
from k8s_support import K8S, Manifest, of_kind

from subsidy_platform.k8s.topology import NAME_LABEL

DASHBOARDS = K8S / "base" / "observability" / "dashboards"


def queries(dashboard: dict[str, object]) -> list[str]:
    panels = dashboard["panels"]
    assert isinstance(panels, list)
    return [t.get("rawSql") or t.get("query") for p in panels for t in p["targets"]]


def test_every_dashboard_file_is_provisioned_by_the_config_map_generator() -> None:
    kustomization = yaml.safe_load((DASHBOARDS.parent / "kustomization.yaml").read_text())
    [generator] = [
        g for g in kustomization["configMapGenerator"] if g["name"] == "grafana-dashboards"
    ]
    assert sorted(generator["files"]) == sorted(
        f"dashboards/{p.name}" for p in DASHBOARDS.glob("*.json")
    )


def test_the_rpc_dashboard_shows_traces_and_error_rates_by_rpc() -> None:
    dashboard = json.loads((DASHBOARDS / "rpc-traces.json").read_text())
    found = " ".join(queries(dashboard))
    assert "span.rpc.method" in found and "status = error" in found and "rate()" in found


def test_the_access_dashboard_counts_events_per_actor_and_finds_traces_by_hashed_number() -> None:
    dashboard = json.loads((DASHBOARDS / "access-audit.json").read_text())
    sql = queries(dashboard)
    assert all("FROM audit.events" in q for q in sql)
    assert any("actor AS metric" in q for q in sql)
    [by_number] = [q for q in sql if "sha256(convert_to(application_id" in q]
    assert "trace_id" in by_number and "${application_hash:sqlstring}" in by_number
    assert all("'$" not in q for q in sql), "text variables are quoted by Grafana, never by hand"
    for q in sql:
        selected = q.split("FROM", 1)[0]
        for hidden in (
            "sha256(convert_to(coalesce(application_id",
            "count(DISTINCT application_id)",
        ):
            selected = selected.replace(hidden, "")
        assert "application_id" not in selected, "an application number is shown hashed only"


def test_grafana_reads_the_audit_database_password_from_a_vault_rendered_file(
    production: list[Manifest],
) -> None:
    [provisioning] = [
        c
        for c in of_kind(production, "ConfigMap")
        if c["metadata"]["name"].startswith("grafana-provisioning")
    ]
    datasources = yaml.safe_load(provisioning["data"]["datasources.yaml"])["datasources"]
    [audit] = [d for d in datasources if d["uid"] == "audit"]
    assert audit["user"] == "grafana_audit"
    assert audit["secureJsonData"]["password"].startswith("$__file{/vault/secrets/")
    [grafana] = [
        d
        for d in of_kind(production, "Deployment")
        if d["metadata"]["labels"][NAME_LABEL] == "grafana"
    ]
    assert (
        grafana["spec"]["template"]["metadata"]["annotations"]["vault.hashicorp.com/role"]
        == "subsidy-grafana"
    )


def test_the_access_dashboard_shows_the_purges_under_the_actions_the_services_audit() -> None:
    from subsidy_platform.maintenance import PURGE_ACTION, REPEAT_ACTION, RETENTION_ACTION

    dashboard = json.loads((DASHBOARDS / "access-audit.json").read_text())
    purges = [q for q in queries(dashboard) if "unnest(fields)" in q or "purge" in q]
    assert len(purges) >= 3
    found = " ".join(purges)
    for action in (PURGE_ACTION, REPEAT_ACTION, RETENTION_ACTION):
        assert f"'{action}'" in found, action
