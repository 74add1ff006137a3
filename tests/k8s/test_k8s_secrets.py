"""Secrets and TLS material come only from Vault (issue 9): no Secret object, no key or
token in any manifest, ConfigMap or the image definition; each workload's Vault role binds
its own service account to the policy files of the embedded default; PostgreSQL is a
CloudNativePG cluster with a synchronous standby, backups and one role per service."""

from __future__ import annotations

import re
import subprocess

import pytest
from k8s_support import K8S, OVERLAYS, REPOSITORY, Manifest, label_name, of_kind, workloads

from subsidy_platform.db import service_roles
from subsidy_platform.declaration import declarations

KEY_MATERIAL = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bhvs\.[A-Za-z0-9_-]{20,}"),  # Vault service tokens
    re.compile(r"\bs\.[A-Za-z0-9]{24}\b"),  # legacy Vault tokens
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access keys
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\."),  # JWTs (service-account tokens)
    re.compile(
        r"(?i)\b(password|passwd|secret|token)\s*[:=]\s*['\"]?[A-Za-z0-9+_-]{12,}['\"]?\s*$", re.M
    ),
]


def leaks(text: str) -> list[str]:
    return [pattern.pattern for pattern in KEY_MATERIAL if pattern.search(text)]


def test_the_leak_patterns_find_a_private_key_a_vault_token_and_a_password() -> None:
    assert leaks("-----BEGIN EC PRIVATE KEY-----\nMHc...")
    assert leaks("VAULT_TOKEN: hvs.CAESIJq0123456789abcdefghijk")
    assert leaks("password: Sup3rSecretValue99")
    assert not leaks("password: $__file{/vault/secrets/audit-db-password}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_object_exists_and_no_manifest_carries_key_material(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    assert of_kind(docs, "Secret") == []
    for doc in of_kind(docs, "ConfigMap"):
        for key, value in {**doc.get("data", {}), **doc.get("binaryData", {})}.items():
            assert not leaks(str(value)), f"ConfigMap {doc['metadata']['name']} / {key}"
    for workload in workloads(docs):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                assert "valueFrom" not in variable or "secretKeyRef" not in variable["valueFrom"]
                assert not leaks(f"{variable['name']}={variable.get('value', '')}")


def test_no_file_under_k8s_or_the_image_definition_carries_key_material() -> None:
    files = [p for p in K8S.rglob("*") if p.is_file()]
    assert len(files) > 20
    for path in files:
        assert not leaks(path.read_text(errors="replace")), path


def test_every_grpc_workload_gets_its_certificate_and_token_from_the_vault_agent(
    production: list[Manifest],
) -> None:
    services = [
        w
        for w in workloads(production)
        if w["metadata"]["labels"].get("app.kubernetes.io/component") == "grpc-service"
    ]
    for workload in services:
        name = label_name(workload)
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["vault.hashicorp.com/agent-inject"] == "true"
        assert annotations["vault.hashicorp.com/role"] == f"subsidy-{name}"
        for file in ("ca.crt", f"{name}.crt", f"{name}.key", "token-signing-key.pub", "pgpass"):
            assert f"vault.hashicorp.com/agent-inject-secret-{file}" in annotations
        private = "vault.hashicorp.com/agent-inject-secret-token-signing-key.pem" in annotations
        assert private == (name == "auth"), "only the sign-in service holds the signing key"
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        [token] = [
            v
            for v in pod["volumes"]
            if v["name"]
            == annotations["vault.hashicorp.com/agent-service-account-token-volume-name"]
        ]
        [source] = token["projected"]["sources"]
        assert source["serviceAccountToken"]["audience"] == "vault"
        for container in pod["containers"]:
            assert "vault-token" not in {m["name"] for m in container["volumeMounts"]}


def _vault_roles() -> dict[str, dict[str, str]]:
    script = (K8S / "vault" / "kubernetes-auth.sh").read_text().replace("\\\n", " ")
    roles = {}
    for line in script.splitlines():
        match = re.match(r"vault write auth/kubernetes/role/(\S+) (.*)", line)
        if match:
            roles[match[1]] = dict(part.split("=", 1) for part in match[2].split())
    return roles


def test_each_service_account_is_bound_to_its_own_policies_from_the_policy_files() -> None:
    roles = _vault_roles()
    policy_files = {f"subsidy-{p.stem}" for p in (K8S / "vault" / "policies").glob("*.hcl")}
    for name in ("auth", *declarations(), "operator"):
        role = roles[f"subsidy-{name}"]
        assert role["bound_service_account_names"] == name
        assert role["bound_service_account_namespaces"] == "subsidy"
        assert role["audience"] == "vault"
        assert role["token_no_default_policy"] == "true"
        policies = role["token_policies"].split(",")
        transit = [p for p in policies if not p.endswith("-identity")]
        assert transit and set(transit) <= policy_files
    for name in declarations():
        assert roles[f"subsidy-{name}"]["token_policies"].split(",")[0] == f"subsidy-{name}"
    assert (
        roles["subsidy-operator"]["token_policies"]
        == "subsidy-key-admin,subsidy-program-publisher,subsidy-operator-identity"
    )
    assert roles["subsidy-auth"]["token_policies"].startswith("subsidy-audit-checkpoint")


def test_the_vault_script_is_valid_shell() -> None:
    result = subprocess.run(["sh", "-n", str(K8S / "vault" / "kubernetes-auth.sh")], check=False)
    assert result.returncode == 0


def test_postgres_has_three_instances_a_synchronous_standby_and_backups(
    production: list[Manifest],
) -> None:
    [cluster] = of_kind(production, "Cluster")
    spec = cluster["spec"]
    assert spec["instances"] == 3
    synchronous = spec["postgresql"]["synchronous"]
    assert synchronous["number"] >= 1 and synchronous["dataDurability"] == "required"
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://") and store["wal"]["encryption"]
    assert store["s3Credentials"] == {"inheritFromIAMRole": True}
    [backup] = of_kind(production, "ScheduledBackup")
    assert backup["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert backup["spec"]["method"] == "barmanObjectStore"
    assert spec["enableSuperuserAccess"] is False


def test_every_service_has_its_own_managed_database_role_without_a_password_in_kubernetes(
    production: list[Manifest],
) -> None:
    [cluster] = of_kind(production, "Cluster")
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    assert set(service_roles().values()) <= set(roles)
    for role in roles.values():
        assert "passwordSecret" not in role and not role.get("superuser")


def test_every_service_connects_through_the_read_write_service_as_its_own_role(
    production: list[Manifest],
) -> None:
    for workload in workloads(production):
        if workload["metadata"]["labels"].get("app.kubernetes.io/component") != "grpc-service":
            continue
        [container] = workload["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        name = label_name(workload)
        assert env["DATABASE_URL"].startswith(f"postgresql+psycopg://svc_{name}@subsidy-db-rw.")
        assert ":" not in env["DATABASE_URL"].split("//", 1)[1].split("@", 1)[0]


def test_the_repository_holds_no_kubernetes_secret_manifest() -> None:
    for path in REPOSITORY.joinpath("k8s").rglob("*.yaml"):
        assert not re.search(r"^kind:\s*Secret\s*$", path.read_text(), re.M), path


def _policies() -> dict[str, dict[str, set[str]]]:
    """Policy name -> path -> capabilities, from the policy files and the script's heredocs."""
    documents = {
        f"subsidy-{p.stem}": p.read_text() for p in (K8S / "vault" / "policies").glob("*.hcl")
    }
    script = (K8S / "vault" / "kubernetes-auth.sh").read_text()
    for match in re.finditer(r"vault policy write (\S+) - <<'EOF'\n(.*?)\nEOF", script, re.S):
        documents[match[1]] = match[2]
    return {
        name: {
            path: set(re.findall(r'"(\w+)"', capabilities))
            for path, capabilities in re.findall(
                r'path "([^"]+)" \{\s*capabilities = \[([^\]]*)\]', document
            )
        }
        for name, document in documents.items()
    }


def _granted(rules: dict[str, set[str]], path: str, capability: str) -> bool:
    for pattern, capabilities in rules.items():
        regex = re.escape(pattern).replace(r"\+", "[^/]+")
        regex = regex[:-2] + ".*" if pattern.endswith("*") else regex
        if re.fullmatch(regex, path) and capability in capabilities:
            return True
    return False


def _agent_reads(annotations: dict[str, str]) -> set[tuple[str, str]]:
    """(Vault path, capability) of every secret and certificate the Vault agent renders."""
    reads = set()
    for key, value in annotations.items():
        if key.startswith("vault.hashicorp.com/agent-inject-template-"):
            for path in re.findall(r'pkiCert "([^"]+)"', value):
                reads.add((path, "update"))
            for path in re.findall(r'secret "([^"]+)"', value):
                reads.add((path, "read"))
    return reads


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_path_a_vault_agent_reads_is_granted_by_its_roles_policies(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    roles, policies = _vault_roles(), _policies()
    checked = set()
    for workload in workloads(rendered[overlay]):
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("vault.hashicorp.com/agent-inject") != "true":
            continue
        role = roles[annotations["vault.hashicorp.com/role"]]
        rules: dict[str, set[str]] = {}
        for policy in role["token_policies"].split(","):
            assert policy in policies, f"{policy} is written by no file and no script line"
            rules.update(policies[policy])
        reads = _agent_reads(annotations)
        assert reads, workload["metadata"]["name"]
        for path, capability in reads:
            assert _granted(rules, path, capability), (workload["metadata"]["name"], path)
        checked.add(label_name(workload))
    assert {"operator", "auth", *declarations()} <= checked


def test_the_operators_pki_role_issues_client_certificates_for_its_name_alone() -> None:
    script = (K8S / "vault" / "kubernetes-auth.sh").read_text().replace("\\\n", " ")
    [line] = [
        line
        for line in script.splitlines()
        if line.startswith("vault write pki/roles/subsidy-operator ")
    ]
    settings = dict(part.split("=", 1) for part in line.split()[3:])
    assert settings["allowed_domains"] == "operator"
    assert (settings["server_flag"], settings["client_flag"]) == ("false", "true")
    assert settings["allow_subdomains"] == "false" and settings["allow_ip_sans"] == "false"


def test_the_operator_trusts_vault_through_the_ca_every_workload_mounts(
    production: list[Manifest],
) -> None:
    [operator] = [w for w in workloads(production) if label_name(w) == "operator"]
    annotations = operator["spec"]["template"]["metadata"]["annotations"]
    [container] = operator["spec"]["template"]["spec"]["containers"]
    env = {v["name"]: v.get("value") for v in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in operator["spec"]["template"]["spec"]["volumes"]}
    assert env["VAULT_CACERT"] == annotations["vault.hashicorp.com/ca-cert"] == "/vault/tls/ca.crt"
    assert volumes[mounts["/vault/tls"]]["configMap"]["name"] == "vault-ca"
    services = [w for w in workloads(production) if label_name(w) == "intake"]
    [intake] = [c for w in services for c in w["spec"]["template"]["spec"]["containers"]]
    assert env["VAULT_ADDR"] == {v["name"]: v.get("value") for v in intake["env"]}["VAULT_ADDR"]
