"""The operator's own manifests (k8s/base/operator), rendered on their own: valid against the
Kubernetes schemas, two locked-down replicas, a Role that can delete nothing and patch only
the two ConfigMaps and the services' Deployments it writes, by name; every service mounts
the programs it publishes."""

from __future__ import annotations

import kubernetes_validate
from k8s_support import K8S, KUBERNETES_VERSION, Manifest, label_name, render, workloads
from subsidy_operator.manifests import CERTIFICATES_CONFIGMAP, PROGRAMS_CONFIGMAP

from subsidy_platform.k8s.topology import service_ports


def test_the_kustomized_operator_is_valid_against_the_kubernetes_schemas() -> None:
    objects = render(K8S / "base" / "operator")
    kinds = {o["kind"] for o in objects}
    assert {"CustomResourceDefinition", "Deployment", "PodDisruptionBudget", "Role"} <= kinds
    assert {"ServiceAccount", "KopfPeering", "PodDisruptionBudget"} <= kinds
    for resource in objects:
        if resource["kind"] == "KopfPeering":
            continue  # a custom resource: no Kubernetes schema
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] >= 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]) == {"requests", "limits"}
    role = next(o for o in objects if o["kind"] == "Role")
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert not verbs & {"delete", "deletecollection", "update", "*"}


def test_the_operator_may_patch_only_the_objects_it_writes_and_create_none() -> None:
    objects = render(K8S / "base" / "operator")
    role = next(o for o in objects if o["kind"] == "Role")
    made = {
        o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"
    }  # by the base, so the operator needs no create
    assert made == {PROGRAMS_CONFIGMAP, CERTIFICATES_CONFIGMAP}
    for rule in role["rules"]:
        if "configmaps" in rule["resources"]:
            assert set(rule["resourceNames"]) == made and set(rule["verbs"]) == {"get", "patch"}
        if "deployments" in rule["resources"]:
            assert rule["apiGroups"] == ["apps"]
            assert set(rule["resourceNames"]) == set(service_ports())
            assert set(rule["verbs"]) == {"get", "patch"}
        assert "create" not in rule["verbs"] or rule["resources"] == ["events"]


def test_every_service_mounts_the_programs_the_operator_publishes(
    production: list[Manifest],
) -> None:
    services = [
        w
        for w in workloads(production)
        if w["metadata"]["labels"].get("app.kubernetes.io/component") == "grpc-service"
    ]
    assert {label_name(w) for w in services} == set(service_ports())
    for workload in services:
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        [container] = pod["containers"]
        env = {v["name"]: v.get("value") for v in container["env"]}
        [mount] = [
            m for m in container["volumeMounts"] if m["mountPath"] == env["SUBSIDY_PROGRAMS_DIR"]
        ]
        assert mount["readOnly"] is True and "subPath" not in mount  # updated in place
        assert volumes[mount["name"]]["configMap"]["name"] == PROGRAMS_CONFIGMAP
