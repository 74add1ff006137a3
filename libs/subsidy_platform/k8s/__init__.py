"""Kubernetes manifests generated from the service declarations (issue 9).

`python -m subsidy_platform.k8s` writes the parts of `k8s/` that follow from what the
services declare, so that a new service or a new call between services cannot reach a
cluster without its workload, its network policy and its Vault role:

- `k8s/base/services.yaml`: per service a ServiceAccount, Service, Deployment and
  PodDisruptionBudget (`workloads`);
- `k8s/base/network-policies.yaml`: default deny in and out, then exactly the edges of
  `topology.allowed_edges` (`network`);
- `k8s/vault/kubernetes-auth.sh`: the Vault Kubernetes-auth roles binding each service
  account to its policy files in `k8s/vault/policies/` (`vault_roles`).

`--check` compares the committed files with the generation and exits 1 naming the stale
ones (the unit tests do the same).
"""
