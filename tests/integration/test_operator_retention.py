"""The operator runs the retention purges on every live program against the real notices and
payments services, under its own certificate, with the result in the program's status and
each call in the audit log; nothing runs for a program in Draft."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Any

import kmock
import pytest
from intake_support import Client
from operator_support import (
    Clock,
    Emulator,
    config,
    create_program,
    operator_vault,
    prepare_kmock,
    program_object,
    running_operator,
    wait_for,
)
from sqlalchemy import Engine, text
from subsidy_operator.erasure import ProgramPublisher
from subsidy_operator.retention import RetentionPurger
from test_operator import resource

from subsidy_platform.process import ServiceProcess

pytestmark = [pytest.mark.asyncio, pytest.mark.kmock(cls=Emulator)]


def operator_purges(admin: Engine) -> int:
    with admin.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM audit.events WHERE rpc = 'PurgeFiles' "
                    "AND actor = 'operator' AND role = 'service'"
                )
            ).scalar_one()
        )


async def test_the_operator_purges_what_is_due_on_a_live_program_and_it_is_audited(
    kmock: kmock.KubernetesEmulator,
    intake: Client,
    notices: ServiceProcess,
    payments: ServiceProcess,
    addresses: dict[str, str],
    admin_engine: Engine,
) -> None:
    prepare_kmock(kmock)
    client = operator_vault(intake.environment)
    purger: Callable[[], RetentionPurger] = lambda: RetentionPurger(  # noqa: E731
        intake.environment.pki, {"notices": notices.address, "payments": payments.address}
    )
    before = operator_purges(admin_engine)
    configuration = config(
        kmock,
        Clock(date(2025, 6, 1)),
        publisher=lambda: ProgramPublisher(client),
        retention=purger,
        retention_interval=0.3,
    )
    async with running_operator(configuration):
        await create_program(kmock, resource())
        status: dict[str, Any] = await wait_for(
            lambda: program_object(kmock, "shinjuku-2025").get("status", {}).get("retention"),
            "a retention run",
        )
    assert set(status) == {
        "lastRun",
        "printFilesDeleted",
        "addresseesDeleted",
        "transferFilesDeleted",
    }
    assert all(isinstance(status[k], int) for k in status if k != "lastRun")
    assert operator_purges(admin_engine) > before


async def test_no_retention_purge_runs_for_a_program_that_has_not_opened(
    kmock: kmock.KubernetesEmulator, intake: Client
) -> None:
    prepare_kmock(kmock)
    client = operator_vault(intake.environment)
    calls: list[str] = []

    class Counting(RetentionPurger):
        def purge(self, program_id: str) -> Any:
            calls.append(program_id)
            raise AssertionError("no purge before the program opens")

    configuration = config(
        kmock,
        Clock(date(2025, 4, 1)),
        publisher=lambda: ProgramPublisher(client),
        retention=lambda: Counting(intake.environment.pki, {}),
        retention_interval=0.2,
    )
    async with running_operator(configuration):
        await create_program(kmock, resource())
        await wait_for(
            lambda: (
                program_object(kmock, "shinjuku-2025").get("status", {}).get("phase") == "Draft"
            ),
            "phase Draft",
        )
        await asyncio.sleep(1.0)  # five periods of the retention timer
    assert calls == []
