"""When what review depends on fails, review says so with a clear status and writes nothing.

- intake down: the RPCs that read applications from intake (GetCheck, RecordCheck,
  ExportForWard) are UNAVAILABLE; intake not knowing an application is NOT_FOUND; intake
  refusing review's read is FAILED_PRECONDITION; never INTERNAL;
- review's PostgreSQL down: UNAVAILABLE;
- Vault refusing review's token, or unreachable: an RPC that encrypts (RequestCorrection) is
  PERMISSION_DENIED or UNAVAILABLE (subsidy_platform.crypto.vault_errors).

Each test runs its own review server (and intake, PostgreSQL where needed) so that what it
stops does not disturb the other tests.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client, count, make_client
from review_support import ALL_ITEMS, arrive, person, settle, submit
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.review.v1 import review_pb2, review_pb2_grpc
from subsidy_intake.main import build as build_intake
from subsidy_review.handover import seal
from subsidy_review.main import build as build_review

from conftest import PrivateDatabase
from subsidy_platform.db import make_engine
from subsidy_platform.embedded import Infrastructure, ensure_postgres, stop_postgres
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import TestTokens as Tokens
from subsidy_platform.staff_client import staff_channel
from subsidy_rules.program import get_program

REVIEW_TABLES = (
    "review.cases",
    "review.decisions",
    "review.corrections",
    "review.handovers",
    "review.handover_items",
    "review.commands",
    "review.duplicate_flags",
    "review.outbox",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def programs() -> dict[str, Any]:
    return {PROGRAM: get_program(PROGRAM)}


def written(engine: Engine, numbers: list[str]) -> tuple[Any, ...]:
    """Row counts of review's tables and the state of the given cases."""
    with engine.connect() as connection:
        counts = tuple(
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in REVIEW_TABLES
        )
        rows = connection.execute(
            text(
                "SELECT application_number, state, claimed_by, updated_at FROM review.cases "
                "WHERE application_number = ANY(:ns) ORDER BY application_number"
            ),
            {"ns": numbers},
        ).all()
    return counts, tuple(tuple(r) for r in rows)


@contextmanager
def review_stub(
    environment: Environment, process: ServiceProcess, identity: str | None = None
) -> Iterator[review_pb2_grpc.ReviewServiceStub]:
    if identity is None:
        with staff_channel(environment.pki, process.address) as channel:
            yield review_pb2_grpc.ReviewServiceStub(channel)
    else:
        with staff_channel(environment.pki, process.address, identity) as channel:
            yield review_pb2_grpc.ReviewServiceStub(channel)


def code_of(call: Any, request: Any, metadata: Any = (), timeout: float = 60) -> grpc.StatusCode:
    try:
        call(request, metadata=metadata, timeout=timeout)
    except grpc.RpcError as error:
        assert "Traceback" not in (error.details() or "")
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _rid() -> str:
    return f"failure-{uuid.uuid4().hex}"


# --- intake ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def settled(intake: Client, review: ServiceProcess, admin_engine: Engine) -> None:
    """Intake's events for review all delivered before each test: other tests of the
    session submit applications while no review runs, and their backlog, arriving during a
    test here, would change the row counts it compares and delay its own events."""
    assert intake.process.context.relay is not None
    settle(intake.process.context.relay, admin_engine, "intake", "review")


def test_intake_down_gives_unavailable_and_nothing_written(
    environment: Environment,
    addresses: dict[str, str],
    admin_engine: Engine,
    intake: Client,
    review: ServiceProcess,
) -> None:
    pair = {
        **addresses,
        "intake": f"127.0.0.1:{_free_port()}",
        "review": f"127.0.0.1:{_free_port()}",
    }
    own_intake = build_intake(environment, programs(), pair["intake"], addresses=pair)
    own_review = build_review(environment, programs(), pair["review"], addresses=pair)
    tokens = Tokens.of(
        environment.settings.state_dir, make_engine(environment.infrastructure.database_url)
    )
    checker = tokens.staff("checker", "failure-checker")
    ward = tokens.staff("ward_officer", "failure-ward")
    try:
        client = make_client(environment, own_intake)
        to_check = submit(client, **person("障害一"))
        checked = submit(client, **person("障害二"))
        arrive(client, admin_engine, [to_check, checked])
        with review_stub(environment, own_review) as stub:
            for number in (to_check, checked):
                stub.ClaimApplication(
                    review_pb2.ClaimRequest(application_number=number), metadata=checker
                )
            done = stub.RecordCheck(
                review_pb2.RecordCheckRequest(
                    request_id=_rid(), application_number=checked, confirmed=ALL_ITEMS
                ),
                metadata=checker,
            )
            assert done.state == review_pb2.CHECKED

            own_intake.stop(grace=0.5)
            before = written(admin_engine, [to_check, checked])
            outcome = {
                "GetCheck": code_of(
                    stub.GetCheck,
                    review_pb2.GetCheckRequest(application_number=to_check, purpose="障害の検査"),
                    checker,
                ),
                "RecordCheck": code_of(
                    stub.RecordCheck,
                    review_pb2.RecordCheckRequest(
                        request_id=_rid(), application_number=to_check, confirmed=ALL_ITEMS
                    ),
                    checker,
                ),
                "GetDuplicateGroup": code_of(
                    stub.GetDuplicateGroup,
                    review_pb2.GetDuplicateGroupRequest(
                        application_number=to_check, purpose="障害の検査"
                    ),
                    checker,
                ),
                "ExportForWard": code_of(
                    stub.ExportForWard,
                    review_pb2.ExportForWardRequest(request_id=_rid(), program_id=PROGRAM),
                    ward,
                    timeout=300,
                ),
            }
            assert outcome == dict.fromkeys(outcome, grpc.StatusCode.UNAVAILABLE)
            assert written(admin_engine, [to_check, checked]) == before
            # what needs only review's own data still answers
            assert stub.GetCase(
                review_pb2.GetCaseRequest(application_number=to_check), metadata=checker
            ).claimed_by
    finally:
        own_review.stop(grace=0.5)
        own_intake.stop(grace=0.5)


@contextmanager
def checked_cases_intake_does_not_have(admin: Engine, how_many: int) -> Iterator[list[str]]:
    """Cases ready for the ward whose applications intake never had (removed afterwards, so
    that no other test hands them over)."""
    tag = uuid.uuid4().int % 10**6
    numbers = [f"S2025-X{tag:06d}{i:04d}" for i in range(how_many)]
    with admin.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO review.cases (application_number, program_id, received_on, "
                "channel, state, rules_amount, proposal_granted) VALUES (:n, :p, "
                "'2025-06-10', 'online', 'CHECKED', 16000, true)"
            ),
            [{"n": n, "p": PROGRAM} for n in numbers],
        )
    try:
        yield numbers
    finally:
        with admin.begin() as connection:
            connection.execute(
                text("DELETE FROM review.cases WHERE application_number = ANY(:ns)"),
                {"ns": numbers},
            )


def test_an_export_with_intake_down_answers_unavailable_promptly(
    environment: Environment, addresses: dict[str, str], admin_engine: Engine
) -> None:
    """The export reads every application from intake; the first read that fails ends it
    (not one retry cycle per application still queued)."""
    nowhere = {**addresses, "intake": f"127.0.0.1:{_free_port()}"}
    own = build_review(environment, programs(), addresses=nowhere)
    ward = Tokens.of(
        environment.settings.state_dir, make_engine(environment.infrastructure.database_url)
    ).staff("ward_officer", "failure-ward")
    try:
        with (
            checked_cases_intake_does_not_have(admin_engine, 160) as numbers,
            review_stub(environment, own) as stub,
        ):
            before = written(admin_engine, numbers)
            outcome = code_of(
                stub.ExportForWard,
                review_pb2.ExportForWardRequest(request_id=_rid(), program_id=PROGRAM),
                ward,
                timeout=300,
            )
            assert outcome == grpc.StatusCode.UNAVAILABLE
            assert written(admin_engine, numbers) == before
    finally:
        own.stop(grace=0.5)


@contextmanager
def a_case_intake_does_not_have(admin: Engine) -> Iterator[str]:
    """A case in review whose application intake never had (a restored backup, say)."""
    number = f"S2025-{uuid.uuid4().int % 10**8:08d}"
    with admin.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO review.cases (application_number, program_id, received_on, "
                "channel, state, claimed_by, claim_expires_at) VALUES (:n, :p, '2025-06-10', "
                "'online', 'RECEIVED', 'failure-checker', now() + interval '1 hour')"
            ),
            {"n": number, "p": PROGRAM},
        )
    try:
        yield number
    finally:
        with admin.begin() as connection:
            connection.execute(
                text("DELETE FROM review.commands WHERE application_number = :n"), {"n": number}
            )
            connection.execute(
                text("DELETE FROM review.cases WHERE application_number = :n"), {"n": number}
            )


def test_an_application_intake_does_not_know_is_not_found(
    environment: Environment, admin_engine: Engine, intake: Client, review: ServiceProcess
) -> None:
    checker = intake.staff("checker", "failure-checker")
    with (
        a_case_intake_does_not_have(admin_engine) as number,
        review_stub(environment, review) as stub,
    ):
        before = written(admin_engine, [number])
        outcome = {
            "GetCheck": code_of(
                stub.GetCheck,
                review_pb2.GetCheckRequest(application_number=number, purpose="障害の検査"),
                checker,
            ),
            "RecordCheck": code_of(
                stub.RecordCheck,
                review_pb2.RecordCheckRequest(
                    request_id=_rid(), application_number=number, confirmed=ALL_ITEMS
                ),
                checker,
            ),
            "GetDuplicateGroup": code_of(
                stub.GetDuplicateGroup,
                review_pb2.GetDuplicateGroupRequest(application_number=number, purpose="検査"),
                checker,
            ),
        }
        assert outcome == dict.fromkeys(outcome, grpc.StatusCode.NOT_FOUND)
        assert written(admin_engine, [number]) == before


def test_intake_refusing_reviews_read_is_failed_precondition_not_internal(
    environment: Environment,
    addresses: dict[str, str],
    admin_engine: Engine,
    intake: Client,
    review: ServiceProcess,
) -> None:
    """Review's intake address leads to a server that refuses review's reads (here: the
    review server itself, whose table names no intake RPC: PERMISSION_DENIED)."""
    number = submit(intake, **person("拒否"))
    arrive(intake, admin_engine, [number])
    misdirected = {**addresses, "intake": review.address}
    own = build_review(environment, programs(), addresses=misdirected)
    checker = intake.staff("checker", "failure-checker")
    try:
        with review_stub(environment, own) as stub:
            before = written(admin_engine, [number])
            with pytest.raises(grpc.RpcError) as raised:
                stub.GetCheck(
                    review_pb2.GetCheckRequest(application_number=number, purpose="障害の検査"),
                    metadata=checker,
                    timeout=60,
                )
            assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "PERMISSION_DENIED" in (raised.value.details() or "")
            assert written(admin_engine, [number]) == before
    finally:
        own.stop(grace=0.5)


# --- PostgreSQL ----------------------------------------------------------------------------


def test_postgres_down_gives_unavailable_and_nothing_half_written(
    environment: Environment,
    addresses: dict[str, str],
    private_database: PrivateDatabase,
    private_state: Path,
) -> None:
    database_url, own_environment = private_database.url, private_database.environment
    engine = make_engine(database_url)
    number = "S2025-00000001"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO review.cases (application_number, program_id, received_on, "
                "channel, state) VALUES (:n, :p, '2025-06-10', 'online', 'CHECKED')"
            ),
            {"n": number, "p": PROGRAM},
        )
    own = build_review(own_environment, programs(), addresses=addresses)
    tokens = Tokens.of(environment.settings.state_dir, engine)  # accounts of this database
    checker = tokens.staff("checker", "failure-checker")
    ward = tokens.staff("ward_officer", "failure-ward")
    try:
        with (
            review_stub(environment, own) as stub,
            review_stub(environment, own, "intake") as as_intake,
        ):
            assert stub.GetCase(
                review_pb2.GetCaseRequest(application_number=number), metadata=checker
            ).application_number
            before = written(engine, [number])
            stop_postgres(private_state)
            sealed = seal({"applications.csv": b"\xef\xbb\xbf"}, "failure-password-1")
            outcome = {
                "ListWorklist": code_of(
                    stub.ListWorklist, review_pb2.ListWorklistRequest(program_id=PROGRAM), checker
                ),
                "GetCase": code_of(
                    stub.GetCase, review_pb2.GetCaseRequest(application_number=number), checker
                ),
                "ClaimApplication": code_of(
                    stub.ClaimApplication,
                    review_pb2.ClaimRequest(application_number=number),
                    checker,
                ),
                "GetCheck": code_of(
                    stub.GetCheck,
                    review_pb2.GetCheckRequest(application_number=number, purpose="障害の検査"),
                    checker,
                ),
                "RequestCorrection": code_of(
                    stub.RequestCorrection,
                    review_pb2.RequestCorrectionRequest(
                        request_id=_rid(),
                        application_number=number,
                        items=[events_pb2.CorrectionItem(field="receipt", problem="読めません")],
                    ),
                    checker,
                ),
                "ExpireCorrections": code_of(
                    stub.ExpireCorrections,
                    review_pb2.ExpireCorrectionsRequest(program_id=PROGRAM),
                    checker,
                ),
                "DecideApplication": code_of(
                    stub.DecideApplication,
                    review_pb2.DecideRequest(
                        request_id=_rid(),
                        application_number=number,
                        verdict=review_pb2.DECISION_VERDICT_REFUSE,
                        reasons=[common_pb2.NOT_RESIDENT],
                    ),
                    ward,
                ),
                "ExportForWard": code_of(
                    stub.ExportForWard,
                    review_pb2.ExportForWardRequest(request_id=_rid(), program_id=PROGRAM),
                    ward,
                ),
                "ImportWardDecisions": code_of(
                    stub.ImportWardDecisions,
                    review_pb2.ImportWardDecisionsRequest(
                        request_id=_rid(),
                        program_id=PROGRAM,
                        file_name="decisions.zip",
                        sealed_file=sealed,
                        password="failure-password-1",
                    ),
                    ward,
                ),
                "ListHandovers": code_of(
                    stub.ListHandovers, review_pb2.ListHandoversRequest(program_id=PROGRAM), ward
                ),
                "ExportHandoverLedger": code_of(
                    stub.ExportHandoverLedger,
                    review_pb2.ExportHandoverLedgerRequest(program_id=PROGRAM),
                    ward,
                ),
                "ApplicationChanged": code_of(
                    as_intake.ApplicationChanged,
                    events_pb2.ApplicationEvent(
                        event_id="received-S2025-00000002",
                        kind=events_pb2.ApplicationEvent.RECEIVED,
                        application_number="S2025-00000002",
                        program_id=PROGRAM,
                        received_on="2025-06-10",
                        channel=common_pb2.ONLINE,
                    ),
                ),
            }
            assert outcome == dict.fromkeys(outcome, grpc.StatusCode.UNAVAILABLE)
    finally:
        own.stop(grace=0.5)
    ensure_postgres(private_state)
    engine.dispose()  # its pooled connections died with the server
    try:
        assert written(engine, [number]) == before
        assert count(engine, "SELECT count(*) FROM review.processed_events") == 0
    finally:
        engine.dispose()


# --- Vault ---------------------------------------------------------------------------------


def _refused_by_vault(
    environment: Environment,
    addresses: dict[str, str],
    admin_engine: Engine,
    intake: Client,
    broken: Environment,
) -> grpc.RpcError:
    """RequestCorrection on a fresh case through a review server with a broken Vault."""
    number = submit(intake, **person("金庫"))
    arrive(intake, admin_engine, [number])
    own = build_review(broken, programs(), addresses=addresses)
    try:
        with review_stub(environment, own) as stub:
            before = written(admin_engine, [number])
            with pytest.raises(grpc.RpcError) as raised:
                stub.RequestCorrection(
                    review_pb2.RequestCorrectionRequest(
                        request_id=_rid(),
                        application_number=number,
                        items=[
                            events_pb2.CorrectionItem(field="receipt", problem="領収書が読めません")
                        ],
                    ),
                    metadata=intake.staff("checker", "failure-checker"),
                    timeout=60,
                )
            assert written(admin_engine, [number]) == before
            assert (
                count(
                    admin_engine,
                    "SELECT count(*) FROM review.corrections WHERE application_number = :n",
                    n=number,
                )
                == 0
            )
            return raised.value
    finally:
        own.stop(grace=0.5)


def test_vault_refusing_reviews_token_gives_permission_denied_and_nothing_written(
    environment: Environment,
    addresses: dict[str, str],
    admin_engine: Engine,
    intake: Client,
    review: ServiceProcess,
) -> None:
    broken = Environment(
        environment.settings,
        environment.infrastructure,
        {**environment.vault_tokens, "review": f"s.{uuid.uuid4().hex}"},
        environment.pki,
    )
    error = _refused_by_vault(environment, addresses, admin_engine, intake, broken)
    assert error.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAVAILABLE)
    assert "Vault" in (error.details() or "")


def test_vault_unreachable_gives_unavailable_and_nothing_written(
    environment: Environment,
    addresses: dict[str, str],
    admin_engine: Engine,
    intake: Client,
    review: ServiceProcess,
) -> None:
    broken = Environment(
        environment.settings,
        Infrastructure(
            environment.infrastructure.database_url,
            f"http://127.0.0.1:{_free_port()}",
            environment.infrastructure.vault_admin_token,
        ),
        environment.vault_tokens,
        environment.pki,
    )
    error = _refused_by_vault(environment, addresses, admin_engine, intake, broken)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "Vault" in (error.details() or "")
