"""The SubsidyProgram operator against kmock: a valid spec renders the program's ConfigMap and
reports its phase; a bad one is Invalid naming the key and touches nothing; every phase change
is an Event as the clock moves; the erasure is refused without two approvers or before the
handover is complete."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import kmock
import pytest
import yaml
from operator_support import (
    NAMESPACE,
    Clock,
    Emulator,
    config,
    create_program,
    events,
    patch_program,
    prepare_kmock,
    program_object,
    running_operator,
    wait_for,
)
from subsidy_operator.resource import API_VERSION, KIND

from subsidy_rules.program import PROGRAMS_DIR

pytestmark = [pytest.mark.asyncio, pytest.mark.kmock(cls=Emulator)]

PROGRAM = "shinjuku-2025"
LIFECYCLE: dict[str, Any] = {
    "processingEnd": "2026-02-27",
    "contractEnd": "2026-03-31",
    "erasureApprovers": [{"name": "危機管理 一郎"}, {"name": "委託 花子"}],
    "handover": {"completed": False},
}


def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (PROGRAMS_DIR / f"{PROGRAM}.yaml").read_text(encoding="utf-8")
    )
    return loaded


def as_json(value: Any) -> Any:
    """Dates as ISO strings, as the Kubernetes API carries them."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def resource(**lifecycle: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": PROGRAM, "namespace": NAMESPACE},
        "spec": {"definition": as_json(definition()), "lifecycle": {**LIFECYCLE, **lifecycle}},
    }


def configmap(mock: kmock.KubernetesEmulator) -> dict[str, Any]:
    return dict(mock.objects["v1/configmaps", NAMESPACE, f"subsidy-program-{PROGRAM}"].raw)


def phase(mock: kmock.KubernetesEmulator) -> str | None:
    return program_object(mock, PROGRAM).get("status", {}).get("phase")


async def test_a_valid_program_gets_its_configmap_and_its_phase(
    kmock: kmock.KubernetesEmulator,
) -> None:
    prepare_kmock(kmock)
    async with running_operator(config(kmock, Clock(date(2025, 6, 1)))):
        await create_program(kmock, resource())
        await wait_for(lambda: phase(kmock) == "Open", "phase Open")
        made = configmap(kmock)
    file = made["data"][f"{PROGRAM}.yaml"]
    assert yaml.safe_load(file)["parameters"]["cap"]["value"] == 20000
    assert made["metadata"]["annotations"]["subsidy-platform.jp/phase"] == "Open"
    assert events(kmock, "PhaseChanged") == ["- -> Open"]


async def test_a_bad_spec_is_invalid_naming_the_key_and_changes_nothing_else(
    kmock: kmock.KubernetesEmulator,
) -> None:
    prepare_kmock(kmock)
    async with running_operator(config(kmock, Clock(date(2025, 6, 1)))):
        await create_program(kmock, resource())
        await wait_for(lambda: phase(kmock) == "Open", "phase Open")
        before = configmap(kmock)["data"]
        bad = copy.deepcopy(resource()["spec"])
        bad["definition"]["parameters"]["rate"]["value"] = "3/2"
        await patch_program(kmock, PROGRAM, {"spec": bad})
        await wait_for(lambda: phase(kmock) == "Invalid", "phase Invalid")
        status = program_object(kmock, PROGRAM)["status"]
        assert configmap(kmock)["data"] == before
    assert "spec.definition.parameters.rate.value" in status["message"]
    assert "parameters.rate" in events(kmock, "InvalidSpec")[0]


async def test_every_phase_change_is_an_event_as_the_days_pass(
    kmock: kmock.KubernetesEmulator,
) -> None:
    prepare_kmock(kmock)
    clock = Clock(date(2025, 4, 15))
    async with running_operator(config(kmock, clock)):
        await create_program(kmock, resource())
        await wait_for(lambda: phase(kmock) == "Draft", "phase Draft")
        for day, expected in [
            (date(2025, 5, 1), "Open"),
            (date(2026, 2, 1), "Closed"),
            (date(2026, 2, 28), "Retention"),
        ]:
            clock.day = day
            await wait_for(lambda e=expected: phase(kmock) == e, f"phase {expected}")
            assert (
                configmap(kmock)["metadata"]["annotations"]["subsidy-platform.jp/phase"] == expected
            )
    assert events(kmock, "PhaseChanged") == [
        "- -> Draft",
        "Draft -> Open",
        "Open -> Closed",
        "Closed -> Retention",
    ]


@pytest.mark.parametrize(
    ("lifecycle", "why"),
    [
        (
            {"erasureApprovers": [{"name": "危機管理 一郎"}], "handover": {"completed": True}},
            "承認者2名",
        ),
        (
            {
                "erasureApprovers": [{"name": "委託 花子"}, {"name": "委託　花子"}],
                "handover": {"completed": True},
            },
            "承認者2名",
        ),
        ({"handover": {"completed": False}}, "handover.completed"),
    ],
)
async def test_the_erasure_is_refused_without_two_approvers_or_the_handover(
    kmock: kmock.KubernetesEmulator, lifecycle: dict[str, Any], why: str
) -> None:
    prepare_kmock(kmock)
    async with running_operator(config(kmock, Clock(date(2026, 3, 31)))):
        await create_program(kmock, resource(**lifecycle))
        erasure = await wait_for(
            lambda: program_object(kmock, PROGRAM).get("status", {}).get("erasure"), "erasure"
        )
        assert phase(kmock) == "Retention"
    assert erasure["state"] == "Refused"
    assert why in erasure["reason"]
    assert why in events(kmock, "ErasureRefused")[0]
