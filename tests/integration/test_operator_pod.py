"""The operator starts from its pod as the rendered production overlay describes it (issue 20).

The test lays out what the operator's pod holds, each pod path mapped under a folder of this
machine: the service-account folder the kubelet mounts (`token`, `ca.crt`, `namespace`), the
files its Vault agent renders (named by the agent annotations: the `operator` mTLS identity
and the Vault token), the ConfigMaps it mounts (the Vault CA) and its empty folders. The
Kubernetes API is kmock (with the emulator of operator_support) served over TLS with a
certificate of a CA that only the pod's `ca.crt` holds. The operator's console script starts
with exactly the container's variables (values from the manifest, pod paths and cluster
addresses mapped to this machine, `fieldRef`s filled in as the kubelet does) plus the two
the kubelet gives every pod, `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`. It
must serve its liveness endpoint where the probes look, handle one real event (a new
SubsidyProgram gets its entry in the programs ConfigMap, its phase in its status and the
services rolled out, its keys published in the session's OpenBao), stop on SIGTERM with
status 0, and every environment variable its own code read must be one the manifest or the
kubelet provides, or one listed below with its documented default.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.test_utils
import kmock as km
import pytest
import pytest_asyncio
import yaml
from k8s_support import OVERLAYS, REPOSITORY, Manifest, label_name, render, workloads
from operator_support import (
    NAMESPACE,
    SERVICE_DEPLOYMENTS,
    Emulator,
    configmap_data,
    operator_vault,
    prepare_kmock,
    program_object,
    rollout_digest,
    wait_for,
)
from subsidy_operator.lifecycle import parse_spec, phase_on
from subsidy_operator.manifests import PROGRAMS_CONFIGMAP, programs_digest
from subsidy_operator.resource import API_VERSION, KIND, PLURAL

from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.tls import ensure_pki
from subsidy_platform.ward_clock import ward_today
from subsidy_rules.program import PROGRAMS_DIR

pytestmark = [pytest.mark.asyncio, pytest.mark.kmock(cls=Emulator)]

HERE = Path(__file__).resolve().parent
PROGRAM = "shinjuku-2025"
AGENT_SECRET = "vault.hashicorp.com/agent-inject-secret-"
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
KUBELET = {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}
"""Variables the kubelet sets in every pod (the API server's address)."""
OPTIONAL = {
    "VAULT_TOKEN": "a pod's token is the Vault agent's file (VAULT_TOKEN_FILE)",
    "SUBSIDY_OPERATOR_INTERVAL": "60 s between phase evaluations",
}
"""Variables the operator may read that a pod need not set: name -> the default that applies."""
FIELD_REFS = {"metadata.namespace": NAMESPACE, "metadata.name": "subsidy-operator-6d5f-x7k2p"}
PEERING = "kopf.dev/v1/kopfpeerings"


@pytest.fixture(scope="module")
def production() -> list[Manifest]:
    return render(REPOSITORY / "k8s" / "overlays" / OVERLAYS[-1])


API_SERVER = "kube-apiserver"


def api_certificates(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA of its own (its certificate is the pod's `ca.crt`, trusted by nothing else) and
    the API server's certificate for 127.0.0.1, made as the platform makes its own
    (subsidy_platform.tls); the server's TLS context."""
    pki = ensure_pki(folder, [API_SERVER])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(
        pki.directory / f"{API_SERVER}.crt", pki.directory / f"{API_SERVER}.key"
    )
    return pki.directory / "ca.crt", context


def tls_server(context: ssl.SSLContext) -> type[aiohttp.test_utils.RawTestServer]:
    class TlsServer(aiohttp.test_utils.RawTestServer):
        async def start_server(
            self, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any
        ) -> None:
            await super().start_server(loop=loop, ssl=context, **kwargs)

    return TlsServer


@pytest_asyncio.fixture
async def api_server(kmock: Emulator, tmp_path: Path) -> AsyncIterator[tuple[km.Server, Path]]:
    """kmock also served over TLS, as a pod reaches its API server."""
    ca_file, context = api_certificates(tmp_path / "api-server")
    async with km.Server(kmock, server_cls=tls_server(context)) as server:
        yield server, ca_file


def peering(mock: Emulator, manifests: list[Manifest]) -> None:
    """kopf's peering resource and the overlay's peering object (mandatory peering)."""
    mock.resources[PEERING] = km.ResourceInfo(
        kind="KopfPeering", namespaced=True, verbs={"list", "watch", "get", "patch"}
    )
    [found] = [m for m in manifests if m["kind"] == "KopfPeering"]
    mock.objects[PEERING, NAMESPACE, found["metadata"]["name"]] = {
        **found,
        "metadata": {**found["metadata"], "namespace": NAMESPACE, "resourceVersion": "1"},
    }


class OperatorPod:
    """The operator's pod laid out under `root`."""

    def __init__(self, workload: Manifest, root: Path, environment: Environment) -> None:
        self.template = workload["spec"]["template"]
        [self.container] = self.template["spec"]["containers"]
        self.root = root
        self.environment = environment

    def local(self, pod_path: str) -> Path:
        return self.root / pod_path.lstrip("/")

    def lay_out(self, api_ca: Path) -> None:
        annotations: dict[str, str] = self.template["metadata"]["annotations"]
        pki = self.environment.pki.directory
        secrets = self.local(annotations["vault.hashicorp.com/secret-volume-path"])
        secrets.mkdir(parents=True)
        for file in (
            k.removeprefix(AGENT_SECRET) for k in annotations if k.startswith(AGENT_SECRET)
        ):
            assert file in {"ca.crt", "operator.crt", "operator.key"}, f"unknown agent file {file}"
            shutil.copy(pki / file, secrets / file)
        assert annotations.get("vault.hashicorp.com/agent-inject-token") == "true"
        token = operator_vault(self.environment).token
        (secrets / "token").write_text(f"{token}\n")
        if self.template["spec"].get("automountServiceAccountToken"):
            account = self.local(SERVICE_ACCOUNT)
            account.mkdir(parents=True)
            (account / "token").write_text("a-service-account-token\n")
            shutil.copy(api_ca, account / "ca.crt")
            (account / "namespace").write_text(NAMESPACE)
        volumes = {v["name"]: v for v in self.template["spec"]["volumes"]}
        for mount in self.container["volumeMounts"]:
            volume, target = volumes[mount["name"]], self.local(mount["mountPath"])
            if "emptyDir" in volume:
                target.mkdir(parents=True, exist_ok=True)
            elif volume.get("configMap", {}).get("name") == "vault-ca":
                target.mkdir(parents=True)
                shutil.copy(pki / "ca.crt", target / "ca.crt")
            else:
                raise AssertionError(f"the test cannot lay out volume {mount['name']}")

    def environ(
        self, peers: dict[str, str], api: km.Server, health: str
    ) -> tuple[dict[str, str], set[str]]:
        """The variables to start with, and the names the manifest provides."""
        provided = {v["name"] for v in self.container["env"]}
        mapped: dict[str, str] = {}
        for variable in self.container["env"]:
            name, value = variable["name"], str(variable.get("value", ""))
            field = variable.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if field is not None:
                value = FIELD_REFS[field]
            elif name == "VAULT_ADDR":
                value = self.environment.infrastructure.vault_addr
            elif name == "SUBSIDY_HEALTH_LISTEN":
                value = health
            elif name.endswith("_ADDRESS"):
                value = peers[name.removesuffix("_ADDRESS").lower()]
            elif value.startswith("/"):
                value = str(self.local(value))
            mapped[name] = value
        mapped |= {"KUBERNETES_SERVICE_HOST": api.host, "KUBERNETES_SERVICE_PORT": str(api.port)}
        base = {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
        return {**base, **mapped}, provided


def healthy(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def program(today: dt.date) -> dict[str, Any]:
    definition = yaml.safe_load((PROGRAMS_DIR / f"{PROGRAM}.yaml").read_text(encoding="utf-8"))
    lifecycle = {
        "processingEnd": (today + dt.timedelta(days=60)).isoformat(),
        "contractEnd": (today + dt.timedelta(days=90)).isoformat(),
        "erasureApprovers": [{"name": "危機管理 一郎"}, {"name": "委託 花子"}],
        "handover": {"completed": False},
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": PROGRAM, "namespace": NAMESPACE},
        "spec": {
            "definition": json.loads(json.dumps(definition, default=str)),
            "lifecycle": lifecycle,
        },
    }


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.slow
async def test_the_operator_starts_from_its_pod_and_reads_only_what_the_manifest_provides(
    production: list[Manifest],
    kmock: Emulator,
    api_server: tuple[km.Server, Path],
    environment: Environment,
    addresses: dict[str, str],
    notices: ServiceProcess,
    payments: ServiceProcess,
    tmp_path: Path,
) -> None:
    server, api_ca = api_server
    prepare_kmock(kmock)
    peering(kmock, production)
    [workload] = [w for w in workloads(production) if label_name(w) == "operator"]
    pod = OperatorPod(workload, tmp_path / "pod", environment)
    pod.lay_out(api_ca)
    health = free_address()
    environ, provided = pod.environ(dict(addresses), server, health)
    [command] = pod.container["command"]
    read_file, log = tmp_path / "read.json", tmp_path / "operator.log"
    process = subprocess.Popen(
        [sys.executable, str(HERE / "pod_recorder.py"), str(read_file), entry_point(command)],
        env=environ,
        cwd=pod.local("/tmp"),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while not await asyncio.to_thread(healthy, health):
            assert process.poll() is None and time.monotonic() < deadline, "not serving"
            await asyncio.sleep(0.3)
        probes = {p["httpGet"]["path"] for p in liveness_probes(pod.container)}
        assert probes == {"/healthz"}
        today = ward_today()
        body = program(today)
        expected = phase_on(parse_spec(PROGRAM, body["spec"]), today).value
        await create_over_tls(server, api_ca, body)
        phase = await wait_for(
            lambda: program_object(kmock, PROGRAM).get("status", {}).get("phase"),
            "the program's phase in its status",
        )
        assert phase == expected  # the phase on Japan's date
        files = configmap_data(kmock, PROGRAMS_CONFIGMAP)
        assert files[f"{PROGRAM}.phase"] == f"{expected}\n"
        assert yaml.safe_load(files[f"{PROGRAM}.yaml"])["id"] == PROGRAM
        await wait_for(
            lambda: (
                {rollout_digest(kmock, n) for n in SERVICE_DEPLOYMENTS}
                == {programs_digest(configmap_data(kmock, PROGRAMS_CONFIGMAP))}
            ),
            "every service rolled out",
        )
        requests = [r for r in kmock if r.resource is not None]
        assert requests, "the operator called the API server"
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 60)
        assert code == 0, tail(log)
    except AssertionError as failed:
        calls = "\n".join(f"{r.method} {r.url.path_qs}" for r in kmock)[-3000:]
        raise AssertionError(
            f"{failed}\nthe operator's log:\n{tail(log)}\nits API calls:\n{calls}"
        ) from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    read = set(json.loads(read_file.read_text()))
    assert {"SUBSIDY_SERVICE_ACCOUNT_DIR", "KUBERNETES_SERVICE_HOST"} <= read  # it logged in
    assert "AUTH_ADDRESS" not in read, "the operator never calls the sign-in service"
    unprovided = read - provided - KUBELET - set(OPTIONAL)
    assert not unprovided, (
        f"the operator reads variables its manifest does not provide: {unprovided}"
    )


async def create_over_tls(server: km.Server, ca: Path, body: dict[str, Any]) -> None:
    """POST the object to the API server over TLS, as kubectl would."""
    group, version = API_VERSION.split("/")
    url = f"https://{server.host}:{server.port}/apis/{group}/{version}/namespaces/{NAMESPACE}/{PLURAL}"
    context = ssl.create_default_context(cafile=str(ca))
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, ssl=context) as response,
    ):
        assert response.status < 300, await response.text()


def liveness_probes(container: Manifest) -> list[Manifest]:
    return [
        container[k] for k in ("startupProbe", "livenessProbe", "readinessProbe") if k in container
    ]


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else ""


def entry_point(command: str) -> str:
    scripts = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["scripts"]
    return str(scripts[command])
