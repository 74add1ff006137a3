"""Who runs in the cluster and who may talk to whom: the services' declarations plus the
platform's known infrastructure (issue 9, "NetworkPolicies").

Workloads are the platform's sign-in service (`auth`), every installed service
(`subsidy_platform.declaration.declarations()`) and the operator. Every workload carries
the label `app.kubernetes.io/name: <name>` and runs as the service account `<name>`.

Edges (`allowed_edges`) are:
- each caller -> callee of `declaration.edges()` (RPC or outbox delivery), on the callee's
  gRPC port;
- every service -> PostgreSQL (the CloudNativePG cluster's pods), Vault, the OpenTelemetry
  collector and DNS;
- the operator -> every service's gRPC port (purge requests at erasure), Vault (key
  destruction) and the Kubernetes API;
- the staff network -> every workload whose RPC table admits a staff role (and the sign-in
  service, where staff sign in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from subsidy_platform.declaration import AUTH_PORT, declarations, edges

NAMESPACE = "subsidy"
PART_OF = "subsidy-platform"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
SERVICE_COMPONENT = "grpc-service"
IMAGE = "subsidy-platform"
HEALTH_PORT = 8081
OPERATOR = "operator"
AUTH = "auth"

STAFF_NETWORK = "10.128.0.0/16"
"""The ward's and the contractor's staff network (VPN range) allowed in; set per site."""

KUBERNETES_API_NETWORK = "10.0.0.0/24"
"""Where the cluster's API server answers (on EKS: the control plane's network interfaces in
the cluster's subnets); set per site. Only the operator and the PostgreSQL instances (the
CloudNativePG instance manager) may reach it."""

OBJECT_STORAGE_NETWORK = "10.0.64.0/24"
"""The object storage endpoints in the cluster's network (on EKS: the S3 interface VPC
endpoints' subnet), for PostgreSQL's backups and WAL and Tempo's traces; set per site. No
workload may open a connection to an address outside the named networks."""

DNS = "dns"
POSTGRES = "postgres"
VAULT = "vault"
OTEL = "otel-collector"
KUBERNETES_API = "kubernetes-api"
OBJECT_STORAGE = "object-storage"
STAFF = "staff"


@dataclass(frozen=True)
class Peer:
    """Something outside the platform's own workloads that a policy names."""

    namespace: str | None  # None: the workloads' namespace; "" with cidr: outside the cluster
    labels: Mapping[str, str]
    ports: tuple[tuple[str, int], ...]  # (protocol, port)
    cidr: str | None = None


INFRASTRUCTURE: Mapping[str, Peer] = {
    DNS: Peer("kube-system", {"k8s-app": "kube-dns"}, (("UDP", 53), ("TCP", 53))),
    POSTGRES: Peer(None, {"cnpg.io/cluster": "subsidy-db"}, (("TCP", 5432),)),
    VAULT: Peer("vault", {NAME_LABEL: "vault"}, (("TCP", 8200),)),
    OTEL: Peer(None, {NAME_LABEL: "otel-collector"}, (("TCP", 4317),)),
    KUBERNETES_API: Peer("", {}, (("TCP", 443), ("TCP", 6443)), cidr=KUBERNETES_API_NETWORK),
    OBJECT_STORAGE: Peer("", {}, (("TCP", 443),), cidr=OBJECT_STORAGE_NETWORK),
    STAFF: Peer("", {}, (), cidr=STAFF_NETWORK),
}


@dataclass(frozen=True, order=True)
class AllowedEdge:
    """Traffic one side may open to the other: a workload or an INFRASTRUCTURE name each."""

    source: str
    destination: str
    port: int
    why: str


def service_ports() -> dict[str, int]:
    """The gRPC port of every gRPC workload: sign-in first, then the installed services."""
    return {AUTH: AUTH_PORT, **{name: d.port for name, d in declarations().items()}}


def staff_facing() -> tuple[str, ...]:
    """Workloads staff call: the sign-in service and each service granting a staff role."""
    found = [AUTH]
    for name, declared in declarations().items():
        roles = {role for allowed in declared.rpc_roles.values() for role in allowed}
        if any(not role.startswith("service:") for role in roles):
            found.append(name)
    return tuple(found)


def allowed_edges() -> tuple[AllowedEdge, ...]:
    """Every connection the network policies allow, sorted."""
    ports = service_ports()
    found: set[AllowedEdge] = set()
    for edge in edges():
        found.add(AllowedEdge(edge.caller, edge.callee, ports[edge.callee], edge.kind))
    for name in ports:
        for infra in (DNS, POSTGRES, VAULT, OTEL):
            for _protocol, port in INFRASTRUCTURE[infra].ports:
                found.add(AllowedEdge(name, infra, port, "infrastructure"))
    for name, port in ports.items():
        if name != AUTH:
            found.add(AllowedEdge(OPERATOR, name, port, "purge"))
    for infra in (DNS, VAULT, KUBERNETES_API):
        for _protocol, port in INFRASTRUCTURE[infra].ports:
            found.add(AllowedEdge(OPERATOR, infra, port, "operator"))
    for name in staff_facing():
        found.add(AllowedEdge(STAFF, name, ports[name], "staff"))
    return tuple(sorted(found))
