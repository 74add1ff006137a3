"""`subsidy-operator`: the SubsidyProgram operator process (kopf), configured from the environment.

- `SUBSIDY_NAMESPACE` (default: the pod's namespace from the service account, else
  `default`): the one namespace it watches; its RBAC is a Role there.
- `VAULT_ADDR` and `VAULT_TOKEN` (or `VAULT_TOKEN_FILE`, e.g. written by the Vault agent): a
  token holding the `subsidy-key-admin` and `subsidy-program-publisher` policies: a new
  program's keys and the services' policies covering it, and crypto-shredding;
  `VAULT_CACERT`: the CA bundle Vault's TLS certificate is checked against (the system's
  when unset; the check is never turned off).
- `SUBSIDY_PKI_DIR`: `ca.crt`, `operator.crt`, `operator.key` (the platform PKI's `operator`
  identity) for mutual TLS to the services; `<NAME>_ADDRESS` finds each service.
- `SUBSIDY_OPERATOR_INTERVAL` (seconds, default 60): how often phases are re-evaluated;
  the retention purges run every hour.
- `POD_NAME`: who performed an erasure, on its certificate.

- `SUBSIDY_SERVICE_ACCOUNT_DIR` (the pod's service-account folder: `token`, `ca.crt`,
  `namespace`) with `KUBERNETES_SERVICE_HOST` / `KUBERNETES_SERVICE_PORT` (set by the kubelet
  in every pod): the in-cluster login, the API server's certificate checked against that
  `ca.crt` and the token read again at each login (it rotates). Without a token there, the
  kubeconfig (a workstation).
- `SUBSIDY_HEALTH_LISTEN` (default `0.0.0.0:8080`): where the liveness endpoint `/healthz`
  listens (the Deployment's probes).

The operator reads the addresses of the services it calls, and no other: every declared
service (the purge at erasure; the retention purges of notices and payments), never the
sign-in service's. Every variable read here is set by k8s/base/operator/deployment.yaml or
by the kubelet (`tests/integration/test_operator_pod.py` starts it from that pod's layout).

Two replicas run with kopf peering (`subsidy-operator`, mandatory): one is active, the other
takes over when it stops.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hvac
import kopf
import requests

from subsidy_operator.erasure import KeyShredder, ProgramPublisher, ServicePurger
from subsidy_operator.handlers import OperatorConfig, build_registry
from subsidy_operator.retention import RetentionPurger
from subsidy_platform.clients import service_addresses
from subsidy_platform.declaration import service_names
from subsidy_platform.k8s.topology import service_ports
from subsidy_platform.tls import Pki
from subsidy_platform.ward_clock import ward_today

PEERING = "subsidy-operator"
HEALTH_LISTEN = "0.0.0.0:8080"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def now_utc() -> datetime:
    return datetime.now(UTC)


def service_account(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("SUBSIDY_SERVICE_ACCOUNT_DIR") or SERVICE_ACCOUNT)


def api_server(environ: Mapping[str, str]) -> str | None:
    """`https://host:port` of the API server as the kubelet gives it to a pod, or None."""
    host = environ.get("KUBERNETES_SERVICE_HOST")
    if not host:
        return None
    port = environ.get("KUBERNETES_SERVICE_PORT") or "443"
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def cluster_login(environ: Mapping[str, str]) -> Callable[..., kopf.ConnectionInfo | None]:
    """In a pod: its service account's token (read at each login) and CA against the API
    server the kubelet names; elsewhere: the kubeconfig."""
    folder = service_account(environ)

    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        server = api_server(environ)
        token = folder / "token"
        if server is None or not token.exists():
            return kopf.login_with_kubeconfig(**kwargs)
        namespace = folder / "namespace"
        return kopf.ConnectionInfo(
            server=server,
            ca_path=str(folder / "ca.crt"),
            token=token.read_text().strip() or None,
            default_namespace=namespace.read_text().strip() if namespace.exists() else None,
        )

    return login


def peer_addresses(environ: Mapping[str, str]) -> dict[str, str]:
    """The addresses of the services the operator calls: every declared service."""
    return service_addresses(environ, service_names())


def vault_client(environ: Mapping[str, str]) -> hvac.Client:
    token = environ.get("VAULT_TOKEN")
    if not token and environ.get("VAULT_TOKEN_FILE"):
        token = Path(environ["VAULT_TOKEN_FILE"]).read_text().strip()
    session = requests.Session()
    session.trust_env = False
    # hvac takes a given session's `verify` over its own argument: set it on the session
    session.verify = environ.get("VAULT_CACERT") or True
    return hvac.Client(url=environ["VAULT_ADDR"], token=token, session=session)


def config_from_env(environ: Mapping[str, str]) -> OperatorConfig:
    pki = Pki(Path(environ.get("SUBSIDY_PKI_DIR", "/var/run/subsidy/pki")))
    return OperatorConfig(
        login=cluster_login(environ),
        today=ward_today,
        now=now_utc,
        shredder=lambda: KeyShredder(vault_client(environ)),
        publisher=lambda: ProgramPublisher(vault_client(environ)),
        purger=lambda: ServicePurger(pki, peer_addresses(environ), service_names()),
        retention=lambda: RetentionPurger(pki, peer_addresses(environ)),
        performed_by=f"subsidy-operator ({environ.get('POD_NAME', 'unknown pod')})",
        interval=float(environ.get("SUBSIDY_OPERATOR_INTERVAL", "60")),
        deployments=tuple(service_ports()),
    )


def namespace_from_env(environ: Mapping[str, str]) -> str:
    if environ.get("SUBSIDY_NAMESPACE"):
        return environ["SUBSIDY_NAMESPACE"]
    namespace = service_account(environ) / "namespace"
    if namespace.exists():
        return namespace.read_text().strip()
    return "default"


def arguments() -> argparse.ArgumentParser:
    """The command line: none but `--help` (configuration is the environment)."""
    return argparse.ArgumentParser(
        prog="subsidy-operator",
        description=(
            "Run the SubsidyProgram operator (kopf) in the namespace SUBSIDY_NAMESPACE until "
            "stopped: validate programs, render their ConfigMaps, drive the phases and perform "
            "erasures. Configured by the environment: SUBSIDY_NAMESPACE, VAULT_ADDR, "
            "VAULT_TOKEN_FILE, SUBSIDY_PKI_DIR, <SERVICE>_ADDRESS, SUBSIDY_SERVICE_ACCOUNT_DIR, "
            "SUBSIDY_HEALTH_LISTEN (docs/OPERATIONS.md)."
        ),
    )


def main(argv: list[str] | None = None) -> None:
    arguments().parse_args(argv)
    environ = os.environ  # read variable by variable: only what is used
    registry = build_registry(config_from_env(environ))

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.name = PEERING
        settings.peering.mandatory = True
        settings.posting.level = 20  # INFO and above become Events
        # Its Role watches one namespace and grants no namespace listing: kopf's restricted
        # mode (the namespace taken as given, the CRDs read once at start) is the intended one.
        settings.scanning.disabled = True

    kopf.run(
        registry=registry,
        namespaces=[namespace_from_env(environ)],
        peering_name=PEERING,
        liveness_endpoint=f"http://{environ.get('SUBSIDY_HEALTH_LISTEN') or HEALTH_LISTEN}/healthz",
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
