"""Rendering the overlays (`kubectl kustomize`) and reading the objects, for the manifest
tests (issue 9). kubectl is on the development machines and CI's: when it is missing the
tests fail with a message saying so, never skip."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
K8S = REPOSITORY / "k8s"
OVERLAYS = ("dev", "production")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
KUBERNETES_VERSION = "1.32"  # the schemas every built-in object is validated against

Manifest = dict[str, Any]


KUBECTL_FALLBACK = Path("/usr/bin/kubectl")


def kubectl() -> str:
    found = shutil.which("kubectl") or (
        str(KUBECTL_FALLBACK) if KUBECTL_FALLBACK.exists() else None
    )
    if found is None:
        pytest.fail(
            "kubectl is required to render the overlays (`kubectl kustomize`): install it "
            "(it is on the development machines and in CI)",
            pytrace=False,
        )
    return found


def render(folder: Path) -> list[Manifest]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {folder} failed:\n{result.stderr}", pytrace=False)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def workloads(docs: list[Manifest]) -> list[Manifest]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def containers(workload: Manifest) -> Iterator[Manifest]:
    yield from workload["spec"]["template"]["spec"]["containers"]


def label_name(workload: Manifest) -> str:
    return str(workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"])
