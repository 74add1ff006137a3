"""The operator's own manifests (k8s/base/operator), rendered on their own: valid against the
Kubernetes schemas, two locked-down replicas, and a Role that can delete nothing."""

from __future__ import annotations

import kubernetes_validate
from k8s_support import K8S, KUBERNETES_VERSION, render


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
