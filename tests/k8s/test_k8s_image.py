"""The image definition, read statically (no container engine runs here; issue 9):
multi-stage, every base pinned to an exact version or digest, the final stage non-root,
without pip or compilers, with the generated protos; one image for every service."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

from k8s_support import K8S, REPOSITORY, Manifest, containers, label_name, workloads

CONTAINERFILE = K8S / "image" / "Containerfile"
BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|cc|make|build-essential|python3?-dev|pip3?|apt-get install|setuptools|wheel)\b"
)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def stages(text: str) -> list[Stage]:
    joined = re.sub(r"\\\n", " ", text)
    found: list[Stage] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            found.append(Stage(parts[0], name))
        else:
            found[-1].instructions.append((keyword, rest.strip()))
    return found


def pinned(image: str) -> bool:
    if "@sha256:" in image:
        return bool(re.search(r"@sha256:[0-9a-f]{64}$", image))
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(re.fullmatch(r"\d+\.\d+\.\d+[-.A-Za-z0-9]*", tag))


def final_stage_problems(text: str) -> list[str]:
    found = stages(text)
    problems = []
    if len(found) < 2:
        problems.append("not multi-stage")
    for stage in found:
        if not pinned(stage.base) and stage.base not in {s.name for s in found}:
            problems.append(f"base not pinned: {stage.base}")
    final = found[-1]
    users = [rest for keyword, rest in final.instructions if keyword == "USER"]
    if (
        not users
        or users[-1].split(":")[0] in {"0", "root"}
        or not users[-1].split(":")[0].isdigit()
    ):
        problems.append("final stage does not end as a numeric non-root user")
    for keyword, rest in final.instructions:
        if keyword == "RUN" and BUILD_TOOLS.search(
            rest.replace("site-packages/pip*", "")
            .replace("bin/pip*", "")
            .replace("site-packages/setuptools*", "")
            .replace("site-packages/wheel*", "")
        ):
            problems.append(f"final stage runs a build tool: {rest[:60]}")
        if keyword in {"COPY", "ADD"} and "--from=" not in rest:
            problems.append(f"final stage copies from the build context: {rest}")
    if not any(
        k == "RUN" and "rm -rf /usr/local/lib/python3.12/site-packages/pip" in r
        for k, r in final.instructions
    ):
        problems.append("the base image's pip is left in the final stage")
    return problems


def test_the_containerfile_is_multi_stage_pinned_non_root_and_without_build_tools() -> None:
    assert final_stage_problems(CONTAINERFILE.read_text()) == []


def test_the_lint_finds_an_unpinned_root_image_with_a_compiler() -> None:
    bad = "FROM python:3.12 AS build\nRUN true\nFROM python:latest\nRUN apt-get install -y gcc\nCOPY . /src\nUSER root\n"
    problems = " ".join(final_stage_problems(bad))
    for expected in (
        "not pinned: python:3.12",
        "not pinned: python:latest",
        "non-root",
        "build tool",
        "build context",
        "pip is left",
    ):
        assert expected in problems


def test_the_build_stage_installs_the_project_and_generates_the_protos() -> None:
    build = stages(CONTAINERFILE.read_text())[0]
    runs = " ".join(rest for keyword, rest in build.instructions if keyword == "RUN")
    copies = [rest for keyword, rest in build.instructions if keyword == "COPY"]
    assert any(c.startswith("proto/") for c in copies)
    assert "pip install" in runs and "protogen import generate" in runs


def test_the_final_stage_has_no_default_service() -> None:
    final = stages(CONTAINERFILE.read_text())[-1]
    [cmd] = [rest for keyword, rest in final.instructions if keyword == "CMD"]
    assert "subsidy-admin" in cmd and not [k for k, _ in final.instructions if k == "ENTRYPOINT"]


def test_the_image_carries_the_notices_font_where_the_notices_deployment_looks(
    production: list[Manifest],
) -> None:
    build = stages(CONTAINERFILE.read_text())[0]
    runs = " ".join(rest for keyword, rest in build.instructions if keyword == "RUN")
    fetched = re.findall(r"-m subsidy_notices\.fonts fetch (\S+)", runs)
    [notices] = [w for w in workloads(production) if label_name(w) == "notices"]
    [container] = notices["spec"]["template"]["spec"]["containers"]
    env = {v["name"]: v.get("value") for v in container["env"]}
    assert fetched == [env["NOTICES_FONT"]]
    assert runs.index("fonts fetch") < runs.index("pip uninstall")  # fetched with pip


def test_the_build_tools_are_removed_before_the_environment_is_copied() -> None:
    build = stages(CONTAINERFILE.read_text())[0]
    runs = " ".join(rest for keyword, rest in build.instructions if keyword == "RUN")
    removed = re.search(r"pip uninstall --yes ([^&]+)", runs)
    assert removed is not None
    assert {"grpcio-tools", "mypy-protobuf", "pip", "setuptools", "wheel"} <= set(
        removed[1].split()
    )


def test_every_command_a_workload_runs_is_a_console_script_of_the_project(
    production: list[Manifest],
) -> None:
    scripts = set(tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["scripts"])
    ours = [
        w
        for w in workloads(production)
        if any("/subsidy-platform" in f"/{c['image']}" for c in containers(w))
    ]
    assert len(ours) >= 6
    for workload in ours:
        for container in containers(workload):
            assert container["command"][0] in scripts, container["command"]
