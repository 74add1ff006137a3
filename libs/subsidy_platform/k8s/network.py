"""NetworkPolicies: default deny in and out, then exactly `topology.allowed_edges()` and the
edges the infrastructure inside the namespace needs (issue 9; Kubernetes NetworkPolicy API,
networking.k8s.io/v1).

One policy per workload names its ingress (who may open connections to it, on which port)
and its egress (where it may open connections). The in-namespace infrastructure gets its
own: the CloudNativePG instances (clients, replication between instances, the CNPG
operator, the Kubernetes API and object storage for backups), the OpenTelemetry collector,
Tempo and Grafana. The kubelet's probes come from the node and are not subject to these
policies on the usual CNIs (Calico, Cilium); nothing here admits them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from subsidy_platform.k8s.topology import (
    DNS,
    INFRASTRUCTURE,
    KUBERNETES_API,
    NAME_LABEL,
    NAMESPACE,
    OBJECT_STORAGE,
    OPERATOR,
    OTEL,
    PART_OF,
    POSTGRES,
    STAFF,
    AllowedEdge,
    allowed_edges,
    service_ports,
)

Manifest = dict[str, Any]

TEMPO = "tempo"
GRAFANA = "grafana"
TEMPO_OTLP_PORT = 4317
TEMPO_HTTP_PORT = 3200
TEMPO_MEMBERLIST_PORT = 7946
GRAFANA_PORT = 3000
CNPG_STATUS_PORT = 8000
CNPG_NAMESPACE = "cnpg-system"
CNPG_OPERATOR_LABELS = {NAME_LABEL: "cloudnative-pg"}


def _metadata(name: str) -> Manifest:
    return {
        "name": name,
        "namespace": NAMESPACE,
        "labels": {"app.kubernetes.io/part-of": PART_OF},
    }


def _selector(name: str) -> Manifest:
    """The peer selector of a workload or an infrastructure name."""
    infra = INFRASTRUCTURE.get(name)
    if infra is None:
        return {"podSelector": {"matchLabels": {NAME_LABEL: name}}}
    if infra.cidr is not None:
        return {"ipBlock": {"cidr": infra.cidr}}
    peer: Manifest = {"podSelector": {"matchLabels": dict(infra.labels)}}
    if infra.namespace:
        peer["namespaceSelector"] = {
            "matchLabels": {"kubernetes.io/metadata.name": infra.namespace}
        }
    return peer


def _ports(name: str, port: int) -> list[Manifest]:
    infra = INFRASTRUCTURE.get(name)
    if infra is not None and infra.ports:
        return [{"protocol": protocol, "port": p} for protocol, p in infra.ports if p == port]
    return [{"protocol": "TCP", "port": port}]


def _rules(pairs: list[tuple[str, int]], side: str) -> list[Manifest]:
    """One rule per peer (sorted), with every port allowed to or from it."""
    by_peer: dict[str, list[Manifest]] = defaultdict(list)
    for peer, port in sorted(set(pairs)):
        by_peer[peer].extend(_ports(peer, port))
    return [{side: [_selector(peer)], "ports": ports} for peer, ports in sorted(by_peer.items())]


def _policy(
    name: str, pod_labels: Manifest, ingress: list[Manifest], egress: list[Manifest]
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name),
        "spec": {
            "podSelector": {"matchLabels": pod_labels},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def default_deny() -> Manifest:
    """Every pod of the namespace: nothing in, nothing out, unless a policy below allows it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata("default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def workload_policies(edges: tuple[AllowedEdge, ...]) -> list[Manifest]:
    """One policy per workload (sign-in, every service, the operator) from the edges."""
    names = [*service_ports(), OPERATOR]
    policies = []
    for name in names:
        ingress = [(e.source, e.port) for e in edges if e.destination == name]
        egress = [(e.destination, e.port) for e in edges if e.source == name]
        policies.append(
            _policy(
                f"allow-{name}",
                {NAME_LABEL: name},
                _rules(ingress, "from"),
                _rules(egress, "to"),
            )
        )
    return policies


def _peer(namespace: str | None, labels: dict[str, str]) -> Manifest:
    peer: Manifest = {"podSelector": {"matchLabels": labels}}
    if namespace:
        peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    return peer


def _tcp(*ports: int) -> list[Manifest]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _dns() -> Manifest:
    return {"to": [_selector(DNS)], "ports": _ports(DNS, 53)}


def _clients_of(infra: str, edges: tuple[AllowedEdge, ...]) -> list[str]:
    return sorted({e.source for e in edges if e.destination == infra})


def _from_workloads(names: list[str], ports: list[Manifest]) -> Manifest:
    return {
        "from": [
            {
                "podSelector": {
                    "matchExpressions": [{"key": NAME_LABEL, "operator": "In", "values": names}]
                }
            }
        ],
        "ports": ports,
    }


def infrastructure_policies(edges: tuple[AllowedEdge, ...]) -> list[Manifest]:
    """The in-namespace infrastructure: PostgreSQL, the collector, Tempo, Grafana."""
    postgres_labels = dict(INFRASTRUCTURE[POSTGRES].labels)
    postgres = _policy(
        "allow-postgres",
        postgres_labels,
        [
            _from_workloads([*_clients_of(POSTGRES, edges), GRAFANA], _tcp(5432)),
            {"from": [_peer(None, postgres_labels)], "ports": _tcp(5432, CNPG_STATUS_PORT)},
            {
                "from": [_peer(CNPG_NAMESPACE, CNPG_OPERATOR_LABELS)],
                "ports": _tcp(5432, CNPG_STATUS_PORT),
            },
        ],
        [
            {"to": [_peer(None, postgres_labels)], "ports": _tcp(5432, CNPG_STATUS_PORT)},
            {
                "to": [_selector(KUBERNETES_API)],
                "ports": _ports(KUBERNETES_API, 443) + _ports(KUBERNETES_API, 6443),
            },
            {"to": [_selector(OBJECT_STORAGE)], "ports": _ports(OBJECT_STORAGE, 443)},
            _dns(),
        ],
    )
    collector = _policy(
        "allow-otel-collector",
        dict(INFRASTRUCTURE[OTEL].labels),
        [_from_workloads(_clients_of(OTEL, edges), _tcp(4317))],
        [{"to": [_peer(None, {NAME_LABEL: TEMPO})], "ports": _tcp(TEMPO_OTLP_PORT)}, _dns()],
    )
    tempo = _policy(
        "allow-tempo",
        {NAME_LABEL: TEMPO},
        [
            {"from": [_peer(None, {NAME_LABEL: "otel-collector"})], "ports": _tcp(TEMPO_OTLP_PORT)},
            {"from": [_peer(None, {NAME_LABEL: GRAFANA})], "ports": _tcp(TEMPO_HTTP_PORT)},
            {"from": [_peer(None, {NAME_LABEL: TEMPO})], "ports": _tcp(TEMPO_MEMBERLIST_PORT)},
        ],
        [
            {"to": [_peer(None, {NAME_LABEL: TEMPO})], "ports": _tcp(TEMPO_MEMBERLIST_PORT)},
            {"to": [_selector(OBJECT_STORAGE)], "ports": _ports(OBJECT_STORAGE, 443)},
            _dns(),
        ],
    )
    grafana = _policy(
        "allow-grafana",
        {NAME_LABEL: GRAFANA},
        [{"from": [_selector(STAFF)], "ports": _tcp(GRAFANA_PORT)}],
        [
            {"to": [_peer(None, {NAME_LABEL: TEMPO})], "ports": _tcp(TEMPO_HTTP_PORT)},
            {"to": [_selector(POSTGRES)], "ports": _tcp(5432)},
            {"to": [_selector("vault")], "ports": _tcp(8200)},
            _dns(),
        ],
    )
    return [postgres, collector, tempo, grafana]


def network_policies() -> list[Manifest]:
    """Every NetworkPolicy of the namespace, default deny first."""
    edges = allowed_edges()
    return [default_deny(), *workload_policies(edges), *infrastructure_policies(edges)]
