"""Each service declares itself once; the platform reads the declarations (issue 6, DESIGN.md).

A service's package exposes one `ServiceDeclaration` and registers it under the entry-point
group `subsidy_platform.services` (pyproject.toml), the way rule plugins register under
`subsidy_rules.rules`. The declaration is everything the platform must know about the
service, and the only place it is said:

- its name (also its PostgreSQL schema, `svc_<name>` login role, certificate common name
  and Vault policy `subsidy-<name>`) and its default port;
- its Vault grants: which data classes it may encrypt and decrypt, and whether it may
  compute blind indexes with the program's HMAC key;
- every column where it keeps ciphertext (key rotation rewraps them);
- its RPC x role table (the interceptor enforces it);
- the package holding its Alembic migrations;
- the timeline statuses it may report to intake;
- the events it subscribes to (topic -> the full RPC method that receives them), which the
  transactional outbox delivers; a topic's first segment names the service publishing it
  (`review.decision` is review's);
- the services it calls directly by RPC (`calls`): its clients refuse any other peer, so
  that the edges between services (`edges()`, which the network policies follow) are
  exactly what is declared here.

The platform never imports a service: it finds the declarations through the entry points,
and an import-linter layers contract keeps services -> platform -> rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

from sqlalchemy.orm import Session

from subsidy_platform.crypto import DataClass
from subsidy_platform.rotation import CiphertextColumns

ENTRY_POINT_GROUP = "subsidy_platform.services"
PLATFORM_SERVICES = ("auth",)  # served by the platform itself (sign-in)
_NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")
_TOPIC = re.compile(r"^[a-z][a-z0-9_.]{1,62}$")
_METHOD = re.compile(r"^/[A-Za-z_][A-Za-z0-9_.]*/[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ServiceDeclaration:
    """What the platform knows of one service, declared by the service."""

    name: str
    port: int
    rpc_roles: Mapping[str, frozenset[str]]
    encrypts: tuple[DataClass, ...] = ()
    decrypts: tuple[DataClass, ...] = ()
    blind_index: bool = False
    ciphertext: tuple[CiphertextColumns, ...] = ()
    migrations: str | None = None
    reports: frozenset[str] = frozenset()
    subscriptions: Mapping[str, str] = field(default_factory=dict)
    calls: frozenset[str] = frozenset()
    erasure_blockers: Callable[[Session, str], Sequence[str]] | None = None
    """What in the service's own data still forbids erasing a program (a transfer not yet
    confirmed, ...): one Japanese sentence per kind with its count; empty when it may go.
    The platform's purge refuses while any remains (subsidy_platform.maintenance)."""
    local_defaults: Mapping[str, str] = field(default_factory=dict)
    """Variables a process started on one machine (subsidy_platform.launcher) is given when
    the caller has not set them: the synthetic values a pod must replace by its own."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name in PLATFORM_SERVICES:
            raise ValueError(f"not a valid service name: {self.name!r}")
        if not 1024 <= self.port <= 65535:
            raise ValueError(f"{self.name}: port out of range: {self.port}")
        for columns in self.ciphertext:
            schema = columns.table.split(".", 1)[0]
            if schema != self.name:
                raise ValueError(f"{self.name}: ciphertext outside its schema: {columns.table}")
            if columns.data_class not in self.decrypts + self.encrypts:
                raise ValueError(f"{self.name}: keeps {columns.data_class} it may not encrypt")
        for topic, method in self.subscriptions.items():
            if not _TOPIC.match(topic) or not _METHOD.match(method):
                raise ValueError(f"{self.name}: bad subscription {topic!r} -> {method!r}")
            if method not in self.rpc_roles:
                raise ValueError(f"{self.name}: subscription RPC not in its role table: {method}")
        for peer in self.calls:
            if not _NAME.match(peer) or peer == self.name:
                raise ValueError(f"{self.name}: bad peer in calls: {peer!r}")

    @property
    def schema(self) -> str:
        return self.name

    @property
    def database_role(self) -> str:
        return f"svc_{self.name}"

    @property
    def listen_variable(self) -> str:
        """The environment variable naming the address the service listens on."""
        return f"{self.name.upper()}_LISTEN"


@cache
def declarations() -> Mapping[str, ServiceDeclaration]:
    """Every installed service's declaration, by name (sorted), read from the entry points."""
    found: dict[str, ServiceDeclaration] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        declaration = entry.load()
        if not isinstance(declaration, ServiceDeclaration) or declaration.name != entry.name:
            raise TypeError(f"entry point {entry.name!r} is not that service's declaration")
        found[entry.name] = declaration
    return dict(sorted(found.items()))


def declaration(name: str) -> ServiceDeclaration:
    """One service's declaration; LookupError when no such service is installed."""
    try:
        return declarations()[name]
    except KeyError:
        raise LookupError(f"no service named {name!r} is installed") from None


def service_names() -> tuple[str, ...]:
    """The installed services, sorted."""
    return tuple(declarations())


def subscribers(topic: str) -> list[tuple[str, str]]:
    """(service, RPC method) of every service subscribed to `topic`."""
    return [
        (d.name, d.subscriptions[topic])
        for d in declarations().values()
        if topic in d.subscriptions
    ]


def publisher(topic: str) -> str:
    """The service publishing `topic`: its first segment (`review.decision` -> review)."""
    return topic.split(".", 1)[0]


@dataclass(frozen=True, order=True)
class Edge:
    """One service calling another: `rpc` from its use cases, `outbox` from its relay."""

    caller: str
    callee: str
    kind: str


def edges() -> tuple[Edge, ...]:
    """Every call between installed services, sorted, from the declarations.

    A subscription to a topic of a service that is not installed makes no edge.
    """
    installed = declarations()
    found = {Edge(d.name, peer, "rpc") for d in installed.values() for peer in d.calls}
    found |= {
        Edge(publisher(topic), d.name, "outbox")
        for d in installed.values()
        for topic in d.subscriptions
        if publisher(topic) in installed
    }
    return tuple(sorted(found))


def peers_of(service: str) -> frozenset[str] | None:
    """The services `service` may call (RPC or outbox); None when it is not installed."""
    if service not in declarations():
        return None
    return frozenset(e.callee for e in edges() if e.caller == service)


def reportable_by(service: str) -> frozenset[str]:
    """The timeline statuses `service` declares it may report (none when not installed)."""
    found = declarations().get(service)
    return found.reports if found is not None else frozenset()


def default_address(name: str) -> str:
    """Where a service (or the platform's sign-in service) listens by default on this host."""
    port = AUTH_PORT if name == "auth" else declaration(name).port
    return f"127.0.0.1:{port}"


AUTH_PORT = 50050
