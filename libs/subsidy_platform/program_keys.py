"""Publishing a new program in Vault: its transit keys and the services' policies covering it.

When a program appears (the operator reconciling a `SubsidyProgram`), nobody should have
to regenerate and rewrite policies by hand before the services can serve it or the operator
can shred it. `publish_program(client, program_id)`, with the operator's token (the
`subsidy-key-admin` and `subsidy-program-publisher` policies, subsidy_platform.vault):

- creates the program's three keys when missing (`subsidy-<p>-contact` and `-bank`,
  aes256-gcm96; `-index`, hmac), the same keys the embedded default provisions (the key
  administrator's policy: every program's keys, which it also shreds, never the audit
  checkpoint key; it can read no plaintext: no encrypt, decrypt or export);
- rewrites each service's policy (`subsidy-<service>`) from the same documents the embedded
  default writes (subsidy_platform.vault.policy_documents), over every program whose keys
  are in the mount: a program whose keys were destroyed (erased) drops out the same way.

It never writes the key administrator's policy (program-independent), the checkpoint
writer's, or its own: the operator's token cannot grant itself anything. Vault down is
`DependencyUnavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass

import hvac
import hvac.exceptions

from subsidy_platform.crypto import DataClass, key_name, vault_errors
from subsidy_platform.declaration import declarations
from subsidy_platform.vault import (
    TRANSIT_MOUNT,
    policy_documents,
    policy_name,
    programs_with_keys,
    valid_program_id,
)

KEY_TYPES = {
    **{data_class.value: {"type": "aes256-gcm96"} for data_class in DataClass},
    "index": {"type": "hmac", "key_size": 32},
}


@dataclass(frozen=True)
class Published:
    program_id: str
    keys_created: tuple[str, ...]
    programs: tuple[str, ...]  # every program the services' policies now cover


def publish_program(client: hvac.Client, program_id: str, mount: str = TRANSIT_MOUNT) -> Published:
    program = valid_program_id(program_id)
    with vault_errors("publish program"):
        existing = _key_names(client, mount)
        created = []
        for purpose, settings in KEY_TYPES.items():
            key = key_name(program, purpose)
            if key not in existing:
                client.adapter.post(f"/v1/{mount}/keys/{key}", json=settings)
                created.append(key)
        return Published(program, tuple(created), republish(client, mount))


def republish(client: hvac.Client, mount: str = TRANSIT_MOUNT) -> tuple[str, ...]:
    """Each service's policy over the programs whose keys are in the mount now."""
    with vault_errors("write service policies"):
        programs = sorted(programs_with_keys(client, mount))
        documents = policy_documents(programs, mount)
        for service in declarations():
            name = policy_name(service)
            client.sys.create_or_update_acl_policy(name=name, policy=documents[name])
        return tuple(programs)


def _key_names(client: hvac.Client, mount: str) -> set[str]:
    try:
        listed = client.adapter.list(f"/v1/{mount}/keys")
    except hvac.exceptions.InvalidPath:
        return set()
    return set(listed["data"]["keys"]) if listed else set()
