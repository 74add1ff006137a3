"""Running the SubsidyProgram operator against kmock (the Kopf author's Kubernetes API mock).

`Emulator` adds what kopf relies on and kmock leaves out: `metadata.resourceVersion` bumped on
every write, `uid` and `creationTimestamp` on create, and JSON-patch (kopf's finalizers) with
its `test` operation answered 422 when it fails. `running_operator` starts kopf's operator as an
asyncio task over a registry built from an `OperatorConfig` (an injectable clock) and cancels it
at the end. `wait_for` polls the emulator's objects (no timed assertions: a deadline only bounds
a hung test).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import aiohttp.web
import attrs
import hvac
import kmock
import kopf
from subsidy_operator.handlers import OperatorConfig, build_registry
from subsidy_operator.manifests import CERTIFICATES_CONFIGMAP, PROGRAMS_CONFIGMAP, PROGRAMS_DIGEST
from subsidy_operator.resource import GROUP, KIND, PLURAL, VERSION, build_crd

from subsidy_platform.runtime import Environment
from subsidy_platform.vault import PUBLISHER, policy_name

NAMESPACE = "subsidy"
RESOURCE = f"{GROUP}/{VERSION}/{PLURAL}"
HUNG = 90.0


class Unprocessable(kmock.KubernetesError):
    pass


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    _versions: Any = attrs.field(factory=lambda: itertools.count(1), init=False)
    _latest: int = attrs.field(default=0, init=False)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.resource is not None and isinstance(request.data, (dict, list)):
            try:
                request = self._versioned(request)
            except Unprocessable:
                return aiohttp.web.json_response(
                    {"kind": "Status", "code": 422, "reason": "Invalid"}, status=422
                )
        return await super()._handle(request)

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        """kmock's watch from a resource version, as Kubernetes does it: only what changed
        after that version is replayed, and the bus is marked in the same lock as the
        replay, so that no write in between is lost."""
        yield b""
        assert request.resource is not None
        since = str(request.params.get("resourceVersion") or "0")
        after = int(since) if since.isdigit() else 0
        bus = self._buses[request.resource]
        async with self._lock:
            mark = await bus.mark()
            events = [
                {"type": "ADDED" if after == 0 else "MODIFIED", "object": obj.raw}
                for (resource, namespace, name), obj in self.objects.items()
                if not obj.deleted
                and self._matches(request, resource, namespace, name)
                and int(obj.raw.get("metadata", {}).get("resourceVersion") or 0) > after
            ]
        for event in events:
            yield event
        async for event in bus.stream(since=mark):
            meta = event.get("object", {}).get("metadata", {})
            if self._matches(request, request.resource, meta.get("namespace"), meta.get("name")):
                yield event

    @staticmethod
    def _matches(request: kmock.Request, resource: Any, namespace: Any, name: Any) -> bool:
        return bool(
            resource == request.resource
            and (request.namespace is None or namespace == request.namespace)
            and (request.name is None or name == request.name)
        )

    async def _serve_list(self, request: kmock.Request) -> Any:
        latest = self._latest  # read before the listing: anything newer is replayed by a watch
        listed = dict(await super()._serve_list(request))
        listed["metadata"] = {"resourceVersion": str(latest)}
        return listed

    def _versioned(self, request: kmock.Request) -> kmock.Request:
        self._latest = next(self._versions)
        version = str(self._latest)
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            data = copy.deepcopy(request.data)
            meta = data.setdefault("metadata", {})
            meta.setdefault("uid", str(uuid.uuid4()))
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:8]}"
            meta.setdefault("creationTimestamp", datetime.now(UTC).isoformat())
            meta["resourceVersion"] = version
            object.__setattr__(request, "data", data)  # frozen; the same request goes on
            return request
        if request.action == kmock.action.UPDATE and request.name is not None:
            key = (request.resource, request.namespace, request.name)
            if key not in self.objects:
                return request
            if isinstance(request.data, list):
                current = copy.deepcopy(dict(self.objects[key].raw))
                patched = _json_patch(copy.deepcopy(current), request.data)
                data = _merge_diff(current, patched)
            else:
                data = copy.deepcopy(request.data)
            data.setdefault("metadata", {})["resourceVersion"] = version
            object.__setattr__(request, "data", data)  # frozen; the same request goes on
            return request
        return request


def _json_patch(document: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    for op in ops:
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]
        ]
        target: Any = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        if op["op"] == "test":
            actual = target.get(last) if isinstance(target, dict) else target[int(last)]
            if actual != op["value"]:
                raise Unprocessable(status=422)
        elif op["op"] in ("add", "replace"):
            if isinstance(target, list):
                if last == "-":
                    target.append(op["value"])
                else:
                    target.insert(int(last), op["value"])
            else:
                target[last] = op["value"]
        elif op["op"] == "remove":
            if isinstance(target, list):
                del target[int(last)]
            else:
                target.pop(last, None)
    return document


def _merge_diff(old: Any, new: Any) -> Any:
    """A merge patch turning `old` into `new` (None removes; lists are replaced whole)."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    out: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        if key not in old:
            out[key] = value
        elif old[key] != value:
            out[key] = _merge_diff(old[key], value)
    return out


SERVICE_DEPLOYMENTS = ("auth", "intake", "review", "payments", "notices")


def prepare_kmock(mock: kmock.KubernetesEmulator) -> None:
    """The resources kopf and the operator use, the CRD object kopf looks for, and what the
    base manifests make before the operator runs: the programs and certificates ConfigMaps
    (empty) and the services' Deployments."""
    mock.resources["v1/namespaces"] = kmock.ResourceInfo(kind="Namespace", namespaced=False)
    mock.resources["v1/events"] = kmock.ResourceInfo(kind="Event", namespaced=True)
    mock.resources["v1/configmaps"] = kmock.ResourceInfo(kind="ConfigMap", namespaced=True)
    mock.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = kmock.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False
    )
    mock.resources[RESOURCE] = kmock.ResourceInfo(
        kind=KIND,
        namespaced=True,
        singular="subsidyprogram",
        verbs={"list", "watch", "get", "patch", "create"},
        subresources={"status"},
    )
    mock.resources["apps/v1/deployments"] = kmock.ResourceInfo(kind="Deployment", namespaced=True)
    mock.objects["v1/namespaces", None, NAMESPACE] = {"metadata": {"name": NAMESPACE}}
    for name in (PROGRAMS_CONFIGMAP, CERTIFICATES_CONFIGMAP):
        mock.objects["v1/configmaps", NAMESPACE, name] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "1"},
            "data": {},
        }
    for name in SERVICE_DEPLOYMENTS:
        mock.objects["apps/v1/deployments", NAMESPACE, name] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "1"},
            "spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/name": name}}}},
        }
    crd = build_crd()
    mock.objects[
        "apiextensions.k8s.io/v1/customresourcedefinitions", None, crd["metadata"]["name"]
    ] = crd


class Clock:
    """The operator's notion of today (Japan) and now, moved by the test."""

    def __init__(self, today: date) -> None:
        self.day = today

    def today(self) -> date:
        return self.day

    def now(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, 9, 0, tzinfo=UTC)


def operator_vault(environment: Environment) -> hvac.Client:
    """A Vault client with what the operator's role carries: the key administrator's and the
    program publisher's policies, nothing else."""
    vault = environment.infrastructure.vault_addr
    admin = hvac.Client(url=vault, token=environment.infrastructure.vault_admin_token)
    created = admin.auth.token.create(
        policies=["subsidy-key-admin", policy_name(PUBLISHER)], no_default_policy=True, ttl="1h"
    )
    return hvac.Client(url=vault, token=created["auth"]["client_token"])


def not_used(what: str) -> Callable[[], Any]:
    def refuse() -> Any:
        raise AssertionError(f"{what} must not be used here")

    return refuse


def config(mock: kmock.KubernetesEmulator, clock: Clock, **changes: Any) -> OperatorConfig:
    url = str(mock.url).rstrip("/")
    fields: dict[str, Any] = {
        "login": lambda **_: kopf.ConnectionInfo(server=url, insecure=True),
        "today": clock.today,
        "now": clock.now,
        "shredder": not_used("Vault"),
        "purger": not_used("the services"),
        "retention": not_used("the services' retention purges"),
        "performed_by": "subsidy-operator (test)",
        "interval": 0.2,
        "deployments": SERVICE_DEPLOYMENTS,
    }
    fields.update(changes)
    return OperatorConfig(**fields)


@contextlib.asynccontextmanager
async def running_operator(configuration: OperatorConfig) -> AsyncIterator[None]:
    registry = build_registry(configuration)

    @kopf.on.startup(registry=registry)
    def quick(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = 20
        settings.watching.server_timeout = 10
        settings.scanning.disabled = True  # kmock cannot parse a cluster-wide namespace list
        settings.persistence.consistency_timeout = 0

    task = asyncio.create_task(
        kopf.operator(registry=registry, namespaces=[NAMESPACE], standalone=True)
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def configmap_data(mock: kmock.KubernetesEmulator, name: str) -> dict[str, str]:
    return dict(mock.objects["v1/configmaps", NAMESPACE, name].raw.get("data") or {})


def rollout_digest(mock: kmock.KubernetesEmulator, deployment: str) -> str | None:
    raw = mock.objects["apps/v1/deployments", NAMESPACE, deployment].raw
    annotations = raw["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(PROGRAMS_DIGEST)


def program_object(mock: kmock.KubernetesEmulator, name: str) -> dict[str, Any]:
    return dict(mock.objects[RESOURCE, NAMESPACE, name].raw)


async def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """Poll `condition` until it is truthy (its value is returned)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HUNG
    while True:
        try:
            value = condition()
        except (KeyError, LookupError):
            value = None
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


def events(mock: kmock.KubernetesEmulator, reason: str) -> list[str]:
    return [
        str(obj.raw.get("message"))
        for (resource, _, _), obj in mock.objects.items()
        if resource == kmock.resource("", "v1", "events") and obj.raw.get("reason") == reason
    ]


async def create_program(mock: kmock.KubernetesEmulator, body: dict[str, Any]) -> None:
    url = f"{str(mock.url).rstrip('/')}/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        assert response.status < 300, await response.text()


async def patch_program(mock: kmock.KubernetesEmulator, name: str, patch: dict[str, Any]) -> None:
    url = (
        f"{str(mock.url).rstrip('/')}/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}/{name}"
    )
    headers = {"Content-Type": "application/merge-patch+json"}
    async with (
        aiohttp.ClientSession() as session,
        session.patch(url, json=patch, headers=headers) as response,
    ):
        assert response.status < 300, await response.text()
