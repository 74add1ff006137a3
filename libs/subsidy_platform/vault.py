"""Vault provisioning: transit keys per program and data class, one policy and token per service.

Follows DESIGN.md principle 6 (separate keys per data class, each service may use only what it
needs) and the Vault/OpenBao transit API. For every program `<p>`:

- `subsidy-<p>-contact` and `subsidy-<p>-bank` (aes256-gcm96): contact details and bank accounts;
- `subsidy-<p>-index` (type hmac): the blind-index key, used only to compute keyed HMACs.

What each service may do it says in its declaration (subsidy_platform.declaration: the data
classes it encrypts and decrypts, and whether it computes blind indexes);
`policy_documents(programs)` renders them as one HCL policy per service, `subsidy-<service>`,
plus `subsidy-key-admin` (rotation, rewrap and crypto-shredding of every program's keys, for
the key-rotation command and the operator) and `subsidy-program-publisher` (the operator's
second policy: rewrite the services' policies to cover a new program, whose keys the key
administrator's policy creates; subsidy_platform.program_keys). "encrypt" grants both transit encryption and data-key generation (envelope
encryption), "decrypt" grants transit decryption (which also unwraps envelope data keys), and
only a service that declares blind indexes may use the HMAC key. Intake keys applications in
and shows them back (call center, verification keying), so it may decrypt both classes; review
reads contact details at most and never bank details.

Service tokens carry their service's policy and nothing else (no `default` policy: no
cubbyhole, no token look-ups beyond its own; issue "Hardening", finding 5) and are periodic
with a period of `TOKEN_TTL` (24 hours): a long-running process renews its token with
`start_token_renewal(client)` (every `RENEW_INTERVAL`, 1 hour, by `RENEW_INCREMENT`) and it
then lives as long as the process does (no maximum lifetime; issue 19), and a token reused
at provisioning must be periodic and still have `REUSE_MIN_TTL` (12 hours) to live. Each
policy therefore also grants `auth/token/renew-self` and `auth/token/lookup-self`, which the
`default` policy gave before. The same holds for the audit checkpoint writer's token
(`CHECKPOINT_WRITER`, policy `subsidy-audit-checkpoint`: sign with the ed25519 transit key
`subsidy-audit-checkpoint`, read its public keys, and add checkpoints as new versions of the
KV version 2 mount `subsidy-audit`, provisioned here with check-and-set required; it may
never delete, destroy or rewrite a version; subsidy_platform.checkpoints).

`provision_vault(client, programs)` makes all of that so with an admin token and is
idempotent: keys are created when missing, policies cover the given programs and every
program of the platform that already has keys, and tokens kept in `token_dir` are reused
while valid. A program already in the mount counts only when all three of its keys carry the
platform's prefix (`subsidy-<p>-contact`, `-bank`, `-index`): keys of others sharing the
mount (`other-team-contact`) are never granted to a service (issue "Hardening", finding 4). The same
function provisions a real Vault; `python -m subsidy_platform.vault policies` writes the HCL
files kept under k8s/vault/policies/ for review and for `vault policy write`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions

from subsidy_platform.crypto import KEY_PREFIX, DataClass, key_name, vault_errors
from subsidy_platform.declaration import ServiceDeclaration, declarations

TRANSIT_MOUNT = "transit"
TOKEN_TTL = "24h"
REUSE_MIN_TTL = timedelta(hours=12)
RENEW_INTERVAL = timedelta(hours=1)
RENEW_INCREMENT = TOKEN_TTL
KEY_SUFFIXES = (*(data_class.value for data_class in DataClass), "index")
CHECKPOINT_WRITER = "audit-checkpoint"
"""The platform's audit checkpoint writer: its Vault policy and token (not a service)."""
CHECKPOINT_KEY = "subsidy-audit-checkpoint"
"""The ed25519 transit key that signs audit checkpoints (never exported)."""
CHECKPOINT_MOUNT = "subsidy-audit"
"""The KV version 2 mount holding the signed audit checkpoints (check-and-set required)."""
CHECKPOINT_PATH = "checkpoints"
"""Under the mount: `checkpoints/<chain>/<12-digit number>`, each checkpoint a new version."""
MOUNT_READY_SECONDS = 30.0
CHECKPOINT_MAX_VERSIONS = 100_000
"""Versions kept per secret: more than a writer puts in one (so none is ever pruned)."""
PUBLISHER = "program-publisher"
"""The operator's second policy: a new program's keys and the services' policies."""

log = logging.getLogger(__name__)

_SELF_SERVICE = (
    "\n# renew and look up its own token (it has no default policy)\n"
    'path "auth/token/renew-self" {\n  capabilities = ["update"]\n}\n'
    'path "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n'
)

_PROGRAM = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def policy_name(service: str) -> str:
    """The Vault policy of a service (`subsidy-intake`, ...)."""
    return f"subsidy-{service}"


def policy_documents(
    programs: Iterable[str],
    mount: str = TRANSIT_MOUNT,
    services: Mapping[str, ServiceDeclaration] | None = None,
) -> dict[str, str]:
    """HCL of every policy (policy name -> document) for these programs."""
    ordered = sorted({_program(p) for p in programs})
    header = f"# Generated by `python -m subsidy_platform.vault policies`.\n# programs: {', '.join(ordered)}\n"
    documents: dict[str, str] = {}
    for service, declared in (declarations() if services is None else services).items():
        rules: list[tuple[str, str]] = []
        for program in ordered:
            for data_class in declared.encrypts:
                key = key_name(program, data_class)
                rules.append((f"{mount}/encrypt/{key}", f"encrypt {data_class.value}"))
                rules.append(
                    (
                        f"{mount}/datakey/plaintext/{key}",
                        f"envelope data key for {data_class.value}",
                    )
                )
            for data_class in declared.decrypts:
                key = key_name(program, data_class)
                rules.append((f"{mount}/decrypt/{key}", f"decrypt {data_class.value}"))
            if declared.blind_index:
                rules.append((f"{mount}/hmac/{key_name(program, 'index')}", "blind indexes"))
        documents[policy_name(service)] = (
            header
            + "".join(
                f'\n# {why}\npath "{path}" {{\n  capabilities = ["update"]\n}}\n'
                for path, why in rules
            )
            + _SELF_SERVICE
        )
    documents[policy_name(CHECKPOINT_WRITER)] = header + checkpoint_writer_rules(mount)
    documents["subsidy-key-admin"] = header + key_admin_rules(mount)
    documents[policy_name(PUBLISHER)] = header + publisher_rules(
        mount, declarations() if services is None else services
    )
    return documents


def checkpoint_writer_rules(mount: str = TRANSIT_MOUNT, kv: str = CHECKPOINT_MOUNT) -> str:
    """Sign checkpoints, read the signing key's public keys, add checkpoints as new versions of
    the KV secrets (check-and-set: the mount requires it) and read them; never delete, destroy
    or undelete a version nor change the secrets' or the mount's settings."""
    checkpoints = f"{kv}/data/{CHECKPOINT_PATH}/*"
    listed = f"{kv}/metadata/{CHECKPOINT_PATH}/*"
    return (
        "# the audit checkpoint writer: signs checkpoints, reads the public keys\n"
        f'\npath "{mount}/sign/{CHECKPOINT_KEY}" {{\n  capabilities = ["update"]\n}}\n'
        f'path "{mount}/keys/{CHECKPOINT_KEY}" {{\n  capabilities = ["read"]\n}}\n'
        "\n# adds each checkpoint as a new version (never deletes or rewrites one)\n"
        f'path "{checkpoints}" {{\n  capabilities = ["create", "update", "read"]\n}}\n'
        f'path "{listed}" {{\n  capabilities = ["read", "list"]\n}}\n' + _SELF_SERVICE
    )


def provision_checkpoint_mount(client: hvac.Client, kv: str = CHECKPOINT_MOUNT) -> None:
    """The KV version 2 mount of the audit checkpoints: check-and-set required on every write,
    no version pruned (`CHECKPOINT_MAX_VERSIONS`), none deleted by age; idempotent."""
    mounts = client.adapter.get("/v1/sys/mounts")
    listed = mounts.get("data", mounts)
    if f"{kv}/" not in listed:
        client.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"})
    settings = {
        "cas_required": True,
        "max_versions": CHECKPOINT_MAX_VERSIONS,
        "delete_version_after": "0s",
    }
    deadline = time.monotonic() + MOUNT_READY_SECONDS
    while True:
        try:
            client.adapter.post(f"/v1/{kv}/config", json=settings)
            return
        except hvac.exceptions.InvalidRequest as error:
            # a new KV version 2 mount upgrades itself for a moment after it is enabled
            if "Upgrading" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def key_admin_rules(mount: str = TRANSIT_MOUNT) -> str:
    """Creation, rotation, rewrap and crypto-shredding of every program's keys, whatever
    programs come later (so that no one must rewrite this policy when a program appears),
    never the audit checkpoint key (the more specific deny wins)."""
    checkpoint = f"{mount}/keys/{CHECKPOINT_KEY}"
    return (
        "# creation, rotation, rewrap and crypto-shredding of every program's keys\n"
        f'\npath "{mount}/keys/{KEY_PREFIX}*" {{\n  capabilities = ["read", "update", "delete"]\n}}\n'
        f'path "{mount}/rewrap/{KEY_PREFIX}*" {{\n  capabilities = ["update"]\n}}\n'
        "\n# never the audit checkpoint key\n"
        f'path "{checkpoint}" {{\n  capabilities = ["deny"]\n}}\n'
        f'path "{checkpoint}/*" {{\n  capabilities = ["deny"]\n}}\n'
        f'path "{mount}/rewrap/{CHECKPOINT_KEY}" {{\n  capabilities = ["deny"]\n}}\n'
    )


def publisher_rules(mount: str, services: Mapping[str, ServiceDeclaration]) -> str:
    """What publishing a new program needs beyond the key administrator's policy (which
    creates its keys; subsidy_platform.program_keys): list the keys, and rewrite the
    services' policies (never the key administrator's, the checkpoint writer's or its own)."""
    rules = (
        "# publishing a program: the services' policies cover its keys\n"
        f'\npath "{mount}/keys" {{\n  capabilities = ["list"]\n}}\n'
    )
    for service in sorted(services):
        rules += (
            f'path "sys/policies/acl/{policy_name(service)}" {{\n'
            '  capabilities = ["create", "update", "read"]\n}\n'
        )
    return rules + _SELF_SERVICE


def provision_vault(
    client: hvac.Client,
    programs: Sequence[str],
    *,
    token_dir: Path | None = None,
    mount: str = TRANSIT_MOUNT,
) -> dict[str, str]:
    """Transit engine, program keys, policies and one token per service (service -> token).

    `client` holds an admin token. With `token_dir`, tokens are written there (one 0600 file
    per service) and reused on the next call while they are valid and carry their policy.
    """
    wanted = [_program(p) for p in programs]
    with vault_errors("provision"):
        mounts = client.adapter.get("/v1/sys/mounts")
        listed = mounts.get("data", mounts)
        if f"{mount}/" not in listed:
            client.sys.enable_secrets_engine("transit", path=mount)
        for program in wanted:
            for data_class in DataClass:
                client.adapter.post(
                    f"/v1/{mount}/keys/{key_name(program, data_class)}",
                    json={"type": "aes256-gcm96"},
                )
            client.adapter.post(
                f"/v1/{mount}/keys/{key_name(program, 'index')}",
                json={"type": "hmac", "key_size": 32},
            )
        client.adapter.post(f"/v1/{mount}/keys/{CHECKPOINT_KEY}", json={"type": "ed25519"})
        provision_checkpoint_mount(client)
        every = set(wanted) | _programs_with_keys(client, mount)
        for name, document in policy_documents(every, mount).items():
            client.sys.create_or_update_policy(name=name, policy=document)
        holders = (*declarations(), CHECKPOINT_WRITER)
        return {holder: _service_token(client, holder, token_dir) for holder in holders}


class TokenRenewal:
    """A thread that renews one Vault token periodically; `stop()` ends it."""

    def __init__(self, client: hvac.Client, interval: float, increment: str) -> None:
        self._client = client
        self._interval = interval
        self._increment = increment
        self._stopped = threading.Event()
        self._renewed = threading.Condition()
        self.renewals = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="vault-token-renewal", daemon=True)

    def start(self) -> TokenRenewal:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop renewing (the token itself stays valid until its TTL runs out)."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wait_for_renewal(self, count: int = 1, timeout: float | None = None) -> bool:
        """Whether `count` renewals have happened (waiting up to `timeout` seconds)."""
        with self._renewed:
            return self._renewed.wait_for(lambda: self.renewals >= count, timeout)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                with vault_errors("renew token"):
                    renewed = self._client.auth.token.renew_self(increment=self._increment)
            except Exception:
                self.failures += 1
                log.warning("could not renew the Vault token; retrying", exc_info=True)
                continue
            lease = int(renewed["auth"]["lease_duration"])
            if lease < 2 * self._interval:
                log.warning("the Vault token is near its maximum lifetime; restart to replace it")
            with self._renewed:
                self.renewals += 1
                self._renewed.notify_all()


def start_token_renewal(
    client: hvac.Client,
    interval: timedelta | float = RENEW_INTERVAL,
    *,
    increment: str = RENEW_INCREMENT,
) -> TokenRenewal:
    """Renew `client`'s token every `interval` (by `increment`) until the handle is stopped.

    For long-running processes: a service token lives `TOKEN_TTL` unless renewed."""
    seconds = interval.total_seconds() if isinstance(interval, timedelta) else float(interval)
    if seconds <= 0:
        raise ValueError("the renewal interval must be positive")
    return TokenRenewal(client, seconds, increment).start()


def write_policy_files(folder: Path, programs: Iterable[str]) -> list[Path]:
    """Write `<policy>.hcl` files (the k8s/vault/policies/ folder) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, document in policy_documents(programs).items():
        path = folder / f"{name.removeprefix('subsidy-')}.hcl"
        path.write_text(document)
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m subsidy_platform.vault policies --program P ... [--out DIR]`."""
    parser = argparse.ArgumentParser(
        prog="subsidy_platform.vault", description="Vault のポリシーを出力します"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    policies = commands.add_parser("policies", help="サービスごとのポリシー (HCL) を書き出します")
    policies.add_argument("--program", action="append", required=True, help="制度ID (複数指定可)")
    policies.add_argument("--out", type=Path, default=Path("k8s/vault/policies"))
    args = parser.parse_args(argv)
    for path in write_policy_files(args.out, args.program):
        print(path)
    return 0


def valid_program_id(program: str) -> str:
    """The program id, when it can name Vault keys (lower-case letters, digits, hyphens)."""
    return _program(program)


def _program(program: str) -> str:
    if not _PROGRAM.match(program):
        raise ValueError(f"制度IDは英小文字・数字・ハイフンで指定してください: {program!r}")
    return program


def programs_with_keys(client: hvac.Client, mount: str = TRANSIT_MOUNT) -> set[str]:
    """The programs whose three keys are all in the mount (keys of others are never counted)."""
    return _programs_with_keys(client, mount)


def _programs_with_keys(client: hvac.Client, mount: str) -> set[str]:
    try:
        response = client.adapter.list(f"/v1/{mount}/keys")
    except hvac.exceptions.InvalidPath:
        return set()
    names: list[str] = response["data"]["keys"] if response else []
    suffixes: dict[str, set[str]] = {}
    for name in names:
        if not name.startswith(KEY_PREFIX):
            continue
        program, _, suffix = name.removeprefix(KEY_PREFIX).rpartition("-")
        if suffix in KEY_SUFFIXES and _PROGRAM.match(program):
            suffixes.setdefault(program, set()).add(suffix)
    return {program for program, found in suffixes.items() if found == set(KEY_SUFFIXES)}


def _service_token(client: hvac.Client, service: str, token_dir: Path | None) -> str:
    path = token_dir / service if token_dir else None
    if path is not None and path.exists():
        token = path.read_text().strip()
        if _still_valid(client, token, policy_name(service)):
            return token
    created = client.auth.token.create(
        policies=[policy_name(service)],
        display_name=f"subsidy-{service}",
        meta={"service": service},
        period=TOKEN_TTL,
        renewable=True,
        no_parent=True,
        no_default_policy=True,
    )
    token = str(created["auth"]["client_token"])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(token + "\n")
    return token


def _still_valid(client: hvac.Client, token: str, policy: str) -> bool:
    try:
        looked_up: dict[str, Any] = client.auth.token.lookup(token)["data"]
    except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath):
        return False
    return (
        (looked_up.get("policies") or []) == [policy]
        and int(looked_up.get("period") or 0) > 0  # periodic: renewed without end
        and int(looked_up.get("ttl") or 0) > REUSE_MIN_TTL.total_seconds()
    )


if __name__ == "__main__":
    raise SystemExit(main())
