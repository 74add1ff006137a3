"""Bring the platform up for a process: dependencies, schemas, Vault, certificates, keys.

`prepare` is what `make demo`, the tests and each service's `main` call first. With no
`DATABASE_URL` / `VAULT_ADDR` it starts (or reuses) the embedded PostgreSQL and OpenBao
under the state folder; it then creates the service roles and schemas, runs every
component's migrations, provisions Vault (transit keys per program and data class,
policies and a token per service), the private CA with per-service certificates (and the
operator's, `operator`), and the
token-signing key. Everything is idempotent, so every process may call it. Last, it writes a
signed audit checkpoint of the chain's head into OpenBao (subsidy_platform.checkpoints; best
effort: a failure is logged, never fatal to the process).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import hvac
import requests

from subsidy_platform.checkpoints import (
    Checkpoint,
    CheckpointSigner,
    VaultCheckpoints,
    chain_name,
    write_checkpoint,
)
from subsidy_platform.config import Settings
from subsidy_platform.db import make_engine, migrate, migrated_components, provision_database
from subsidy_platform.declaration import PLATFORM_SERVICES, declarations
from subsidy_platform.embedded import Infrastructure, ensure_infrastructure
from subsidy_platform.maintenance import OPERATOR_IDENTITY
from subsidy_platform.tls import Pki, ensure_pki
from subsidy_platform.tokens import ensure_signing_key
from subsidy_platform.vault import CHECKPOINT_WRITER, provision_vault

STAFF_CLIENTS = ("console",)
TOKEN_FOLDER = "vault-tokens"
"""Under the state folder: one file per service's Vault token (0600), which a service
process started by the launcher reads as a pod reads its Vault agent's file."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Environment:
    """What a process needs to reach the platform's dependencies."""

    settings: Settings
    infrastructure: Infrastructure
    vault_tokens: dict[str, str]
    pki: Pki

    def vault_client(self, service: str) -> hvac.Client:
        """A Vault client holding `service`'s token (its policy, nothing more).

        The HTTP session ignores proxy variables of the environment (looking them up on
        every request costs more than the request to a Vault on the same network).
        """
        session = requests.Session()
        session.trust_env = False
        return hvac.Client(
            url=self.infrastructure.vault_addr, token=self.vault_tokens[service], session=session
        )


def prepare(
    settings: Settings, programs: Sequence[str], *, components: Sequence[str] | None = None
) -> Environment:
    """Everything a process needs, made so (idempotent); `components` default: all migrated."""
    infrastructure = ensure_infrastructure(settings)
    provision_database(infrastructure.database_url)
    for component in migrated_components() if components is None else components:
        migrate(infrastructure.database_url, component)
    admin = hvac.Client(url=infrastructure.vault_addr, token=infrastructure.vault_admin_token)
    tokens = provision_vault(admin, list(programs), token_dir=settings.state_dir / TOKEN_FOLDER)
    pki = ensure_pki(
        settings.state_dir, (*PLATFORM_SERVICES, *declarations(), OPERATOR_IDENTITY), STAFF_CLIENTS
    )
    ensure_signing_key(settings.state_dir)
    environment = Environment(settings, infrastructure, tokens, pki)
    try:
        checkpoint_audit(environment)
    except Exception:
        log.exception("no audit checkpoint was written")
    return environment


def checkpoint_audit(environment: Environment) -> Checkpoint:
    """Sign the audit chain's head and store it in OpenBao (as the checkpoint writer, on the
    administrator's database connection); the checkpoint written."""
    engine = make_engine(environment.infrastructure.database_url)
    try:
        client = environment.vault_client(CHECKPOINT_WRITER)
        return write_checkpoint(
            engine, CheckpointSigner(client), VaultCheckpoints(client, chain_name(engine))
        )
    finally:
        engine.dispose()
