"""The operator's in-cluster login: the pod's service-account folder and the API server the
kubelet names; the token is read again at each login (it rotates); the namespace from the
folder when none is set; the peers' addresses are the declared services' alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from subsidy_operator import main


def account(folder: Path, token: str = "first-token") -> dict[str, str]:
    folder.mkdir(exist_ok=True)
    (folder / "token").write_text(f"{token}\n")
    (folder / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (folder / "namespace").write_text("subsidy")
    return {
        "SUBSIDY_SERVICE_ACCOUNT_DIR": str(folder),
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }


def test_a_pod_logs_in_with_its_service_account_and_reads_the_token_at_each_login(
    tmp_path: Path,
) -> None:
    environ = account(tmp_path / "sa")
    login = main.cluster_login(environ)
    first = login()
    assert first is not None
    assert first.server == "https://10.96.0.1:443"
    assert first.token == "first-token"
    assert first.ca_path == str(tmp_path / "sa" / "ca.crt")
    assert first.default_namespace == "subsidy"
    (tmp_path / "sa" / "token").write_text("rotated-token\n")
    second = login()
    assert second is not None and second.token == "rotated-token"


def test_an_ipv6_api_server_is_bracketed_and_no_host_means_no_pod() -> None:
    assert main.api_server({"KUBERNETES_SERVICE_HOST": "fd00::1"}) == "https://[fd00::1]:443"
    assert main.api_server({}) is None


def test_without_the_kubelet_s_address_the_kubeconfig_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = account(tmp_path / "sa")
    del environ["KUBERNETES_SERVICE_HOST"]
    used: list[str] = []
    monkeypatch.setattr(main.kopf, "login_with_kubeconfig", lambda **_: used.append("kube"))
    assert main.cluster_login(environ)() is None
    assert used == ["kube"]


def test_the_namespace_comes_from_the_setting_then_the_service_account(tmp_path: Path) -> None:
    environ = account(tmp_path / "sa")
    assert main.namespace_from_env(environ) == "subsidy"
    assert main.namespace_from_env({**environ, "SUBSIDY_NAMESPACE": "ward"}) == "ward"


def test_the_operator_reads_no_address_of_the_sign_in_service() -> None:
    read: list[str] = []

    class Recording(dict[str, str]):
        def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
            read.append(key)
            return super().get(key, default)

    addresses = main.peer_addresses(Recording())
    assert "auth" not in addresses and {"intake", "review", "payments", "notices"} <= set(addresses)
    assert "AUTH_ADDRESS" not in read
