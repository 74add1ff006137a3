"""The kopf handlers of SubsidyProgram, registered by `build_registry(config)`.

- create / update / resume: validate the spec with the rules library (a bad spec: status
  `Invalid` naming the key, a warning Event, `kopf.PermanentError`, and nothing else is
  touched), publish the program in Vault (its keys, the services' policies covering them),
  then its definition and phase in the programs ConfigMap, roll the services out when the
  definitions changed (manifests.build_rollout), report the phase;
- a timer (`config.interval`): move the phase with the calendar (each change a Kubernetes
  Event) and, when the contract has ended, erase: refused (status says why) unless two
  different approvers and the ward's handover are recorded and every service agrees that
  nothing of the program is still in progress in its own data (asked before any key is
  destroyed: a transfer not confirmed, a notice not mailed, a case not decided); otherwise
  destroy the Vault
  keys (and withdraw the program from the services' policies), purge every service, write
  the certificate to status and to a ConfigMap.

- a second timer (`config.retention_interval`, an hour by default): on every live program
  (Open, Closed, Retention) the retention purges of print data and transfer files
  (subsidy_operator.retention), the result in `status.retention` and, when anything was
  deleted, a `RetentionPurged` Event; each service audits the call.

The erasure keeps its progress in `status.erasure` (kopf applies a timer's patch after every
attempt, failed ones too): keys destroyed are recorded before any purge, and each service's
counts as soon as it answers, so a retried erasure (`TemporaryError` after
`config.retry_delay` seconds: Vault or a service down, or a reply lost) neither loses the key
versions nor purges a service twice. Every call of one erasure carries its one id, so a
service whose reply was lost answers the retry with the counts it recorded (subsidy_platform
.maintenance). The program is marked Erased only once every service has answered. The clock
is injectable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import kopf

from subsidy_operator.erasure import KeyShredder, ProgramPublisher, ServicePurger
from subsidy_operator.kube import KubeApi
from subsidy_operator.lifecycle import (
    Phase,
    ProgramSpec,
    SpecError,
    erasure_due,
    erasure_refusal,
    parse_spec,
    phase_on,
)
from subsidy_operator.manifests import (
    CERTIFICATES_CONFIGMAP,
    PROGRAMS_CONFIGMAP,
    DestroyedKey,
    ServicePurge,
    build_certificate,
    build_certificate_entry,
    build_program_entry,
    build_rollout,
    build_status,
    programs_digest,
)
from subsidy_operator.resource import GROUP, PLURAL, VERSION
from subsidy_operator.retention import RetentionPurger
from subsidy_platform.errors import DependencyUnavailable

Login = Callable[..., kopf.ConnectionInfo | None]
LIVE = frozenset({Phase.OPEN, Phase.CLOSED, Phase.RETENTION})
"""Phases whose print data and transfer files may fall due for deletion."""
RETRY_SECONDS = 30.0
"""The default delay before Vault or service work that failed transiently is tried again."""


@dataclass
class OperatorConfig:
    """What the handlers work with; tests inject the clock and the connections."""

    login: Login
    today: Callable[[], date]
    now: Callable[[], datetime]
    shredder: Callable[[], KeyShredder]
    purger: Callable[[], ServicePurger]
    publisher: Callable[[], ProgramPublisher]
    retention: Callable[[], RetentionPurger]
    performed_by: str
    interval: float = 60.0
    api: KubeApi | None = None
    retention_interval: float = 3600.0
    deployments: tuple[str, ...] = ()
    """The service Deployments that mount the programs ConfigMap (rolled out on a change)."""
    retry_delay: float = RETRY_SECONDS
    """Seconds before a transient failure (UNAVAILABLE, DEADLINE_EXCEEDED, Vault down) of the
    erasure or the retention purges is tried again (kopf's TemporaryError delay)."""

    def kube(self) -> KubeApi:
        if self.api is None:
            raise kopf.TemporaryError("not logged in to Kubernetes yet", delay=5)
        return self.api


def build_registry(config: OperatorConfig) -> kopf.OperatorRegistry:
    """A registry holding the operator's handlers over `config`."""
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        connection = config.login(**kwargs)
        if connection is not None:
            config.api = KubeApi(connection)
        return connection

    @kopf.on.resume(*resource, id="reconcile-on-resume", registry=registry)
    @kopf.on.create(*resource, id="reconcile-on-create", registry=registry)
    @kopf.on.update(*resource, id="reconcile-on-update", registry=registry)
    async def reconcile(
        name: str,
        namespace: str | None,
        spec: Mapping[str, Any],
        status: Mapping[str, Any],
        body: kopf.Body,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        if status.get("phase") == Phase.ERASED:
            return
        parsed = _validated(name, spec, body, patch)
        phase = phase_on(parsed, config.today())
        await _retrying(config, asyncio.to_thread(config.publisher().publish, parsed.program_id))
        await _publish(config, _namespace(namespace), parsed, phase)
        _report(body, patch, status, parsed, phase)

    @kopf.timer(*resource, id="advance", interval=config.interval, registry=registry)
    async def advance(
        name: str,
        namespace: str | None,
        spec: Mapping[str, Any],
        status: Mapping[str, Any],
        body: kopf.Body,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        if status.get("phase") in (None, Phase.ERASED, Phase.INVALID):
            return
        try:
            parsed = parse_spec(name, spec)
        except SpecError:
            return  # the update handler reports it
        today = config.today()
        phase = phase_on(parsed, today)
        if phase != status.get("phase"):
            await _publish(config, _namespace(namespace), parsed, phase)
            _report(body, patch, status, parsed, phase)
        if erasure_due(parsed, today):
            await _erase(config, _namespace(namespace), parsed, body, patch, status)

    @kopf.timer(*resource, id="retention", interval=config.retention_interval, registry=registry)
    async def retention(
        name: str,
        status: Mapping[str, Any],
        spec: Mapping[str, Any],
        body: kopf.Body,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        if status.get("phase") not in LIVE:
            return
        program_id = str(spec.get("definition", {}).get("id") or name)
        result = await _retrying(config, asyncio.to_thread(config.retention().purge, program_id))
        patch.status["retention"] = {"lastRun": config.now().isoformat(), **result.as_status()}
        if result.anything:
            kopf.info(body, reason="RetentionPurged", message=json.dumps(result.as_status()))

    return registry


async def _publish(
    config: OperatorConfig, namespace: str, parsed: ProgramSpec, phase: Phase
) -> None:
    """The program's definition and phase into the programs ConfigMap; then every service
    Deployment's pod template carries the digest of the definitions (a no-op for Kubernetes
    when they did not change, a rollout when they did)."""
    kube = config.kube()
    published = await kube.patch_configmap(
        build_program_entry(namespace, parsed.program_id, parsed.definition, phase)
    )
    rollout = build_rollout(programs_digest(published.get("data") or {}))
    for deployment in config.deployments:
        await kube.patch_deployment(namespace, deployment, rollout)


def _namespace(namespace: str | None) -> str:
    if namespace is None:
        raise kopf.PermanentError("SubsidyProgram is namespaced")
    return namespace


def _validated(
    name: str, spec: Mapping[str, Any], body: kopf.Body, patch: kopf.Patch
) -> ProgramSpec:
    try:
        return parse_spec(name, spec)
    except SpecError as error:
        message = str(error)
        patch.status.update(build_status(Phase.INVALID, message, program_id=None, configmap=None))
        kopf.warn(body, reason="InvalidSpec", message=message)
        raise kopf.PermanentError(message) from None


def _report(
    body: kopf.Body,
    patch: kopf.Patch,
    status: Mapping[str, Any],
    parsed: ProgramSpec,
    phase: Phase,
) -> None:
    previous = status.get("phase")
    patch.status.update(
        build_status(
            phase,
            f"{parsed.program.name}: {phase}",
            program_id=parsed.program_id,
            configmap=PROGRAMS_CONFIGMAP,
        )
    )
    if previous != phase:
        kopf.info(body, reason="PhaseChanged", message=f"{previous or '-'} -> {phase}")


async def _erase(
    config: OperatorConfig,
    namespace: str,
    parsed: ProgramSpec,
    body: kopf.Body,
    patch: kopf.Patch,
    status: Mapping[str, Any],
) -> None:
    recorded: Mapping[str, Any] = status.get("erasure") or {}
    refusal = erasure_refusal(parsed.lifecycle)
    if refusal is not None:
        if recorded.get("reason") != refusal:
            kopf.warn(body, reason="ErasureRefused", message=refusal)
        patch.status["erasure"] = {"state": "Refused", "reason": refusal}
        patch.status["message"] = f"消去を保留しています: {refusal}"
        return
    program_id = parsed.program_id
    progress: dict[str, Any] = {
        "state": "InProgress",
        "reason": None,
        "id": recorded.get("id") or f"erasure-{program_id}-{config.now():%Y%m%dT%H%M%S}"[:64],
        "startedAt": recorded.get("startedAt") or config.now().isoformat(),
        "keys": list(recorded.get("keys") or []),
        "services": dict(recorded.get("services") or {}),
    }
    if recorded.get("state") != "InProgress":
        kopf.info(body, reason="ErasureStarted", message=f"{progress['id']}")
    patch.status["erasure"] = progress
    purger = config.purger()
    if not progress["keys"]:  # nothing destroyed yet: every service must agree first
        for service in purger.services:
            refused = await _retrying(
                config,
                asyncio.to_thread(purger.refusal, service, program_id, progress["id"]),
            )
            if refused is not None:
                if recorded.get("reason") != refused:
                    kopf.warn(body, reason="ErasureRefused", message=refused)
                patch.status["erasure"] = {
                    "state": "Refused",
                    "reason": refused,
                    "id": None,
                    "startedAt": None,
                }
                patch.status["message"] = f"消去を保留しています: {refused}"
                return
        destroyed = await _retrying(
            config, asyncio.to_thread(config.shredder().destroy, program_id)
        )
        progress["keys"] = [dataclasses.asdict(k) for k in destroyed]
        patch.status["erasure"] = progress
        await _retrying(config, asyncio.to_thread(config.publisher().withdraw))
    for service in purger.services:
        if service in progress["services"]:
            continue
        purged = await _retrying(
            config, asyncio.to_thread(purger.purge, service, program_id, progress["id"])
        )
        progress["services"][service] = {
            "tables": [list(t) for t in purged.tables],
            "kept": [list(k) for k in purged.kept],
            "repeated": purged.repeated,
            "purgedAt": purged.purged_at,
        }
        patch.status["erasure"] = progress
    certificate = build_certificate(
        program_id=program_id,
        program_name=parsed.program.name,
        municipality=parsed.program.municipality,
        erasure_id=progress["id"],
        keys=[_key(k) for k in progress["keys"]],
        purges=[_purge(s, progress["services"][s]) for s in purger.services],
        lifecycle=parsed.lifecycle,
        performed_at=config.now(),
        performed_by=config.performed_by,
    )
    await config.kube().patch_configmap(build_certificate_entry(namespace, certificate))
    patch.status["erasure"] = {
        "state": "Done",
        "reason": None,
        "id": progress["id"],
        "startedAt": progress["startedAt"],
        "keys": None,
        "services": None,
        "certificate": certificate,
        "certificateConfigMap": CERTIFICATES_CONFIGMAP,
    }
    patch.status["phase"] = str(Phase.ERASED)
    patch.status["message"] = f"{parsed.program.name}: 消去済み (SHA-256 {certificate['sha256']})"
    kopf.info(body, reason="PhaseChanged", message=f"{Phase.RETENTION} -> {Phase.ERASED}")
    kopf.info(body, reason="Erased", message=f"{progress['id']} sha256={certificate['sha256']}")


async def _retrying(config: OperatorConfig, work: Any) -> Any:
    """Await Vault or service work; a dependency down becomes kopf's TemporaryError, tried
    again after `config.retry_delay` seconds."""
    try:
        return await work
    except DependencyUnavailable as error:
        raise kopf.TemporaryError(str(error), delay=config.retry_delay) from error


def _key(raw: Mapping[str, Any]) -> DestroyedKey:
    return DestroyedKey(
        str(raw["name"]),
        bool(raw["existed"]),
        int(raw["latest_version"]),
        tuple(int(v) for v in raw["versions"]),
    )


def _purge(service: str, raw: Mapping[str, Any]) -> ServicePurge:
    return ServicePurge(
        service,
        tuple((str(t), int(n)) for t, n in raw["tables"]),
        tuple(_kept(k) for k in raw["kept"]),
        repeated=bool(raw.get("repeated")),
        purged_at=str(raw.get("purgedAt") or ""),
    )


def _kept(raw: Any) -> tuple[str, str]:
    """A kept table as recorded in status: [table, reason] (a bare name before issue 20)."""
    if isinstance(raw, str):
        return raw, ""
    table, reason = raw
    return str(table), str(reason)
