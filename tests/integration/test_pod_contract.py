"""Each service starts from its pod as the rendered production overlay describes it.

For every gRPC workload (the sign-in service and the four services) the test lays out what
its pod holds: the files its Vault agent renders (named by the agent annotations, under the
agent's secret volume path), the ConfigMaps it mounts (the Vault CA, the programs folder)
and the environment variables of its container, each pod path and cluster address mapped
to this machine. It starts the workload's console script with exactly those variables,
waits for the kubelet's plaintext readiness probe, makes one real call over mutual TLS
that reads the database, and stops it with SIGTERM. Every environment variable the
project's own code read meanwhile must be one the manifest provides, or one of the few
listed below as optional with a documented default: a new read in code without its
manifest line fails here. Values from ConfigMaps are taken from the rendered overlay; the
production overlay's placeholders for the ward's own account (SET-ME) are replaced by the
synthetic account, as the ward replaces them by its own. A file the code needs that no annotation or mount provides fails
the start (the process names it and exits)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from intake_support import Client
from k8s_support import OVERLAYS, REPOSITORY, Manifest, label_name, render, workloads
from subsidy.auth.v1 import auth_pb2, auth_pb2_grpc
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc
from subsidy.review.v1 import review_pb2, review_pb2_grpc
from subsidy_payments.settings import DEFAULTS

from subsidy_platform.db import database_url_for, role_of
from subsidy_platform.k8s.workloads import FONT_IN_IMAGE, PROGRAMS_DIR
from subsidy_platform.process import ServiceProcess
from subsidy_platform.tls import channel_credentials, client_identity
from subsidy_platform.tokens import PUBLIC_KEY_FILE
from subsidy_platform.vault import CHECKPOINT_WRITER
from subsidy_rules.program import PROGRAMS_DIR as SHIPPED_PROGRAMS

HERE = Path(__file__).resolve().parent
AGENT_SECRET = "vault.hashicorp.com/agent-inject-secret-"
OPTIONAL = {
    "VAULT_TOKEN": "a pod's token is the Vault agent's file (SUBSIDY_VAULT_TOKEN_FILE)",
    "SUBSIDY_DRAIN_SECONDS": "25 s, under Kubernetes' default grace period of 30 s",
    "NOTICES_RETENTION_DAYS": "the print data's retention, a documented default",
    "NOTICES_TEMPLATES": "the notice wording shipped with the package",
    "NOTICES_POSTAGE_OFFICE": "the post office each program names in its office.yaml",
    "SIGN_IN_CLIENT_LIMIT": "5 failures of a login from one client block it there",
    "SIGN_IN_CLIENT_TOTAL_LIMIT": "20 failures from one client block the client",
    "SIGN_IN_ACCOUNT_LIMIT": "50 consecutive failures from all clients lock the account",
    "SIGN_IN_LOCKOUT_MINUTES": "15 minutes of lock-out or block",
}
"""Variables the code may read that a pod need not set: name -> the default that applies."""

NOT_MAPPED = {"OTEL_EXPORTER_OTLP_ENDPOINT"}
"""Provided by the manifest, left out here: no collector runs on this machine."""

PLACEHOLDER = "SET-ME"
WARD_FILLS_IN = DEFAULTS
"""What a ward writes over the production overlay's placeholders (synthetic here)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def production() -> list[Manifest]:
    return render(REPOSITORY / "k8s" / "overlays" / OVERLAYS[-1])


def entry_points() -> dict[str, str]:
    pyproject = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    return dict(pyproject["project"]["scripts"])


class Pod:
    """One workload's pod laid out under a folder of this machine."""

    def __init__(
        self,
        workload: Manifest,
        configmaps: dict[str, dict[str, str]],
        root: Path,
        client: Client,
        peers: dict[str, str],
    ):
        self.name = label_name(workload)
        self.configmaps = configmaps
        self.template = workload["spec"]["template"]
        [self.container] = self.template["spec"]["containers"]
        self.root = root
        self.client = client
        self.peers = peers
        self.port = free_port()
        self.health_port = free_port()

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.template["metadata"]["annotations"])

    def local(self, pod_path: str) -> Path:
        return self.root / pod_path.lstrip("/")

    def lay_out(self) -> None:
        environment = self.client.environment
        secrets = self.local(self.annotations["vault.hashicorp.com/secret-volume-path"])
        secrets.mkdir(parents=True)
        contents: dict[str, Callable[[], bytes]] = {
            "ca.crt": lambda: (environment.pki.directory / "ca.crt").read_bytes(),
            f"{self.name}.crt": lambda: (
                environment.pki.directory / f"{self.name}.crt"
            ).read_bytes(),
            f"{self.name}.key": lambda: (
                environment.pki.directory / f"{self.name}.key"
            ).read_bytes(),
            PUBLIC_KEY_FILE: lambda: (environment.pki.directory / PUBLIC_KEY_FILE).read_bytes(),
            "token-signing-key.pem": lambda: (
                environment.pki.directory / "token-signing-key.pem"
            ).read_bytes(),
            "pgpass": lambda: b"",  # the embedded PostgreSQL trusts its local logins
        }
        rendered = [
            k.removeprefix(AGENT_SECRET) for k in self.annotations if k.startswith(AGENT_SECRET)
        ]
        for file in rendered:
            assert file in contents, f"{self.name}: the test knows no content for {file}"
            (secrets / file).write_bytes(contents[file]())
        if self.annotations.get("vault.hashicorp.com/agent-inject-token") == "true":
            token = environment.vault_tokens[
                CHECKPOINT_WRITER if self.name == "auth" else self.name
            ]
            (secrets / "token").write_text(token + "\n")
        for mount in self.container["volumeMounts"]:
            self.mount(mount)

    def mount(self, mount: Manifest) -> None:
        volumes = {v["name"]: v for v in self.template["spec"]["volumes"]}
        volume = volumes[mount["name"]]
        target = self.local(mount["mountPath"])
        if "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
        elif volume.get("configMap", {}).get("name") == "vault-ca":
            target.mkdir(parents=True)
            shutil.copy(self.client.environment.pki.directory / "ca.crt", target / "ca.crt")
        elif mount["mountPath"] == PROGRAMS_DIR:
            shutil.copytree(SHIPPED_PROGRAMS, target)  # what the operator publishes
        else:
            raise AssertionError(f"{self.name}: the test cannot lay out volume {mount['name']}")

    def environ(self) -> tuple[dict[str, str], set[str]]:
        """The variables to start with, and the names the manifest provides."""
        provided = {v["name"] for v in self.container["env"]}
        infrastructure = self.client.environment.infrastructure
        mapped: dict[str, str] = {}
        for variable in self.container["env"]:
            name, value = variable["name"], str(variable.get("value", ""))
            reference = variable.get("valueFrom", {}).get("configMapKeyRef")
            if reference is not None:
                value = self.configmaps[reference["name"]][reference["key"]]
                value = WARD_FILLS_IN.get(name, value) if value == PLACEHOLDER else value
            if name in NOT_MAPPED:
                continue
            if name == "DATABASE_URL":
                value = database_url_for(infrastructure.database_url, role_of(self.name))
            elif name == "VAULT_ADDR":
                value = infrastructure.vault_addr
            elif name == f"{self.name.upper()}_LISTEN":
                value = f"127.0.0.1:{self.port}"
            elif name == "SUBSIDY_HEALTH_LISTEN":
                value = f"127.0.0.1:{self.health_port}"
            elif name.endswith("_ADDRESS"):
                value = self.peers[name.removesuffix("_ADDRESS").lower()]
            elif value == FONT_IN_IMAGE:
                value = str(Path(sys.prefix) / "share" / "subsidy-fonts" / "ipaexg.ttf")
            elif value.startswith("/") and value != "/tmp":
                value = str(self.local(value))
            mapped[name] = value
        base = {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
        return {**base, **mapped}, provided


def wait_ready(pod: Pod, process: subprocess.Popen[bytes], service: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{pod.health_port}") as probe:
        health = health_pb2_grpc.HealthStub(probe)
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"{pod.name} did not become ready:\n{error[-3000:]}")
            time.sleep(0.3)


def one_real_call(pod: Pod, channel: grpc.Channel) -> None:
    """A call that reads the service's own tables, as the staff role that may make it."""
    staff = pod.client.staff
    if pod.name == "auth":
        with pytest.raises(grpc.RpcError) as refused:
            auth_pb2_grpc.AuthServiceStub(channel).SignIn(
                auth_pb2.SignInRequest(login="nobody-pod-contract", password="not-the-password"),
                timeout=30,
            )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    elif pod.name == "intake":
        with pytest.raises(grpc.RpcError) as missing:
            intake_pb2_grpc.IntakeServiceStub(channel).GetTimeline(
                intake_pb2.GetTimelineRequest(application_number="S2025-999999"),
                metadata=staff("call_center"),
                timeout=30,
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    elif pod.name == "review":
        with pytest.raises(grpc.RpcError) as missing:
            review_pb2_grpc.ReviewServiceStub(channel).GetCase(
                review_pb2.GetCaseRequest(application_number="S2025-999999"),
                metadata=staff("checker"),
                timeout=30,
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    elif pod.name == "payments":
        listed = payments_pb2_grpc.PaymentsServiceStub(channel).ListInstructions(
            payments_pb2.ListInstructionsRequest(program_id="shinjuku-2025", limit=1),
            metadata=staff("payments_officer"),
            timeout=30,
        )
        assert len(listed.instructions) <= 1
    elif pod.name == "notices":
        found = notices_pb2_grpc.NoticesServiceStub(channel).GetNotices(
            notices_pb2.GetNoticesRequest(application_number="S2025-999999"),
            metadata=staff("call_center"),
            timeout=30,
        )
        assert list(found.notices) == []
    else:
        raise AssertionError(f"no real call is known for {pod.name}")


@pytest.fixture(scope="module")
def peers(
    addresses: dict[str, str],
    auth: ServiceProcess,
    intake: Client,
    review: ServiceProcess,
    payments: ServiceProcess,
    notices: ServiceProcess,
) -> Iterator[dict[str, str]]:
    """The session's running services stand for each pod's peers."""
    yield {
        "auth": auth.address,
        "intake": f"localhost:{intake.process.port}",
        "review": review.address,
        "payments": payments.address,
        "notices": notices.address,
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ["auth", "intake", "review", "payments", "notices"])
def test_each_service_starts_from_its_pod_and_reads_only_what_the_manifest_provides(
    production: list[Manifest],
    intake: Client,
    peers: dict[str, str],
    tmp_path: Path,
    name: str,
) -> None:
    [workload] = [w for w in workloads(production) if label_name(w) == name]
    configmaps = {
        d["metadata"]["name"]: dict(d.get("data") or {})
        for d in production
        if d["kind"] == "ConfigMap"
    }
    pod = Pod(workload, configmaps, tmp_path / "pod", intake, peers)
    pod.lay_out()
    environ, provided = pod.environ()
    command = pod.container["command"][0]
    target = entry_points()[command]
    read_file = tmp_path / "read.json"
    process = subprocess.Popen(
        [sys.executable, str(HERE / "pod_recorder.py"), str(read_file), target],
        env=environ,
        cwd=pod.local("/tmp") if (pod.local("/tmp")).is_dir() else tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        readiness: dict[str, Any] = pod.container["readinessProbe"]["grpc"]
        wait_ready(pod, process, readiness.get("service", ""))
        credentials = channel_credentials(intake.environment.pki, client_identity("console"))
        with grpc.secure_channel(f"localhost:{pod.port}", credentials) as channel:
            one_real_call(pod, channel)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    read = set(json.loads(read_file.read_text()))
    assert "SUBSIDY_VAULT_TOKEN_FILE" in read  # it ran as a pod, attaching, not provisioning
    unprovided = read - provided - set(OPTIONAL)
    assert not unprovided, f"{name} reads variables its manifest does not provide: {unprovided}"
