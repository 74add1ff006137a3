"""The network policies allow exactly what the system needs (issue 9): default deny in and
out, then the declared calls between services (`subsidy_platform.declaration.edges()`),
each service to PostgreSQL, Vault, the collector and DNS, the operator's edges, and the
staff network only to what staff use. The expected edges are computed here from the
declarations, independently of the generator; a new call without a policy fails."""

from __future__ import annotations

import copy

import pytest
from k8s_support import OVERLAYS, Manifest, label_name, of_kind, workloads

from subsidy_platform.declaration import AUTH_PORT, declarations, edges
from subsidy_platform.k8s.topology import KUBERNETES_API_NETWORK, OBJECT_STORAGE_NETWORK

OPERATOR = "operator"
STAFF_CIDR = "10.128.0.0/16"


def peer_name(peer: Manifest) -> str:
    """A readable name for one `from`/`to` entry of a rule."""
    if "ipBlock" in peer:
        return (
            "staff" if peer["ipBlock"]["cidr"] == STAFF_CIDR else f"cidr:{peer['ipBlock']['cidr']}"
        )
    namespace = (
        peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
    )
    labels = peer.get("podSelector", {}).get("matchLabels", {})
    if namespace == "kube-system" and labels == {"k8s-app": "kube-dns"}:
        return "dns"
    if namespace == "vault" and labels == {"app.kubernetes.io/name": "vault"}:
        return "vault"
    if namespace is None and labels == {"cnpg.io/cluster": "subsidy-db"}:
        return "postgres"
    if namespace is None and set(labels) == {"app.kubernetes.io/name"}:
        return labels["app.kubernetes.io/name"]
    expressions = peer.get("podSelector", {}).get("matchExpressions")
    if namespace is None and expressions:
        [expression] = expressions
        return "|".join(expression["values"])
    return f"{namespace}:{labels}"


def policy_edges(docs: list[Manifest], direction: str) -> set[tuple[str, str, int]]:
    """(source, destination, port) of every rule, egress seen from the selected pod as the
    source, ingress as the destination."""
    found = set()
    side = "to" if direction == "egress" else "from"
    for policy in of_kind(docs, "NetworkPolicy"):
        selected = policy["spec"]["podSelector"].get("matchLabels", {})
        if set(selected) != {"app.kubernetes.io/name"}:
            continue
        me = selected["app.kubernetes.io/name"]
        for rule in policy["spec"].get(direction, []):
            for peer in rule.get(side, [{"everywhere": True}]):
                other = "anywhere" if "everywhere" in peer else peer_name(peer)
                for port in rule.get("ports", [{"port": 0}]):
                    pair = (me, other) if direction == "egress" else (other, me)
                    found.add((*pair, int(port["port"])))
    return found


def grpc_ports() -> dict[str, int]:
    return {"auth": AUTH_PORT, **{n: d.port for n, d in declarations().items()}}


def staff_facing() -> set[str]:
    used = {"auth"}
    for name, declared in declarations().items():
        if any(
            not r.startswith("service:") for roles in declared.rpc_roles.values() for r in roles
        ):
            used.add(name)
    return used


def expected_edges() -> set[tuple[str, str, int]]:
    ports = grpc_ports()
    found = {(e.caller, e.callee, ports[e.callee]) for e in edges()}
    for name in ports:
        found |= {
            (name, "dns", 53),
            (name, "postgres", 5432),
            (name, "vault", 8200),
            (name, "otel-collector", 4317),
        }
    found |= {(OPERATOR, name, port) for name, port in ports.items() if name != "auth"}
    found |= {(OPERATOR, "dns", 53), (OPERATOR, "vault", 8200)}
    api = f"cidr:{KUBERNETES_API_NETWORK}"
    found |= {(OPERATOR, api, 443), (OPERATOR, api, 6443)}
    found |= {("staff", name, ports[name]) for name in staff_facing()}
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_default_deny_policy_covers_every_pod_in_and_out(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    deny = [
        p
        for p in of_kind(rendered[overlay], "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_services_and_the_operator_may_open_exactly_the_expected_connections(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    sources = {*grpc_ports(), OPERATOR}
    egress = {e for e in policy_edges(rendered[overlay], "egress") if e[0] in sources}
    assert egress == {e for e in expected_edges() if e[0] in sources}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_services_accept_exactly_the_expected_connections(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    targets = set(grpc_ports())
    ingress = {e for e in policy_edges(rendered[overlay], "ingress") if e[1] in targets}
    assert ingress == {e for e in expected_edges() if e[1] in targets}


def test_every_declared_call_is_allowed_at_both_ends(production: list[Manifest]) -> None:
    assert edges(), "the installed services call each other"
    egress = policy_edges(production, "egress")
    ingress = policy_edges(production, "ingress")
    for edge in edges():
        connection = (edge.caller, edge.callee, grpc_ports()[edge.callee])
        assert connection in egress and connection in ingress, edge


def test_a_call_missing_from_the_policies_is_found(production: list[Manifest]) -> None:
    docs = copy.deepcopy(production)
    edge = edges()[0]
    for policy in of_kind(docs, "NetworkPolicy"):
        if policy["metadata"]["name"] == f"allow-{edge.caller}":
            policy["spec"]["egress"] = [
                r
                for r in policy["spec"]["egress"]
                if not any(
                    p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                    == edge.callee
                    for p in r["to"]
                )
            ]
    egress = {e for e in policy_edges(docs, "egress") if e[0] in {*grpc_ports(), OPERATOR}}
    assert egress != {e for e in expected_edges() if e[0] in {*grpc_ports(), OPERATOR}}


def test_postgres_accepts_only_the_services_grafana_its_instances_and_the_cnpg_operator(
    production: list[Manifest],
) -> None:
    [policy] = [
        p for p in of_kind(production, "NetworkPolicy") if p["metadata"]["name"] == "allow-postgres"
    ]
    sources: set[str] = set()
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            sources.add(peer_name(peer))
    [clients] = [s for s in sources if "|" in s]
    assert set(clients.split("|")) == {*grpc_ports(), "grafana"}
    assert "postgres" in sources


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_pod_is_selected_by_a_policy_of_its_own(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    selected = {
        p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for p in of_kind(rendered[overlay], "NetworkPolicy")
    }
    for workload in workloads(rendered[overlay]):
        assert label_name(workload) in selected, workload["metadata"]["name"]


def test_no_policy_admits_everything(production: list[Manifest]) -> None:
    for policy in of_kind(production, "NetworkPolicy"):
        for direction, side in (("ingress", "from"), ("egress", "to")):
            for rule in policy["spec"].get(direction, []):
                assert rule.get(side), (
                    f"{policy['metadata']['name']}: a {direction} rule from anywhere"
                )
                assert rule.get("ports"), (
                    f"{policy['metadata']['name']}: a {direction} rule on every port"
                )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_pod_may_open_a_connection_outside_the_named_networks(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    named = {KUBERNETES_API_NETWORK, OBJECT_STORAGE_NETWORK}
    blocks = [
        (policy["metadata"]["name"], peer["ipBlock"])
        for policy in of_kind(rendered[overlay], "NetworkPolicy")
        for rule in policy["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]
    assert blocks, "the operator reaches the API server by address"
    for name, block in blocks:
        assert block["cidr"] in named and not block.get("except"), (name, block)
    by_policy = {name for name, _ in blocks}
    assert by_policy == {"allow-operator", "allow-postgres", "allow-tempo"}
