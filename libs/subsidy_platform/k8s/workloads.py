"""Per gRPC workload: ServiceAccount, Service, Deployment and PodDisruptionBudget (issue 9).

One image (`topology.IMAGE`) runs every service, chosen by its command (`subsidy-auth`,
`subsidy-<service>`). Each pod:

- runs as the non-root user 10001 with a read-only root file system, every capability
  dropped, no privilege escalation and the RuntimeDefault seccomp profile; `/tmp` and the
  state folder are memory-backed emptyDirs;
- mounts no Kubernetes API token in its container (`automountServiceAccountToken: false`):
  the Vault agent injector's containers alone read a projected, audience-bound
  (`vault`), short-lived token (volume `vault-token`) to log in to Vault's Kubernetes auth
  as the pod's service account; the agent then writes the Vault token, the service's mTLS
  certificate and key and the CA (Vault PKI) under the state folder's `pki/`, renewing
  them while the pod runs, and the staff-token verification key (the sign-in service: the
  signing key) and the libpq passfile of its database login role `svc_<name>` (password
  in the KV secret `subsidy/database/svc_<name>`; `PGPASSFILE`) from the KV secrets `subsidy/token-signing/public` (`private`). No key material is in an image, a ConfigMap or a Secret;
- answers the kubelet's native gRPC probes on the plaintext health-only port 8081
  (`SUBSIDY_HEALTH_LISTEN`; the service port requires mutual TLS, which the kubelet cannot
  present): startup on the overall health; liveness on `subsidy.platform.Liveness`, SERVING
  while the process runs (a PostgreSQL or Vault outage must not restart every pod: the
  process reconnects by itself); readiness on the service's own name, which turns
  NOT_SERVING when the drain starts and while PostgreSQL or Vault does not answer;
- spreads across nodes and zones (topology spread constraints, at most one apart);
- reads its programs (definitions and the phase the operator publishes) from the
  operator's `subsidy-programs` ConfigMap, mounted read-only as `SUBSIDY_PROGRAMS_DIR`
  (updated in place; a changed definition rolls the Deployment out);
- finds its peers at `<peer>.<namespace>.svc.cluster.local:<port>` and the collector at
  `otel-collector:4317`.
"""

from __future__ import annotations

from typing import Any

from subsidy_platform.checkpoints import (
    DEFAULT_INTERVAL,
    DEFAULT_MAX_AGE,
    INTERVAL_VARIABLE,
    MAX_AGE_VARIABLE,
)
from subsidy_platform.declaration import PLATFORM_SERVICES, declarations, peers_of
from subsidy_platform.k8s.topology import (
    COMPONENT_LABEL,
    HEALTH_PORT,
    IMAGE,
    NAME_LABEL,
    NAMESPACE,
    PART_OF,
    SERVICE_COMPONENT,
    service_ports,
)
from subsidy_platform.server import LIVENESS

Manifest = dict[str, Any]

USER_ID = 10001
STATE_DIR = "/var/lib/subsidy"
PROGRAMS_DIR = "/etc/subsidy/programs"
PROGRAMS_CONFIGMAP = "subsidy-programs"
"""The operator's programs ConfigMap (definitions and phases), mounted as the programs folder."""
VAULT_ADDR = "https://vault.vault.svc.cluster.local:8200"
OTEL_ENDPOINT = "http://otel-collector.subsidy.svc.cluster.local:4317"
PKI_MOUNT = "pki"
SIGNING_KEY_PATH = "subsidy/data/token-signing/{half}"
"""KV v2 secrets of the staff-token key pair, field `pem`: `public` (every workload) and
`private` (the sign-in service alone)."""


DATABASE_HOST = "subsidy-db-rw.subsidy.svc.cluster.local"
DATABASE_NAME = "subsidy"
DATABASE_SECRET = "subsidy/data/database/{role}"
"""KV v2 secret of a login role's password (field `password`), rendered as a libpq passfile."""


def database_role(name: str) -> str:
    return f"svc_{name}"


def signing_key_halves(name: str) -> tuple[str, ...]:
    return ("public", "private") if name in PLATFORM_SERVICES else ("public",)


REQUESTS = {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "64Mi"}
LIMITS = {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "256Mi"}


def labels(name: str) -> dict[str, str]:
    return {
        NAME_LABEL: name,
        COMPONENT_LABEL: SERVICE_COMPONENT,
        "app.kubernetes.io/part-of": PART_OF,
    }


def vault_role(name: str) -> str:
    """The Vault Kubernetes-auth role (and PKI role) of a workload."""
    return f"subsidy-{name}"


def command(name: str) -> str:
    return f"subsidy-{name}"


def _address(name: str, port: int) -> str:
    return f"{name}.{NAMESPACE}.svc.cluster.local:{port}"


def _pki_template(name: str, field: str) -> str:
    alt_names = f"{name}.{NAMESPACE}.svc,{name}.{NAMESPACE}.svc.cluster.local"
    return (
        f'{{{{- with pkiCert "{PKI_MOUNT}/issue/{vault_role(name)}" "common_name={name}" '
        f'"alt_names={alt_names}" "ttl=72h" -}}}}{{{{ .{field} }}}}{{{{- end }}}}'
    )


def vault_annotations(name: str) -> dict[str, str]:
    """The Vault agent injector's annotations: log in, render the token and the mTLS files."""
    prefix = "vault.hashicorp.com/"
    found = {
        f"{prefix}agent-inject": "true",
        f"{prefix}role": vault_role(name),
        f"{prefix}agent-service-account-token-volume-name": "vault-token",
        f"{prefix}agent-inject-token": "true",
        f"{prefix}secret-volume-path": f"{STATE_DIR}/pki",
        f"{prefix}agent-run-as-user": str(USER_ID),
        f"{prefix}agent-run-as-group": str(USER_ID),
        f"{prefix}ca-cert": "/vault/tls/ca.crt",
        f"{prefix}agent-copy-volume-mounts": name,
    }
    for file, field in (("ca.crt", "CA"), (f"{name}.crt", "Cert"), (f"{name}.key", "Key")):
        found[f"{prefix}agent-inject-secret-{file}"] = f"{PKI_MOUNT}/issue/{vault_role(name)}"
        found[f"{prefix}agent-inject-template-{file}"] = _pki_template(name, field)
    files = {"public": "token-signing-key.pub", "private": "token-signing-key.pem"}
    for half in signing_key_halves(name):
        path = SIGNING_KEY_PATH.format(half=half)
        found[f"{prefix}agent-inject-secret-{files[half]}"] = path
        found[f"{prefix}agent-inject-template-{files[half]}"] = (
            f'{{{{- with secret "{path}" -}}}}{{{{ .Data.data.pem }}}}{{{{- end }}}}'
        )
    secret = DATABASE_SECRET.format(role=database_role(name))
    found[f"{prefix}agent-inject-secret-pgpass"] = secret
    found[f"{prefix}agent-inject-perms-pgpass"] = "0600"
    found[f"{prefix}agent-inject-template-pgpass"] = (
        f'{{{{- with secret "{secret}" -}}}}{DATABASE_HOST}:5432:{DATABASE_NAME}:'
        f"{database_role(name)}:{{{{ .Data.data.password }}}}{{{{- end }}}}"
    )
    return dict(sorted(found.items()))


FONT_IN_IMAGE = "/opt/venv/share/subsidy-fonts/ipaexg.ttf"
"""Where the image's build stage puts the notices' font (k8s/image/Containerfile)."""

PAYMENTS_WARD_CONFIGMAP = "subsidy-payments-ward"
"""The ward's own account and requester code for the 全銀 file's header, and the file
settings: one ConfigMap per overlay (a ward's values, not the image's); payments refuses to
start in a pod when one is missing or not valid."""
PAYMENTS_WARD_VARIABLES = (
    "PAYMENTS_REQUESTER_CODE",
    "PAYMENTS_REQUESTER_NAME",
    "PAYMENTS_WARD_BANK",
    "PAYMENTS_WARD_BRANCH",
    "PAYMENTS_WARD_ACCOUNT_TYPE",
    "PAYMENTS_WARD_ACCOUNT",
    "PAYMENTS_FILE_CRLF",
    "PAYMENTS_FILE_RETENTION_DAYS",
)

SERVICE_ENV: dict[str, list[Manifest]] = {
    "auth": [
        {"name": INTERVAL_VARIABLE, "value": f"{DEFAULT_INTERVAL:g}"},
        {"name": MAX_AGE_VARIABLE, "value": f"{DEFAULT_MAX_AGE:g}"},
    ],
    "notices": [{"name": "NOTICES_FONT", "value": FONT_IN_IMAGE}],
    "payments": [
        {
            "name": name,
            "valueFrom": {"configMapKeyRef": {"name": PAYMENTS_WARD_CONFIGMAP, "key": name}},
        }
        for name in PAYMENTS_WARD_VARIABLES
    ],
}
"""Variables a service alone reads, beyond those every service gets."""


def _env(name: str, port: int) -> list[Manifest]:
    peers = sorted(peers_of(name) or ()) if name not in PLATFORM_SERVICES else []
    ports = service_ports()
    env = [
        {"name": f"{name.upper()}_LISTEN", "value": f"0.0.0.0:{port}"},
        {"name": "SUBSIDY_HEALTH_LISTEN", "value": f"0.0.0.0:{HEALTH_PORT}"},
        {"name": "SUBSIDY_STATE_DIR", "value": STATE_DIR},
        {"name": "SUBSIDY_PROGRAMS_DIR", "value": PROGRAMS_DIR},
        {
            "name": "DATABASE_URL",
            "value": f"postgresql+psycopg://{database_role(name)}@{DATABASE_HOST}:5432/"
            f"{DATABASE_NAME}?sslmode=require",
        },
        {"name": "PGPASSFILE", "value": f"{STATE_DIR}/pki/pgpass"},
        {"name": "SUBSIDY_VAULT_TOKEN_FILE", "value": f"{STATE_DIR}/pki/token"},
        {"name": "VAULT_ADDR", "value": VAULT_ADDR},
        {"name": "VAULT_CACERT", "value": "/vault/tls/ca.crt"},
        {"name": "REQUESTS_CA_BUNDLE", "value": "/vault/tls/ca.crt"},
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": OTEL_ENDPOINT},
        {"name": "OTEL_SERVICE_NAME", "value": name},
        {"name": "HOME", "value": "/tmp"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
    ]
    env += [
        {"name": f"{peer.upper()}_ADDRESS", "value": _address(peer, ports[peer])} for peer in peers
    ]
    return env + SERVICE_ENV.get(name, [])


def _probe(service: str, *, period: int, failures: int) -> Manifest:
    grpc: Manifest = {"port": HEALTH_PORT}
    if service:
        grpc["service"] = service
    return {
        "grpc": grpc,
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


def _grpc_service_name(name: str) -> str:
    """The service name readiness asks for: the first gRPC service of the workload's table."""
    if name in PLATFORM_SERVICES:
        return "subsidy.auth.v1.AuthService"
    methods = sorted(declarations()[name].rpc_roles)
    return methods[0].split("/")[1]


def deployment(name: str, port: int) -> Manifest:
    pod_labels = labels(name)
    security = {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": [command(name)],
        "ports": [
            {"name": "grpc", "containerPort": port, "protocol": "TCP"},
            {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
        ],
        "env": _env(name, port),
        "resources": {"requests": dict(REQUESTS), "limits": dict(LIMITS)},
        "startupProbe": _probe("", period=5, failures=60),
        "readinessProbe": _probe(_grpc_service_name(name), period=5, failures=2),
        "livenessProbe": _probe(LIVENESS, period=10, failures=3),
        "securityContext": security,
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "state", "mountPath": STATE_DIR},
            {"name": "vault-ca", "mountPath": "/vault/tls", "readOnly": True},
            {"name": "programs", "mountPath": PROGRAMS_DIR, "readOnly": True},
        ],
    }
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {NAME_LABEL: name}},
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": pod_labels},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "selector": {"matchLabels": {NAME_LABEL: name}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": vault_annotations(name)},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER_ID,
                        "runAsGroup": USER_ID,
                        "fsGroup": USER_ID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": spread,
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                        {"name": "state", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                        {"name": "vault-ca", "configMap": {"name": "vault-ca"}},
                        {"name": "programs", "configMap": {"name": PROGRAMS_CONFIGMAP}},
                        {
                            "name": "vault-token",
                            "projected": {
                                "sources": [
                                    {
                                        "serviceAccountToken": {
                                            "audience": "vault",
                                            "expirationSeconds": 600,
                                            "path": "token",
                                        }
                                    }
                                ]
                            },
                        },
                    ],
                },
            },
        },
    }


def service_manifests() -> list[Manifest]:
    """ServiceAccount, Service, Deployment and PodDisruptionBudget of every gRPC workload."""
    found: list[Manifest] = []
    for name, port in service_ports().items():
        metadata = {"name": name, "namespace": NAMESPACE, "labels": labels(name)}
        found.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": metadata,
                "automountServiceAccountToken": False,
            }
        )
        found.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata,
                "spec": {
                    "type": "ClusterIP",
                    "selector": {NAME_LABEL: name},
                    "ports": [
                        {
                            "name": "grpc",
                            "port": port,
                            "targetPort": "grpc",
                            "protocol": "TCP",
                            "appProtocol": "grpc",
                        }
                    ],
                },
            }
        )
        found.append(deployment(name, port))
        found.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": metadata,
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {NAME_LABEL: name}}},
            }
        )
    return found
