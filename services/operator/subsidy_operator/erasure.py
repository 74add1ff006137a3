"""The operator's actions in Vault and on the services: publishing a program's keys and
policies, and the erasure's crypto-shredding and purge.

- `ProgramPublisher` publishes a program in Vault when it appears (its keys, and the
  services' policies covering it: subsidy_platform.program_keys) and withdraws it from the
  policies after its keys are destroyed, with the operator's token (`subsidy-key-admin` and
  `subsidy-program-publisher`).

- `KeyShredder` destroys a program's Vault transit keys (`subsidy-<program>-contact`,
  `-bank`, `-index`: subsidy_platform.crypto.key_name), recording each key's versions first,
  then `deletion_allowed` and delete: every ciphertext and blind index of the program is
  meaningless afterwards. Its token needs the `subsidy-key-admin` policy
  (subsidy_platform.vault). A key already gone is recorded as such (a retried erasure).
- `ServicePurger` calls `MaintenanceService.PurgeProgram` on every installed service (intake,
  review, payments, notices) over mutual TLS, presenting the operator's certificate (common
  name `operator`, the only identity the RPC admits), always with the erasure's one id.
  Before any key is destroyed it asks each service the same with `check_only`: a service
  whose own data shows the program still in progress (a transfer not confirmed, a notice not
  mailed, a case not decided) refuses, and the erasure waits, its reason in the status.

A lost reply is retried, never recorded as zero rows: a call that ends UNAVAILABLE or
DEADLINE_EXCEEDED (the service down, or the connection cut after the service committed) is
`DependencyUnavailable`, which the handler turns into kopf's `TemporaryError` (retried after
the operator's `retry_delay`, with the same erasure id); the service then answers with the
counts it recorded at the purge (`repeated`), not with the zero rows a second purge would
find. Everything else is a failure the status reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
import hvac
import hvac.exceptions
from subsidy.maintenance.v1 import maintenance_pb2, maintenance_pb2_grpc

from subsidy_operator.manifests import DestroyedKey, ServicePurge
from subsidy_platform.crypto import TRANSIT_MOUNT, DataClass, key_name, vault_errors
from subsidy_platform.errors import DependencyUnavailable
from subsidy_platform.maintenance import OPERATOR_IDENTITY
from subsidy_platform.program_keys import Published, publish_program, republish
from subsidy_platform.tls import Pki, channel_credentials

PURPOSES: tuple[str, ...] = (*(c.value for c in DataClass), "index")
PURGE_DEADLINE = 60.0


class ProgramPublisher:
    """A program's keys and the services' policies, with the operator's Vault token."""

    def __init__(self, client: hvac.Client, mount: str = TRANSIT_MOUNT) -> None:
        self._client = client
        self._mount = mount

    def publish(self, program_id: str) -> Published:
        return publish_program(self._client, program_id, self._mount)

    def withdraw(self) -> tuple[str, ...]:
        """The services' policies over the programs whose keys remain (after a shredding)."""
        return republish(self._client, self._mount)


class KeyShredder:
    """Destroys one program's transit keys with a key-admin Vault token."""

    def __init__(self, client: hvac.Client, mount: str = TRANSIT_MOUNT) -> None:
        self._client = client
        self._mount = mount

    def destroy(self, program_id: str) -> list[DestroyedKey]:
        return [self._destroy(key_name(program_id, purpose)) for purpose in PURPOSES]

    def _destroy(self, key: str) -> DestroyedKey:
        path = f"/v1/{self._mount}/keys/{key}"
        with vault_errors(f"destroy {key}"):
            try:
                described = self._client.adapter.get(path)
            except hvac.exceptions.InvalidPath:
                return DestroyedKey(key, existed=False, latest_version=0, versions=())
            if not described:
                return DestroyedKey(key, existed=False, latest_version=0, versions=())
            data = described["data"]
            latest = int(data.get("latest_version") or 0)
            listed = data.get("keys")
            if isinstance(listed, dict) and listed:
                versions = tuple(sorted(int(v) for v in listed))
            else:  # not listed for this key type: the versions still held, oldest to latest
                oldest = max(1, int(data.get("min_available_version") or 0))
                versions = tuple(range(oldest, latest + 1))
            self._client.adapter.post(f"{path}/config", json={"deletion_allowed": True})
            self._client.adapter.delete(path)
        return DestroyedKey(key, True, latest, versions)


class ServicePurger:
    """Asks the services to purge a program, as the operator (mutual TLS)."""

    def __init__(self, pki: Pki, addresses: Mapping[str, str], services: Sequence[str]) -> None:
        self._pki = pki
        self._addresses = dict(addresses)
        self.services = tuple(services)

    def refusal(self, service: str, program_id: str, erasure_id: str) -> str | None:
        """Why `service` may not purge the program now, in its own words (None: it may);
        nothing is deleted (`check_only`)."""
        credentials = channel_credentials(self._pki, OPERATOR_IDENTITY)
        with grpc.secure_channel(self._addresses[service], credentials) as channel:
            stub = maintenance_pb2_grpc.MaintenanceServiceStub(channel)
            try:
                stub.PurgeProgram(
                    maintenance_pb2.PurgeProgramRequest(
                        program_id=program_id, erasure_id=erasure_id, check_only=True
                    ),
                    timeout=PURGE_DEADLINE,
                    wait_for_ready=True,
                )
            except grpc.RpcError as error:
                code = error.code() if isinstance(error, grpc.Call) else None
                if code == grpc.StatusCode.FAILED_PRECONDITION:
                    details = error.details() if isinstance(error, grpc.Call) else ""
                    return f"{service}: {details or '消去の条件を満たしていません'}"
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise DependencyUnavailable(f"{service} に接続できません") from error
                raise
        return None

    def purge(self, service: str, program_id: str, erasure_id: str) -> ServicePurge:
        credentials = channel_credentials(self._pki, OPERATOR_IDENTITY)
        with grpc.secure_channel(self._addresses[service], credentials) as channel:
            stub = maintenance_pb2_grpc.MaintenanceServiceStub(channel)
            try:
                response = stub.PurgeProgram(
                    maintenance_pb2.PurgeProgramRequest(
                        program_id=program_id, erasure_id=erasure_id
                    ),
                    timeout=PURGE_DEADLINE,
                    wait_for_ready=True,
                )
            except grpc.RpcError as error:
                code = error.code() if isinstance(error, grpc.Call) else None
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise DependencyUnavailable(f"{service} に接続できません") from error
                raise
        reasons = {k.table: k.reason for k in response.kept}
        return ServicePurge(
            response.service,
            tuple((t.table, int(t.rows)) for t in response.tables),
            tuple((t, reasons.get(t, "")) for t in response.kept_tables),
            repeated=bool(response.repeated),
            purged_at=response.purged_at,
        )
