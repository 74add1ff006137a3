"""The SubsidyProgram operator against kmock: a valid spec renders the program's ConfigMap and
reports its phase; a bad one is Invalid naming the key and touches nothing; every phase change
is an Event as the clock moves; the erasure is refused without two approvers or before the
handover is complete."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import kmock
import pytest
import yaml
from operator_support import (
    NAMESPACE,
    SERVICE_DEPLOYMENTS,
    Clock,
    Emulator,
    config,
    configmap_data,
    create_program,
    events,
    operator_vault,
    patch_program,
    prepare_kmock,
    program_object,
    rollout_digest,
    running_operator,
    wait_for,
)
from subsidy_operator.erasure import ProgramPublisher
from subsidy_operator.manifests import PROGRAMS_CONFIGMAP, programs_digest
from subsidy_operator.resource import API_VERSION, KIND

from subsidy_platform.runtime import Environment
from subsidy_rules.program import PROGRAMS_DIR

pytestmark = [pytest.mark.asyncio, pytest.mark.kmock(cls=Emulator)]

PROGRAM = "shinjuku-2025"
LIFECYCLE: dict[str, Any] = {
    "processingEnd": "2026-02-27",
    "contractEnd": "2026-03-31",
    "erasureApprovers": [{"name": "危機管理 一郎"}, {"name": "委託 花子"}],
    "handover": {"completed": False},
}


Publisher = Callable[[], ProgramPublisher]


@pytest.fixture
def publisher(environment: Environment) -> Publisher:
    """Publishing in the session's OpenBao with the operator's policies."""
    client = operator_vault(environment)
    return lambda: ProgramPublisher(client)


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


def published(mock: kmock.KubernetesEmulator) -> dict[str, str]:
    """The programs ConfigMap's files."""
    return configmap_data(mock, PROGRAMS_CONFIGMAP)


def phase(mock: kmock.KubernetesEmulator) -> str | None:
    return program_object(mock, PROGRAM).get("status", {}).get("phase")


async def test_a_valid_program_gets_its_configmap_and_its_phase(
    kmock: kmock.KubernetesEmulator,
    publisher: Publisher,
) -> None:
    prepare_kmock(kmock)
    async with running_operator(config(kmock, Clock(date(2025, 6, 1)), publisher=publisher)):
        await create_program(kmock, resource())
        await wait_for(lambda: phase(kmock) == "Open", "phase Open")
        files = published(kmock)
        digests = {name: rollout_digest(kmock, name) for name in SERVICE_DEPLOYMENTS}
    assert yaml.safe_load(files[f"{PROGRAM}.yaml"])["parameters"]["cap"]["value"] == 20000
    assert files[f"{PROGRAM}.phase"] == "Open\n"
    assert set(digests.values()) == {programs_digest(files)}  # every service rolled out
    assert events(kmock, "PhaseChanged") == ["- -> Open"]


async def test_a_phase_change_is_published_without_a_rollout_and_a_new_definition_rolls_out(
    kmock: kmock.KubernetesEmulator,
    publisher: Publisher,
) -> None:
    prepare_kmock(kmock)
    clock = Clock(date(2025, 6, 1))
    async with running_operator(config(kmock, clock, publisher=publisher)):
        await create_program(kmock, resource())
        await wait_for(lambda: phase(kmock) == "Open", "phase Open")
        first = rollout_digest(kmock, "intake")
        clock.day = date(2026, 2, 1)
        await wait_for(lambda: published(kmock)[f"{PROGRAM}.phase"] == "Closed\n", "Closed")
        assert rollout_digest(kmock, "intake") == first  # intake reads the phase in place
        changed = copy.deepcopy(resource()["spec"])
        changed["definition"]["name"] = changed["definition"]["name"] + "（改定）"
        await patch_program(kmock, PROGRAM, {"spec": changed})
        await wait_for(lambda: "（改定）" in published(kmock)[f"{PROGRAM}.yaml"], "new definition")
        await wait_for(
            lambda: (
                {rollout_digest(kmock, n) for n in SERVICE_DEPLOYMENTS}
                == {programs_digest(published(kmock))}
            ),
            "every service rolled out",
        )
        assert rollout_digest(kmock, "intake") != first


async def test_a_bad_spec_is_invalid_naming_the_key_and_changes_nothing_else(
    kmock: kmock.KubernetesEmulator,
    publisher: Publisher,
) -> None:
    prepare_kmock(kmock)
    async with running_operator(config(kmock, Clock(date(2025, 6, 1)), publisher=publisher)):
        await create_program(kmock, resource())
        await wait_for(lambda: phase(kmock) == "Open", "phase Open")
        before = published(kmock)
        bad = copy.deepcopy(resource()["spec"])
        bad["definition"]["parameters"]["rate"]["value"] = "3/2"
        await patch_program(kmock, PROGRAM, {"spec": bad})
        await wait_for(lambda: phase(kmock) == "Invalid", "phase Invalid")
        status = program_object(kmock, PROGRAM)["status"]
        assert published(kmock) == before
    assert "spec.definition.parameters.rate.value" in status["message"]
    assert "parameters.rate" in events(kmock, "InvalidSpec")[0]


async def test_every_phase_change_is_an_event_as_the_days_pass(
    kmock: kmock.KubernetesEmulator,
    publisher: Publisher,
) -> None:
    prepare_kmock(kmock)
    clock = Clock(date(2025, 4, 15))
    async with running_operator(config(kmock, clock, publisher=publisher)):
        await create_program(kmock, resource())
        await wait_for(lambda: phase(kmock) == "Draft", "phase Draft")
        for day, expected in [
            (date(2025, 5, 1), "Open"),
            (date(2026, 2, 1), "Closed"),
            (date(2026, 2, 28), "Retention"),
        ]:
            clock.day = day
            await wait_for(lambda e=expected: phase(kmock) == e, f"phase {expected}")
            assert published(kmock)[f"{PROGRAM}.phase"] == f"{expected}\n"
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
    kmock: kmock.KubernetesEmulator, publisher: Publisher, lifecycle: dict[str, Any], why: str
) -> None:
    prepare_kmock(kmock)
    async with running_operator(config(kmock, Clock(date(2026, 3, 31)), publisher=publisher)):
        await create_program(kmock, resource(**lifecycle))
        erasure = await wait_for(
            lambda: program_object(kmock, PROGRAM).get("status", {}).get("erasure"), "erasure"
        )
        assert phase(kmock) == "Retention"
    assert erasure["state"] == "Refused"
    assert why in erasure["reason"]
    assert why in events(kmock, "ErasureRefused")[0]
