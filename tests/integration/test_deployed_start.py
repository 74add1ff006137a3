"""A service in a pod attaches to what the pod holds and provisions nothing (issue 9):
its own database login, its Vault agent's token file, the mTLS files and the staff-token
verification key under the state folder; a missing piece is an error naming it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import hvac
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from subsidy_platform.config import Settings
from subsidy_platform.db import database_url_for
from subsidy_platform.deployed import NotDeployable, attach, is_deployed
from subsidy_platform.embedded import Infrastructure
from subsidy_platform.runtime import Environment
from subsidy_platform.tls import channel_credentials, client_identity, ensure_pki
from subsidy_platform.tokens import PUBLIC_KEY_FILE, ensure_signing_key


def pod_state(folder: Path, token: str) -> dict[str, str]:
    """A state folder laid out as the Vault agent renders it, and the pod's variables."""
    ensure_pki(folder, ["intake"])
    ensure_signing_key(folder)
    (folder / "pki" / "token-signing-key.pem").unlink()
    (folder / "pki" / "token").write_text(token + "\n")
    return {"SUBSIDY_VAULT_TOKEN_FILE": str(folder / "pki" / "token")}


def settings_for(folder: Path, infrastructure: Infrastructure) -> Settings:
    return Settings(
        state_dir=folder,
        database_url=database_url_for(infrastructure.database_url, "svc_intake"),
        vault_addr=infrastructure.vault_addr,
        vault_token=None,
        otel_endpoint=None,
    )


def test_a_pod_attaches_with_its_own_token_and_files(
    tmp_path: Path, infrastructure: Infrastructure, vault_tokens: dict[str, str]
) -> None:
    environ = pod_state(tmp_path, vault_tokens["intake"])
    assert is_deployed(environ) and not is_deployed({})
    environment = attach(settings_for(tmp_path, infrastructure), "intake", environ)
    client = environment.vault_client("intake")
    assert client.auth.token.lookup_self()["data"]["policies"] == ["subsidy-intake"]
    assert environment.infrastructure.vault_admin_token == ""
    assert environment.pki.certificate("intake").startswith(b"-----BEGIN CERTIFICATE-----")
    assert not (tmp_path / "vault-tokens").exists(), "no token was minted"


def test_the_token_file_is_read_again_for_each_client(
    tmp_path: Path, infrastructure: Infrastructure, vault_tokens: dict[str, str]
) -> None:
    environ = pod_state(tmp_path, vault_tokens["intake"])
    environment = attach(settings_for(tmp_path, infrastructure), "intake", environ)
    (tmp_path / "pki" / "token").write_text(vault_tokens["review"] + "\n")
    policies = environment.vault_client("intake").auth.token.lookup_self()["data"]["policies"]
    assert policies == ["subsidy-review"]


def test_the_pods_token_cannot_provision(
    tmp_path: Path, infrastructure: Infrastructure, vault_tokens: dict[str, str]
) -> None:
    environ = pod_state(tmp_path, vault_tokens["intake"])
    client = attach(settings_for(tmp_path, infrastructure), "intake", environ).vault_client(
        "intake"
    )
    with pytest.raises(hvac.exceptions.Forbidden):
        client.sys.create_or_update_policy("subsidy-intake", 'path "*" { capabilities = ["sudo"] }')


@pytest.mark.parametrize(
    "missing", ["token", "ca.crt", "intake.crt", "intake.key", PUBLIC_KEY_FILE]
)
def test_a_missing_file_is_named_before_anything_starts(
    tmp_path: Path, infrastructure: Infrastructure, vault_tokens: dict[str, str], missing: str
) -> None:
    environ = pod_state(tmp_path, vault_tokens["intake"])
    (tmp_path / "pki" / missing).unlink()
    with pytest.raises(NotDeployable, match=missing):
        attach(settings_for(tmp_path, infrastructure), "intake", environ)


def test_an_empty_token_file_or_no_database_is_refused(
    tmp_path: Path, infrastructure: Infrastructure
) -> None:
    environ = pod_state(tmp_path, "")
    with pytest.raises(NotDeployable, match="empty token file"):
        attach(settings_for(tmp_path, infrastructure), "intake", environ)
    no_database = Settings(tmp_path, None, infrastructure.vault_addr, None, None)
    with pytest.raises(NotDeployable, match="DATABASE_URL"):
        attach(no_database, "intake", environ)


def test_the_intake_process_serves_from_a_pod_layout_and_answers_plaintext_probes(
    tmp_path: Path, environment: Environment
) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    for name in ("ca.crt", "intake.crt", "intake.key", PUBLIC_KEY_FILE):
        shutil.copy(environment.pki.directory / name, pki / name)
    (pki / "token").write_text(environment.vault_tokens["intake"] + "\n")
    port, health_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VAULT_TOKEN", "DATABASE_URL", "VAULT_ADDR"}
    }
    env |= {
        "SUBSIDY_STATE_DIR": str(tmp_path),
        "DATABASE_URL": database_url_for(environment.infrastructure.database_url, "svc_intake"),
        "VAULT_ADDR": environment.infrastructure.vault_addr,
        "SUBSIDY_VAULT_TOKEN_FILE": str(pki / "token"),
        "INTAKE_LISTEN": f"127.0.0.1:{port}",
        "SUBSIDY_HEALTH_LISTEN": f"127.0.0.1:{health_port}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "subsidy_intake.main"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{health_port}") as probe:
            health = health_pb2_grpc.HealthStub(probe)
            deadline = time.monotonic() + 90
            while True:
                try:
                    answer = health.Check(
                        health_pb2.HealthCheckRequest(service="subsidy.intake.v1.IntakeService"),
                        timeout=2,
                    )
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, (
                    process.stderr.read().decode() if process.stderr else ""
                )
                time.sleep(0.3)
        credentials = channel_credentials(environment.pki, client_identity("console"))
        with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=5
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(f"127.0.0.1:{port}") as plaintext, pytest.raises(grpc.RpcError):
            health_pb2_grpc.HealthStub(plaintext).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=3
            )
        assert not (tmp_path / "vault-tokens").exists(), "the process minted no token"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
