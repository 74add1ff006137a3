"""The erasure performed for real: the operator (against kmock) destroys the program's keys in a
real OpenBao, so that ciphertext written before is unreadable, has the four running services
(intake, review, payments, notices) purge the program's rows in a real PostgreSQL over mutual
TLS, the outboxes included, and writes the certificate to status and to a ConfigMap, naming
every table of every service: purged with its count, or kept with why.

A lost reply is retried, never recorded as zero rows: with a proxy that cuts the connection
after the service committed its purge (tests/integration/lost_reply.py), the operator's retry
gets the recorded counts, and the certificate says that service answered on a retry.

The platform here is private to each test (its own embedded PostgreSQL and OpenBao in a state
folder of its own, its own four servers): destroying the session's program keys would break
every later test of the session.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import hvac
import hvac.exceptions
import kmock
import pytest
from intake_support import Client, make_client
from lost_reply import LostReplyProxy
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
from payments_support import (
    backdate,
    build_and_release,
    grant_in_review,
    settle_outbox,
    staff_stub,
    submit_for_review,
)
from review_support import deliver, person, submit
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy.payments.v1 import payments_pb2
from subsidy_intake.main import build as build_intake
from subsidy_notices.main import build as build_notices
from subsidy_operator.erasure import KeyShredder, ProgramPublisher, ServicePurger
from subsidy_operator.manifests import CERTIFICATES_CONFIGMAP, verify_certificate
from subsidy_payments.main import build as build_payments
from subsidy_review.main import build as build_review
from test_operator import resource

from subsidy_platform.config import Settings
from subsidy_platform.crypto import DataClass, FieldCipher, KeyUnavailable
from subsidy_platform.db import make_engine
from subsidy_platform.declaration import declaration, declarations
from subsidy_platform.errors import AccessDenied
from subsidy_platform.maintenance import read_plan
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment, prepare
from subsidy_platform.staff_client import staff_channel
from subsidy_rules.program import get_program

pytestmark = [pytest.mark.asyncio, pytest.mark.kmock(cls=Emulator), pytest.mark.slow]

PROGRAM = "shinjuku-2025"
SERVICES = ("intake", "review", "payments", "notices")
FLOWS = (  # every outbox of the platform: (publisher, destination)
    ("intake", "review"),
    ("review", "intake"),
    ("review", "payments"),
    ("review", "notices"),
    ("payments", "intake"),
    ("notices", "intake"),
)


@dataclass
class Platform:
    environment: Environment
    addresses: dict[str, str]
    intake: Client
    processes: dict[str, ServiceProcess]
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
    started: dict[str, ServiceProcess] = {}
    admin = make_engine(environment.infrastructure.database_url)
    try:
        for name, build in (
            ("intake", build_intake),
            ("review", build_review),
            ("payments", build_payments),
            ("notices", build_notices),
        ):
            started[name] = build(environment, programs, addresses[name], addresses=addresses)
        yield Platform(
            environment, addresses, make_client(environment, started["intake"]), started, admin
        )
    finally:
        for process in reversed(started.values()):
            process.stop(grace=1.0)
        admin.dispose()


def key_admin(environment: Environment) -> hvac.Client:
    """A Vault client holding a token of the key-admin policy only (what the operator gets)."""
    vault = environment.infrastructure.vault_addr
    admin = hvac.Client(url=vault, token=environment.infrastructure.vault_admin_token)
    created = admin.auth.token.create(
        policies=["subsidy-key-admin"], no_default_policy=True, ttl="1h"
    )
    return hvac.Client(url=vault, token=created["auth"]["client_token"])


def program_rows(admin: Engine, services: tuple[str, ...] = SERVICES) -> dict[str, int]:
    """schema.table -> the program's rows, for every table a purge deletes from (as the
    catalog says now: the same predicates the services use)."""
    found: dict[str, int] = {}
    with Session(admin) as session:
        for service in services:
            plan = read_plan(session, service)
            for table in plan.order:
                found[f"{service}.{table}"] = int(
                    session.execute(
                        text(
                            f"SELECT count(*) FROM {service}.{table} WHERE {plan.predicates[table]}"
                        ),
                        {"program": PROGRAM},
                    ).scalar_one()
                )
    return found


def schema_tables(admin: Engine, service: str) -> set[str]:
    with admin.connect() as connection:
        names = connection.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind IN ('r', 'p')"
            ),
            {"s": service},
        ).scalars()
        return {f"{service}.{name}" for name in names}


def stored_ciphertext(admin: Engine, service: str) -> tuple[DataClass, str] | None:
    """One value `service` stored encrypted for the program (read as the administrator)."""
    with admin.connect() as connection:
        for place in declaration(service).ciphertext:
            for column in place.columns:
                value = connection.execute(
                    text(
                        f"SELECT {column} FROM {place.table} WHERE program_id = :p "
                        f"AND {column} IS NOT NULL LIMIT 1"
                    ),
                    {"p": PROGRAM},
                ).scalar_one_or_none()
                if value is not None:
                    return place.data_class, str(value)
    return None


def settle_everything(platform: Platform) -> None:
    """Every outbox delivered (nothing written afterwards: the counts stay still)."""
    for _ in range(2):
        for publisher, destination in FLOWS:
            settle_outbox(platform.processes[publisher], platform.admin, publisher, destination)


def notices_mailed(platform: Platform) -> None:
    """The waiting notices printed and mailed (notices reports NOTICE_SENT to intake)."""
    operator = platform.intake.staff("operator")
    with staff_channel(platform.environment.pki, platform.processes["notices"].address) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        batch = stub.CreatePrintBatch(
            notices_pb2.CreatePrintBatchRequest(request_id="erasure-batch", program_id=PROGRAM),
            metadata=operator,
            timeout=300,
        )
        stub.ConfirmPrinted(
            notices_pb2.ConfirmBatchRequest(request_id="erasure-printed", batch_id=batch.batch_id),
            metadata=operator,
        )
        stub.ConfirmMailed(
            notices_pb2.ConfirmBatchRequest(request_id="erasure-mailed", batch_id=batch.batch_id),
            metadata=operator,
        )


def receipts(admin: Engine, service: str) -> int:
    with admin.connect() as connection:
        return int(
            connection.execute(
                text(f"SELECT count(*) FROM {service}.purge_receipts WHERE erased_program = :p"),
                {"p": PROGRAM},
            ).scalar_one()
        )


async def erase(
    kmock: kmock.KubernetesEmulator,
    platform: Platform,
    addresses: dict[str, str],
    services: tuple[str, ...] = SERVICES,
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The operator erases the program; (status.erasure, the certificates ConfigMap, the
    Erased events)."""
    prepare_kmock(kmock)
    pki = platform.environment.pki
    configuration = config(
        kmock,
        Clock(date(2026, 3, 31)),
        shredder=lambda: KeyShredder(key_admin(platform.environment)),
        purger=lambda: ServicePurger(pki, addresses, services),
        publisher=lambda: ProgramPublisher(operator_vault(platform.environment)),
        retry_delay=0.5,
    )
    async with running_operator(configuration):
        try:
            program_object(kmock, PROGRAM)  # left by an erasure refused before: resumed
        except KeyError:
            await create_program(
                kmock, resource(handover={"completed": True, "reference": "管理簿 No.42"})
            )
        erasure = await wait_for(
            lambda: (
                program_object(kmock, PROGRAM).get("status", {}).get("erasure", {})
                if program_object(kmock, PROGRAM)["status"].get("phase") == "Erased"
                else None
            ),
            "the erasure",
        )
        printed = configmap_data(kmock, CERTIFICATES_CONFIGMAP)
        erased = await wait_for(lambda: events(kmock, "Erased"), "the Erased event")
    return erasure, printed, erased


async def refused_erasure(kmock: kmock.KubernetesEmulator, platform: Platform) -> dict[str, Any]:
    """The operator tries to erase the program while a service refuses; status.erasure."""
    prepare_kmock(kmock)
    pki = platform.environment.pki
    configuration = config(
        kmock,
        Clock(date(2026, 3, 31)),
        shredder=lambda: KeyShredder(key_admin(platform.environment)),
        purger=lambda: ServicePurger(pki, platform.addresses, SERVICES),
        publisher=lambda: ProgramPublisher(operator_vault(platform.environment)),
        retry_delay=0.5,
    )
    async with running_operator(configuration):
        await create_program(
            kmock, resource(handover={"completed": True, "reference": "管理簿 No.42"})
        )
        erasure: dict[str, Any] = await wait_for(
            lambda: (
                program_object(kmock, PROGRAM).get("status", {}).get("erasure")
                if program_object(kmock, PROGRAM).get("status", {}).get("erasure", {}).get("state")
                == "Refused"
                else None
            ),
            "the refused erasure",
        )
    return erasure


def purged_tables(certificate: dict[str, Any]) -> dict[str, int]:
    return {t["table"]: t["rows"] for s in certificate["services"] for t in s["tables"]}


async def test_the_erasure_destroys_the_keys_purges_every_service_and_certifies_every_table(
    kmock: kmock.KubernetesEmulator, platform: Platform
) -> None:
    numbers = [submit_for_review(platform.intake) for _ in range(2)]
    processes = platform.processes
    grant_in_review(
        platform.intake, processes["review"], processes["payments"], platform.admin, numbers
    )
    settle_outbox(processes["review"], platform.admin, "review", "notices")
    batch, _, _ = build_and_release(platform.intake, processes["payments"])
    notices_mailed(platform)
    settle_everything(platform)
    # the transfers are sent but the bank has not confirmed them: payments itself refuses
    # the purge, whoever asks (the operator's certificate alone is not enough)
    purger = ServicePurger(platform.environment.pki, platform.addresses, SERVICES)
    refused = purger.refusal("payments", PROGRAM, "erasure-too-early")
    assert refused is not None and "着金確認が済んでいない振込" in refused
    with pytest.raises(grpc.RpcError) as early:
        purger.purge("payments", PROGRAM, "erasure-too-early")
    assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert receipts(platform.admin, "payments") == 0
    with staff_stub(platform.intake, processes["payments"]) as stub:
        stub.ConfirmBatch(
            payments_pb2.ConfirmBatchRequest(
                batch_id=batch.batch_id, confirmed_on=backdate(platform.admin, batch.batch_id)
            ),
            metadata=platform.intake.staff("payments_officer", "officer-erasure"),
        )
    settle_everything(platform)
    assert [purger.refusal(s, PROGRAM, "erasure-check") for s in SERVICES] == [None] * 4
    before = program_rows(platform.admin)
    for table in (
        "intake.applications",
        "review.cases",
        "review.commands",
        "review.processed_events",
        "payments.grants",
        "payments.instructions",
        "notices.notices",
        *(f"{service}.outbox" for service in SERVICES),
    ):
        assert before[table] >= len(numbers), (table, before[table])
    ciphertexts = {s: stored_ciphertext(platform.admin, s) for s in SERVICES}
    ciphertexts = {s: found for s, found in ciphertexts.items() if found}
    assert {"intake", "payments", "notices"} <= set(ciphertexts)  # review's: reductions only
    intake_cipher = FieldCipher(platform.environment.vault_client("intake"), PROGRAM)
    data_class, ciphertext = ciphertexts["intake"]
    assert intake_cipher.decrypt(data_class, [ciphertext])[0]

    erasure, printed, erased = await erase(kmock, platform, platform.addresses)

    certificate: dict[str, Any] = erasure["certificate"]
    assert erasure["state"] == "Done"
    assert verify_certificate(certificate)
    assert json.loads(printed[f"{PROGRAM}.json"]) == certificate
    assert certificate["sha256"] in printed[f"{PROGRAM}.txt"]
    assert "audit.events" in printed[f"{PROGRAM}.txt"]
    keys = {k["name"]: k for k in certificate["keys"]}
    assert set(keys) == {f"subsidy-{PROGRAM}-{p}" for p in ("contact", "bank", "index")}
    assert all(k["existed"] for k in keys.values()), keys
    assert all(k["versions"] and k["latestVersion"] == max(k["versions"]) for k in keys.values()), (
        keys
    )
    records = {s["service"]: s for s in certificate["services"]}
    assert set(records) == set(SERVICES)
    assert purged_tables(certificate) == before  # every table, with the rows it held
    for service in SERVICES:  # every table of every schema is named: purged or kept with why
        named = {t["table"] for t in records[service]["tables"]}
        kept = {k["table"]: k["reason"] for k in records[service]["keptTables"]}
        assert named | set(kept) == schema_tables(platform.admin, service), service
        assert not named & set(kept) and all(kept.values()), kept
        assert f"{service}.outbox" in named and f"{service}.purge_receipts" in kept
        assert not records[service]["answeredOnRetry"]
    assert [k["table"] for k in certificate["keptRecords"]] == ["audit.events"]
    assert certificate["totalRecords"] == sum(before.values())
    assert certificate["approvers"][0]["name"] != certificate["approvers"][1]["name"]
    assert certificate["handover"]["reference"] == "管理簿 No.42"
    assert certificate["sha256"] in erased[0]

    assert program_rows(platform.admin) == dict.fromkeys(before, 0)
    for service, (data_class, ciphertext) in ciphertexts.items():  # unreadable: the key is gone
        with pytest.raises((KeyUnavailable, AccessDenied)):
            FieldCipher(platform.environment.vault_client(service), PROGRAM).decrypt(
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
    with platform.admin.connect() as connection:  # each purge audited with its counts
        audited = {
            str(service): list(fields)
            for service, fields in connection.execute(
                text(
                    "SELECT service, fields FROM audit.events WHERE action = 'purge' "
                    "AND purpose LIKE :p"
                ),
                {"p": f"%{erasure['id']}%"},
            )
        }
    assert set(audited) == set(SERVICES)
    assert {f for fields in audited.values() for f in fields} == {
        f"{table}={rows}" for table, rows in before.items()
    }


async def test_a_lost_reply_is_retried_and_gets_the_recorded_counts_never_zero(
    kmock: kmock.KubernetesEmulator, platform: Platform
) -> None:
    numbers = [submit(platform.intake, **person(f"消去{i}")) for i in range(3)]
    deliver(platform.intake, platform.processes["review"], platform.admin)
    settle_everything(platform)
    before = program_rows(platform.admin, ("intake",))
    assert before["intake.applications"] == len(numbers) and before["intake.outbox"] >= len(numbers)

    # review has not decided these applications: the operator's erasure waits, its reason
    # review's own, and no key is destroyed
    refused = await refused_erasure(kmock, platform)
    assert "review" in refused["reason"] and "決定が済んでいない申請" in refused["reason"]
    intake_cipher = FieldCipher(platform.environment.vault_client("intake"), PROGRAM)
    assert intake_cipher.blind_index("probe", ["x"])  # the program's keys are still there
    assert program_rows(platform.admin, ("intake",)) == before

    with LostReplyProxy(
        platform.addresses["intake"], lambda: receipts(platform.admin, "intake") > 0
    ) as proxy:
        erasure, _, _ = await erase(  # intake's lost reply (review's cases stay undecided)
            kmock, platform, {**platform.addresses, "intake": proxy.address}, ("intake",)
        )
        assert proxy.cut.is_set() and proxy.connections >= 2

    certificate: dict[str, Any] = erasure["certificate"]
    assert verify_certificate(certificate)
    intake = next(s for s in certificate["services"] if s["service"] == "intake")
    assert intake["answeredOnRetry"] is True
    assert {t["table"]: t["rows"] for t in intake["tables"]} == before
    assert intake["records"] == sum(before.values()) > 0
    assert receipts(platform.admin, "intake") == 1
    with platform.admin.connect() as connection:
        actions = (
            connection.execute(
                text(
                    "SELECT action FROM audit.events WHERE service = 'intake' "
                    "AND action LIKE 'purge%' AND purpose LIKE :p ORDER BY seq"
                ),
                {"p": f"%{erasure['id']}%"},
            )
            .scalars()
            .all()
        )
    assert actions[0] == "purge" and set(actions[1:]) == {"purge_repeat"}, actions
    assert program_rows(platform.admin, ("intake",)) == dict.fromkeys(before, 0)
