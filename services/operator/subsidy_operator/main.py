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

Two replicas run with kopf peering (`subsidy-operator`, mandatory): one is active, the other
takes over when it stops. The liveness endpoint is `http://0.0.0.0:8080/healthz`.
"""

from __future__ import annotations

import argparse
import os
import sys
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
LIVENESS = "http://0.0.0.0:8080/healthz"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def now_utc() -> datetime:
    return datetime.now(UTC)


def cluster_login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: its service account; elsewhere: the kubeconfig."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


def vault_client(environ: dict[str, str]) -> hvac.Client:
    token = environ.get("VAULT_TOKEN")
    if not token and environ.get("VAULT_TOKEN_FILE"):
        token = Path(environ["VAULT_TOKEN_FILE"]).read_text().strip()
    session = requests.Session()
    session.trust_env = False
    # hvac takes a given session's `verify` over its own argument: set it on the session
    session.verify = environ.get("VAULT_CACERT") or True
    return hvac.Client(url=environ["VAULT_ADDR"], token=token, session=session)


def config_from_env(environ: dict[str, str]) -> OperatorConfig:
    pki = Pki(Path(environ.get("SUBSIDY_PKI_DIR", "/var/run/subsidy/pki")))
    return OperatorConfig(
        login=cluster_login,
        today=ward_today,
        now=now_utc,
        shredder=lambda: KeyShredder(vault_client(environ)),
        publisher=lambda: ProgramPublisher(vault_client(environ)),
        purger=lambda: ServicePurger(pki, service_addresses(environ), service_names()),
        retention=lambda: RetentionPurger(pki, service_addresses(environ)),
        performed_by=f"subsidy-operator ({environ.get('POD_NAME', 'unknown pod')})",
        interval=float(environ.get("SUBSIDY_OPERATOR_INTERVAL", "60")),
        deployments=tuple(service_ports()),
    )


def namespace_from_env(environ: dict[str, str]) -> str:
    if environ.get("SUBSIDY_NAMESPACE"):
        return environ["SUBSIDY_NAMESPACE"]
    if SERVICE_ACCOUNT_NAMESPACE.exists():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return "default"


def arguments() -> argparse.ArgumentParser:
    """The command line: none but `--help` (configuration is the environment)."""
    return argparse.ArgumentParser(
        prog="subsidy-operator",
        description=(
            "Run the SubsidyProgram operator (kopf) in the namespace SUBSIDY_NAMESPACE until "
            "stopped: validate programs, render their ConfigMaps, drive the phases and perform "
            "erasures. Configured by the environment: SUBSIDY_NAMESPACE, VAULT_ADDR, "
            "VAULT_TOKEN_FILE, SUBSIDY_PKI_DIR, <SERVICE>_ADDRESS (docs/OPERATIONS.md)."
        ),
    )


def main(argv: list[str] | None = None) -> None:
    arguments().parse_args(argv)
    environ = dict(os.environ)
    registry = build_registry(config_from_env(environ))

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.name = PEERING
        settings.peering.mandatory = True
        settings.posting.level = 20  # INFO and above become Events

    kopf.run(
        registry=registry,
        namespaces=[namespace_from_env(environ)],
        peering_name=PEERING,
        liveness_endpoint=LIVENESS,
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
