"""The erasure performed for real: the operator (against kmock) destroys the program's keys in a
real OpenBao, so that ciphertext written before is unreadable, has the running intake and review
servers purge the program's rows in a real PostgreSQL over mutual TLS, and writes the certificate
to status and to a ConfigMap.

The platform here is private to the test (its own embedded PostgreSQL and OpenBao in a state
folder of its own, its own intake and review servers): destroying the session's program keys
would break every later test of the session.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import kmock
import pytest
from intake_support import Client, make_client
from operator_support import (
    Clock,
    Emulator,
    config,
    configmap_data,
    create_program,
    events,
    operator_vault,
    prepare_kmock,
    program_object,
    running_operator,
    wait_for,
)
from review_support import deliver, person, submit
from sqlalchemy import Engine, text
from subsidy_intake.main import build as build_intake
from subsidy_operator.erasure import KeyShredder, ProgramPublisher, ServicePurger
from subsidy_operator.manifests import CERTIFICATES_CONFIGMAP, verify_certificate
from subsidy_review.main import build as build_review
from test_operator import resource

from subsidy_platform.config import Settings
from subsidy_platform.crypto import DataClass, FieldCipher, KeyUnavailable
from subsidy_platform.db import make_engine
from subsidy_platform.declaration import declaration, declarations
from subsidy_platform.errors import AccessDenied
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment, prepare
from subsidy_rules.program import get_program

pytestmark = [pytest.mark.asyncio, pytest.mark.kmock(cls=Emulator), pytest.mark.slow]

PROGRAM = "shinjuku-2025"
SERVICES = ("intake", "review")
PROGRAM_ROWS = {
    "intake": "SELECT count(*) FROM intake.applications WHERE program_id = :p",
    "review": "SELECT count(*) FROM review.cases WHERE program_id = :p",
}


@dataclass
class Platform:
    environment: Environment
    addresses: dict[str, str]
    intake: Client
    review: ServiceProcess
    admin: Engine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def platform(private_state: Path) -> Iterator[Platform]:
    settings = Settings(
        state_dir=private_state,
        database_url=None,
        vault_addr=None,
        vault_token=None,
        otel_endpoint=None,
    )
    environment = prepare(settings, [PROGRAM])
    addresses = {name: f"127.0.0.1:{_free_port()}" for name in ("auth", *declarations())}
    programs = {PROGRAM: get_program(PROGRAM)}
    intake = build_intake(environment, programs, addresses["intake"], addresses=addresses)
    review = build_review(environment, programs, addresses["review"], addresses=addresses)
    admin = make_engine(environment.infrastructure.database_url)
    try:
        yield Platform(environment, addresses, make_client(environment, intake), review, admin)
    finally:
        review.stop(grace=1.0)
        intake.stop(grace=1.0)
        admin.dispose()


def key_admin(environment: Environment) -> hvac.Client:
    """A Vault client holding a token of the key-admin policy only (what the operator gets)."""
    vault = environment.infrastructure.vault_addr
    admin = hvac.Client(url=vault, token=environment.infrastructure.vault_admin_token)
    created = admin.auth.token.create(
        policies=["subsidy-key-admin"], no_default_policy=True, ttl="1h"
    )
    return hvac.Client(url=vault, token=created["auth"]["client_token"])


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), {"p": PROGRAM}).scalar_one())


def stored_ciphertext(platform: Platform) -> tuple[DataClass, str]:
    """One value intake stored encrypted for the program (read as the administrator)."""
    place = declaration("intake").ciphertext[0]
    column = place.columns[0]
    with platform.admin.connect() as connection:
        value = connection.execute(
            text(
                f"SELECT {column} FROM {place.table} WHERE program_id = :p "
                f"AND {column} IS NOT NULL LIMIT 1"
            ),
            {"p": PROGRAM},
        ).scalar_one()
    return place.data_class, str(value)


async def test_the_erasure_destroys_the_keys_purges_the_rows_and_certifies_it(
    kmock: kmock.KubernetesEmulator, platform: Platform
) -> None:
    numbers = [submit(platform.intake, **person(f"消去{i}")) for i in range(3)]
    deliver(platform.intake, platform.review, platform.admin)
    before = {service: count(platform.admin, sql) for service, sql in PROGRAM_ROWS.items()}
    assert before["intake"] >= len(numbers) and before["review"] >= len(numbers)
    data_class, ciphertext = stored_ciphertext(platform)
    intake_cipher = FieldCipher(platform.environment.vault_client("intake"), PROGRAM)
    assert intake_cipher.decrypt(data_class, [ciphertext])[0]

    prepare_kmock(kmock)
    pki, addresses = platform.environment.pki, platform.addresses
    configuration = config(
        kmock,
        Clock(date(2026, 3, 31)),
        shredder=lambda: KeyShredder(key_admin(platform.environment)),
        purger=lambda: ServicePurger(pki, addresses, SERVICES),
        publisher=lambda: ProgramPublisher(operator_vault(platform.environment)),
    )
    async with running_operator(configuration):
        await create_program(
            kmock, resource(handover={"completed": True, "reference": "管理簿 No.42"})
        )
        erasure = await wait_for(
            lambda: (
                program_object(kmock, "shinjuku-2025").get("status", {}).get("erasure", {})
                if program_object(kmock, "shinjuku-2025")["status"].get("phase") == "Erased"
                else None
            ),
            "the erasure",
        )
        printed = configmap_data(kmock, CERTIFICATES_CONFIGMAP)
        erased = await wait_for(lambda: events(kmock, "Erased"), "the Erased event")

    certificate: dict[str, Any] = erasure["certificate"]
    assert erasure["state"] == "Done"
    assert verify_certificate(certificate)
    assert json.loads(printed[f"{PROGRAM}.json"]) == certificate
    assert certificate["sha256"] in printed[f"{PROGRAM}.txt"]
    keys = {k["name"]: k for k in certificate["keys"]}
    assert set(keys) == {f"subsidy-{PROGRAM}-{p}" for p in ("contact", "bank", "index")}
    assert all(k["existed"] for k in keys.values()), keys
    assert all(k["versions"] and k["latestVersion"] == max(k["versions"]) for k in keys.values()), (
        keys
    )
    records = {s["service"]: s for s in certificate["services"]}
    assert set(records) == set(SERVICES)
    intake_tables = dict((t["table"], t["rows"]) for t in records["intake"]["tables"])
    assert intake_tables["intake.applications"] == before["intake"]
    review_tables = dict((t["table"], t["rows"]) for t in records["review"]["tables"])
    assert review_tables["review.cases"] == before["review"]
    assert certificate["totalRecords"] == sum(s["records"] for s in certificate["services"])
    assert certificate["approvers"][0]["name"] != certificate["approvers"][1]["name"]
    assert certificate["handover"]["reference"] == "管理簿 No.42"
    assert certificate["sha256"] in erased[0]

    assert {service: count(platform.admin, sql) for service, sql in PROGRAM_ROWS.items()} == {
        "intake": 0,
        "review": 0,
    }
    with pytest.raises((KeyUnavailable, AccessDenied)):  # the key is gone, its grant too
        FieldCipher(platform.environment.vault_client("intake"), PROGRAM).decrypt(
            data_class, [ciphertext]
        )
    with pytest.raises(hvac.exceptions.InvalidPath):
        key_admin(platform.environment).adapter.get(f"/v1/transit/keys/subsidy-{PROGRAM}-contact")
    vault = hvac.Client(
        url=platform.environment.infrastructure.vault_addr,
        token=platform.environment.infrastructure.vault_admin_token,
    )
    for service in SERVICES:  # the program is withdrawn from every service's policy
        rules = vault.sys.read_acl_policy(name=f"subsidy-{service}")["data"]["policy"]
        assert f"subsidy-{PROGRAM}-" not in rules, service
