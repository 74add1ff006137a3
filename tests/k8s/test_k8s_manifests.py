"""Every object of each overlay is valid Kubernetes, every custom resource matches its CRD's
schema, and every workload is locked down and redundant (issue 9, "Tests")."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import k8s_support
import kubernetes_validate
import pytest
import yaml
from k8s_support import (
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    Manifest,
    containers,
    label_name,
    of_kind,
    render,
    workloads,
)

JAPANESE_REGIONS = {"ap-northeast-1", "ap-northeast-3"}
BUILT_IN_GROUPS = {
    "",
    "apps",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "coordination.k8s.io",
    "apiextensions.k8s.io",
    "batch",
    "events.k8s.io",
}


def group_of(doc: Manifest) -> str:
    api = str(doc["apiVersion"])
    return api.split("/")[0] if "/" in api else ""


def closed(schema: Any) -> Any:
    """The schema with every object that lists properties closed to other keys."""
    if isinstance(schema, dict):
        result = {k: closed(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
        if "properties" in schema and "additionalProperties" not in schema:
            result["additionalProperties"] = False
        return result
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


def with_object_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """The root schema with the fields the API server gives every object (apiVersion, kind,
    metadata), which a CRD need not list."""
    properties = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        **schema.get("properties", {}),
    }
    return {**schema, "properties": properties}


def crd_schemas(docs: list[Manifest]) -> dict[tuple[str, str, str], Any]:
    """(group, version, kind) -> schema, from k8s/crds/ and the CRDs among `docs`."""
    crds = [yaml.safe_load(p.read_text()) for p in sorted((K8S / "crds").glob("*.yaml"))]
    crds += of_kind(docs, "CustomResourceDefinition")
    found = {}
    for crd in crds:
        spec = crd["spec"]
        for version in spec["versions"]:
            found[(spec["group"], version["name"], spec["names"]["kind"])] = closed(
                with_object_fields(version["schema"]["openAPIV3Schema"])
            )
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_built_in_object_is_valid_against_the_kubernetes_schema_strictly(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    checked = 0
    for doc in rendered[overlay]:
        if group_of(doc) not in BUILT_IN_GROUPS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']}: {error.message} at {list(error.path)}"
            )
        checked += 1
    assert checked >= 30


def test_the_kubernetes_validator_refuses_an_unknown_field() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "template": {"spec": {"containers": []}}, "replicaz": 2},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_custom_resource_matches_its_crd_schema(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    schemas = crd_schemas(docs)
    custom = [d for d in docs if group_of(d) not in BUILT_IN_GROUPS]
    assert {d["kind"] for d in custom} >= {"Cluster", "ScheduledBackup"}
    for doc in custom:
        group, version = str(doc["apiVersion"]).split("/")
        schema = schemas.get((group, version, doc["kind"]))
        assert schema is not None, f"no CRD schema for {doc['apiVersion']} {doc['kind']}"
        jsonschema.validate(doc, schema)


def test_the_recovery_cluster_matches_the_crd_schema_and_names_a_target_time() -> None:
    schemas = crd_schemas([])
    for path in sorted((K8S / "recovery").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        jsonschema.validate(doc, schemas[("postgresql.cnpg.io", "v1", doc["kind"])])
        assert doc["spec"]["bootstrap"]["recovery"]["recoveryTarget"]["targetTime"]


def test_a_misspelt_field_of_a_custom_resource_is_refused(production: list[Manifest]) -> None:
    [cluster] = of_kind(production, "Cluster")
    broken = copy.deepcopy(cluster)
    broken["spec"]["postgresql"]["synchronous"]["numbr"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, crd_schemas([])[("postgresql.cnpg.io", "v1", "Cluster")])


def hardening_problems(workload: Manifest) -> list[str]:
    """What a workload lacks of the hardening every pod must have."""
    name = f"{workload['kind']}/{workload['metadata']['name']}"
    pod = workload["spec"]["template"]["spec"]
    pod_security = pod.get("securityContext", {})
    problems = []
    for container in containers(workload):
        where = f"{name}/{container['name']}"
        security = container.get("securityContext", {})
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe not in container:
                problems.append(f"{where}: no {probe}")
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(bound, {})):
                problems.append(f"{where}: no cpu/memory {bound}")
        if not security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
            problems.append(f"{where}: may run as root")
        if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
            problems.append(f"{where}: runs as uid 0")
        if security.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: writable root file system")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: privilege escalation allowed")
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            problems.append(f"{where}: capabilities not all dropped")
        if security.get("capabilities", {}).get("add"):
            problems.append(f"{where}: adds capabilities")
        seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
        if seccomp.get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccomp is not RuntimeDefault")
        image = str(container["image"])
        if "@sha256:" not in image and (
            ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        ):
            problems.append(f"{where}: image not pinned ({image})")
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        problems.append(f"{name}: shares a host namespace")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_probes_bounds_and_a_locked_down_container(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    found = workloads(rendered[overlay])
    assert len(found) >= 6
    assert [p for w in found for p in hardening_problems(w)] == []


def test_the_hardening_check_finds_a_root_container_without_probes(
    production: list[Manifest],
) -> None:
    workload = copy.deepcopy(workloads(production)[0])
    container = workload["spec"]["template"]["spec"]["containers"][0]
    del container["readinessProbe"]
    container["securityContext"] = {"runAsUser": 0}
    container["image"] = "python:latest"
    problems = " ".join(hardening_problems(workload))
    for missing in (
        "readinessProbe",
        "uid 0",
        "writable root",
        "escalation",
        "dropped",
        "not pinned",
    ):
        assert missing in problems


def _selects(selector: Manifest, labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_a_disruption_budget(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    budgets = of_kind(rendered[overlay], "PodDisruptionBudget")
    for workload in workloads(rendered[overlay]):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(_selects(b["spec"]["selector"], labels) for b in budgets), workload["metadata"][
            "name"
        ]


def test_production_runs_every_workload_twice_spread_over_nodes_and_zones_in_japan(
    production: list[Manifest],
) -> None:
    for workload in workloads(production):
        name = workload["metadata"]["name"]
        spec = workload["spec"]
        assert spec.get("replicas", 1) >= 2, name
        pod = spec["template"]["spec"]
        keys = {c["topologyKey"] for c in pod.get("topologySpreadConstraints", [])}
        anti = pod.get("affinity", {}).get("podAntiAffinity", {})
        anti_keys = {
            t["topologyKey"] for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        }
        assert {"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= keys | anti_keys, name
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ]
        for term in terms:
            [region] = [
                e for e in term["matchExpressions"] if e["key"] == "topology.kubernetes.io/region"
            ]
            assert region["operator"] == "In" and set(region["values"]) <= JAPANESE_REGIONS, name


def test_production_postgres_is_pinned_to_japan_across_zones(production: list[Manifest]) -> None:
    [cluster] = of_kind(production, "Cluster")
    affinity = cluster["spec"]["affinity"]
    assert affinity["podAntiAffinityType"] == "required"
    assert affinity["topologyKey"] == "topology.kubernetes.io/zone"
    [term] = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    [region] = [e for e in term["matchExpressions"] if e["key"] == "topology.kubernetes.io/region"]
    assert set(region["values"]) <= JAPANESE_REGIONS


def _uses_the_kubernetes_api(workload: Manifest, docs: list[Manifest]) -> bool:
    account = workload["spec"]["template"]["spec"].get("serviceAccountName", "default")
    bindings = of_kind(docs, "RoleBinding") + of_kind(docs, "ClusterRoleBinding")
    return any(
        s.get("kind") == "ServiceAccount" and s.get("name") == account
        for b in bindings
        for s in b.get("subjects", [])
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_pod_mounts_an_api_token_unless_its_account_is_granted_api_access(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    accounts = {a["metadata"]["name"]: a for a in of_kind(docs, "ServiceAccount")}
    for workload in workloads(docs):
        pod = workload["spec"]["template"]["spec"]
        account = pod.get("serviceAccountName")
        assert account in accounts and account != "default", workload["metadata"]["name"]
        if not _uses_the_kubernetes_api(workload, docs):
            assert pod.get("automountServiceAccountToken") is False, workload["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_has_its_own_service_account(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    names = [
        w["spec"]["template"]["spec"]["serviceAccountName"] for w in workloads(rendered[overlay])
    ]
    assert len(names) == len(set(names))


def test_the_grpc_services_probe_the_health_service_natively(production: list[Manifest]) -> None:
    services = [
        w
        for w in workloads(production)
        if w["metadata"]["labels"].get("app.kubernetes.io/component") == "grpc-service"
    ]
    assert {label_name(w) for w in services} >= {"auth", "intake", "review"}
    for workload in services:
        [container] = containers(workload)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["SUBSIDY_HEALTH_LISTEN"] == f"0.0.0.0:{ports['health']}"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == ports["health"]
        assert container["readinessProbe"]["grpc"]["service"].startswith("subsidy.")


def test_the_namespace_enforces_the_restricted_pod_security_standard(
    production: list[Manifest],
) -> None:
    [namespace] = of_kind(production, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_a_broken_overlay_fails_with_kubectls_message(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(pytest.fail.Exception, match="kubectl kustomize"):
        render(tmp_path)


def test_a_machine_without_kubectl_fails_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(k8s_support.shutil, "which", lambda name: None)
    monkeypatch.setattr(k8s_support, "KUBECTL_FALLBACK", tmp_path / "kubectl")
    with pytest.raises(pytest.fail.Exception, match="kubectl is required"):
        render(K8S / "overlays" / "dev")


EXTERNAL_CONFIGMAPS = {"vault-ca"}
"""ConfigMaps the cluster's Vault installation makes (docs/OPERATIONS.md, prerequisites)."""


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_configmap_a_pod_reads_is_rendered_with_the_keys_it_reads(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    configmaps = {
        d["metadata"]["name"]: set(d.get("data") or {}) for d in docs if d["kind"] == "ConfigMap"
    }
    for workload in workloads(docs):
        pod = workload["spec"]["template"]["spec"]
        for volume in pod.get("volumes", []):
            name = volume.get("configMap", {}).get("name")
            if name and name not in EXTERNAL_CONFIGMAPS:
                assert name in configmaps, (workload["metadata"]["name"], name)
        for container in pod["containers"]:
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("configMapKeyRef")
                if reference is not None:
                    assert reference["key"] in configmaps.get(reference["name"], set()), (
                        workload["metadata"]["name"],
                        variable["name"],
                    )
