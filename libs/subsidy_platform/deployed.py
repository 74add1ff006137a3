"""A service process in Kubernetes: attach to what the pod was given, provision nothing
(issue 9; docs/OPERATIONS.md, "Kubernetes").

`runtime.prepare` provisions (roles and schemas, migrations, Vault keys and policies,
certificates) with an administrator's database URL and Vault token: right for the embedded
default and for `subsidy-admin up`, wrong inside a pod, which holds only its own login, its
Vault agent's token and the files the agent renders. With `SUBSIDY_VAULT_TOKEN_FILE` set,
`run_service` calls `attach` instead:

- `DATABASE_URL` is the service's own login (`svc_<name>`, the password in the libpq
  passfile `PGPASSFILE`, never in the URL);
- `VAULT_ADDR` is Vault, whose certificate is checked against `VAULT_CACERT` when set;
- the token is read from `SUBSIDY_VAULT_TOKEN_FILE` each time a Vault client is made (the
  agent rewrites the file when it logs in again); the service's role in Vault carries its
  policy (and, for the sign-in service, the audit checkpoint writer's);
- the mTLS files (`ca.crt`, `<name>.crt`, `<name>.key`) and the staff-token keys are under
  `<SUBSIDY_STATE_DIR>/pki`, as the embedded default keeps them.

Nothing is created: a missing file or variable is an error naming it, before the server
starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import hvac
import requests

from subsidy_platform.config import Settings
from subsidy_platform.embedded import Infrastructure
from subsidy_platform.runtime import Environment
from subsidy_platform.tls import Pki
from subsidy_platform.tokens import PUBLIC_KEY_FILE

TOKEN_FILE = "SUBSIDY_VAULT_TOKEN_FILE"
CA_FILE = "VAULT_CACERT"


class NotDeployable(RuntimeError):
    """The pod lacks something the process needs; the message names it."""


@dataclass(frozen=True)
class DeployedEnvironment(Environment):
    """An Environment whose Vault token is the agent's file, read afresh for every client."""

    token_file: Path = Path()
    ca_file: str | None = None

    def vault_client(self, service: str) -> hvac.Client:
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_file or True
        return hvac.Client(
            url=self.infrastructure.vault_addr,
            token=self.token_file.read_text().strip(),
            session=session,
        )


def is_deployed(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the process runs with a Vault agent's token file (Kubernetes)."""
    return bool(environ.get(TOKEN_FILE))


def attach(
    settings: Settings, name: str, environ: Mapping[str, str] = os.environ
) -> DeployedEnvironment:
    """The environment of service `name` from what the pod holds; NotDeployable otherwise."""
    if not settings.database_url:
        raise NotDeployable("DATABASE_URL is not set")
    if not settings.vault_addr:
        raise NotDeployable("VAULT_ADDR is not set")
    token_file = Path(environ.get(TOKEN_FILE) or "")
    pki = Pki(settings.state_dir / "pki")
    needed = [
        token_file,
        pki.directory / "ca.crt",
        pki.directory / f"{name}.crt",
        pki.directory / f"{name}.key",
        pki.directory / PUBLIC_KEY_FILE,
    ]
    ca_file = environ.get(CA_FILE) or None
    if ca_file:
        needed.append(Path(ca_file))
    for path in needed:
        if not path.is_file():
            raise NotDeployable(f"missing file: {path}")
    if not token_file.read_text().strip():
        raise NotDeployable(f"empty token file: {token_file}")
    return DeployedEnvironment(
        settings,
        Infrastructure(settings.database_url, settings.vault_addr, ""),
        {},
        pki,
        token_file=token_file,
        ca_file=ca_file,
    )
