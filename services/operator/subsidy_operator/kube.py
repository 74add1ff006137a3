"""The few Kubernetes API calls the operator makes itself: merge patches by name (aiohttp).

kopf patches the SubsidyProgram and posts Events; the operator's own writes are merge
patches of objects the base manifests made and named: the programs and certificates
ConfigMaps and the services' Deployments (to roll them out), with the same credentials
kopf logged in with (`kopf.ConnectionInfo`: in a cluster, the pod's service account). It
creates nothing, so the RBAC in k8s/base/operator/ grants `get` and `patch` on those names
alone. A missing object is a temporary failure (retried): the base is not applied yet.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import kopf


class KubeApi:
    """ConfigMaps in one namespace, over the connection kopf uses."""

    def __init__(self, connection: kopf.ConnectionInfo) -> None:
        self._server = connection.server.rstrip("/")
        headers = {"Accept": "application/json"}
        if connection.token:
            headers["Authorization"] = f"Bearer {connection.token}"
        self._headers = headers
        if connection.insecure:
            self._ssl: ssl.SSLContext | bool = False
        else:
            context = ssl.create_default_context(cafile=connection.ca_path)
            if connection.ca_data:
                data = connection.ca_data
                context.load_verify_locations(
                    cadata=data.decode("ascii") if isinstance(data, bytes) else data
                )
            self._ssl = context

    async def patch_configmap(self, body: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch a ConfigMap; the object as it is afterwards."""
        namespace = body["metadata"]["namespace"]
        name = body["metadata"]["name"]
        return await self._patch(f"/api/v1/namespaces/{namespace}/configmaps/{name}", body, name)

    async def patch_deployment(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        await self._patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", body, name)

    async def _patch(self, path: str, body: dict[str, Any], name: str) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(headers=self._headers) as session,
            session.patch(
                f"{self._server}{path}",
                json=body,
                headers={"Content-Type": "application/merge-patch+json"},
                ssl=self._ssl,
            ) as response,
        ):
            if response.status >= 300:
                raise _failure(response.status, name)
            found: dict[str, Any] = await response.json()
            return found


def _failure(status: int, name: str) -> Exception:
    message = f"{name}: patch failed with HTTP {status}"
    if status in (404, 409, 429) or status >= 500:
        return kopf.TemporaryError(message, delay=10)
    return kopf.PermanentError(message)
