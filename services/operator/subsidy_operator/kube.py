"""The few Kubernetes API calls the operator makes itself: apply a ConfigMap (aiohttp).

kopf patches the SubsidyProgram and posts Events; ConfigMaps are the operator's own
objects, created or merge-patched here with the same credentials kopf logged in with
(`kopf.ConnectionInfo`: in a cluster, the pod's service account). The RBAC in
k8s/base/operator/ grants exactly these verbs on ConfigMaps.
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

    async def apply_configmap(self, body: dict[str, Any]) -> None:
        """Create the ConfigMap, or merge-patch it when it exists."""
        namespace = body["metadata"]["namespace"]
        name = body["metadata"]["name"]
        collection = f"{self._server}/api/v1/namespaces/{namespace}/configmaps"
        async with aiohttp.ClientSession(headers=self._headers) as session:
            async with session.patch(
                f"{collection}/{name}",
                json=body,
                headers={"Content-Type": "application/merge-patch+json"},
                ssl=self._ssl,
            ) as response:
                if response.status == 404:
                    pass
                elif response.status >= 300:
                    raise _failure(response.status, "patch", name)
                else:
                    return
            async with session.post(collection, json=body, ssl=self._ssl) as response:
                if response.status >= 300:
                    raise _failure(response.status, "create", name)


def _failure(status: int, verb: str, name: str) -> Exception:
    message = f"ConfigMap {name}: {verb} failed with HTTP {status}"
    if status in (409, 429) or status >= 500:
        return kopf.TemporaryError(message, delay=10)
    return kopf.PermanentError(message)
