"""The generated manifests are what the declarations give (issue 9): a new service, a new
call between services or a changed port fails here until `python -m subsidy_platform.k8s`
is run and its output committed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from k8s_support import REPOSITORY

from subsidy_platform import declaration as declaration_module
from subsidy_platform.declaration import ServiceDeclaration, declarations
from subsidy_platform.k8s import topology
from subsidy_platform.k8s.__main__ import main
from subsidy_platform.k8s.network import network_policies
from subsidy_platform.k8s.render import generated_files
from subsidy_platform.k8s.workloads import service_manifests


def test_the_committed_files_are_the_generation_from_the_installed_declarations() -> None:
    for relative, text in generated_files().items():
        path = REPOSITORY / relative
        assert path.exists(), f"{relative} is missing: run `python -m subsidy_platform.k8s`"
        assert path.read_text() == text, (
            f"{relative} is stale: run `python -m subsidy_platform.k8s`"
        )


def test_the_check_command_names_a_stale_file_and_the_write_command_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(tmp_path)]) == 0
    stale = tmp_path / "k8s" / "base" / "network-policies.yaml"
    stale.write_text(stale.read_text().replace("5432", "5433"))
    assert main(["--root", str(tmp_path), "--check"]) == 1
    assert "stale: k8s/base/network-policies.yaml" in capsys.readouterr().err
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--root", str(tmp_path), "--check"]) == 0


def test_a_new_service_and_a_call_to_it_change_the_generated_policies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = network_policies()
    installed = dict(declarations())
    installed["probe"] = ServiceDeclaration(
        name="probe",
        port=50099,
        rpc_roles={"/subsidy.probe.v1.ProbeService/Ping": frozenset({"service:review"})},
    )
    installed["review"] = dataclasses.replace(
        installed["review"], calls=installed["review"].calls | {"probe"}
    )
    monkeypatch.setattr(declaration_module, "declarations", lambda: installed)
    monkeypatch.setattr(topology, "declarations", lambda: installed)
    after = network_policies()
    assert after != before
    [review] = [p for p in after if p["metadata"]["name"] == "allow-review"]
    assert {
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "probe"}}}],
        "ports": [{"protocol": "TCP", "port": 50099}],
    } in review["spec"]["egress"]
    [probe] = [p for p in after if p["metadata"]["name"] == "allow-probe"]
    assert {
        "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "review"}}}],
        "ports": [{"protocol": "TCP", "port": 50099}],
    } in probe["spec"]["ingress"]


def test_every_installed_service_and_the_sign_in_service_have_a_workload() -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in service_manifests()}
    for name in ("auth", *declarations()):
        for kind in ("ServiceAccount", "Service", "Deployment", "PodDisruptionBudget"):
            assert (kind, name) in kinds


def test_each_service_runs_its_own_console_script_of_the_one_image() -> None:
    import tomllib

    scripts = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["scripts"]
    for manifest in service_manifests():
        if manifest["kind"] != "Deployment":
            continue
        [container] = manifest["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "subsidy-platform"
        [command] = container["command"]
        assert command == f"subsidy-{manifest['metadata']['name']}" and command in scripts
