"""Who may see and requeue parked outbox events, and what hostile input gets (issue 15).

Every maintenance RPC called on the running review service with every staff role and every
service identity (and the operator's): a caller the table (`MAINTENANCE_TABLE`: the purge
for the operator's certificate, the outbox status, list and requeue for staff role admin)
names is never refused, any other always is, and a refused requeue writes no audit event.
Hostile values (a huge key, NUL, an unknown or huge destination, a missing scope, a reason
too long or blank, too many keys) are INVALID_ARGUMENT naming the field, before any work,
without the value repeated in the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from admin_support import account
from intake_support import Client
from outbox_support import outbox_command
from sqlalchemy import Engine, text
from subsidy.maintenance.v1 import maintenance_pb2, maintenance_pb2_grpc

from subsidy_platform.access import ROLES
from subsidy_platform.declaration import declarations
from subsidy_platform.errors import field_violations
from subsidy_platform.maintenance import MAINTENANCE_TABLE, SERVICE_NAME
from subsidy_platform.process import ServiceProcess
from subsidy_platform.runtime import Environment
from subsidy_platform.staff_client import CONSOLE, staff_channel

# --- who may call ---------------------------------------------------------------------------


def maintenance_request(method: str) -> Any:
    """A request per maintenance RPC that changes nothing whoever is admitted."""
    return {
        "PurgeProgram": maintenance_pb2.PurgeProgramRequest(
            program_id="access-probe-program", erasure_id="access-probe"
        ),
        "GetOutboxStatus": maintenance_pb2.GetOutboxStatusRequest(),
        "ListParkedEvents": maintenance_pb2.ListParkedEventsRequest(limit=1),
        "RequeueParked": maintenance_pb2.RequeueParkedRequest(
            destination="payments",
            scope=maintenance_pb2.REQUEUE_SCOPE_KEYS,
            keys=["access-probe-not-parked"],
            reason="権限の試験",
        ),
    }[method]


SERVICE_CALLERS = [f"service:{name}" for name in (*declarations(), "operator")]
CALLERS = [*ROLES, *SERVICE_CALLERS]
ADMITTED = {grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION}


def call(intake: Client, address: str, method: str, caller: str) -> grpc.StatusCode:
    if caller.startswith("service:"):
        identity, metadata = caller.removeprefix("service:"), ()
    else:
        identity, metadata = CONSOLE, intake.staff(caller)
    with staff_channel(intake.environment.pki, address, identity) as channel:
        stub = maintenance_pb2_grpc.MaintenanceServiceStub(channel)
        try:
            getattr(stub, method)(maintenance_request(method), metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_the_maintenance_table_names_every_maintenance_rpc() -> None:
    served = maintenance_pb2.DESCRIPTOR.services_by_name["MaintenanceService"].methods_by_name
    assert {method.rsplit("/", 1)[1] for method in MAINTENANCE_TABLE} == set(served)


@pytest.mark.parametrize("method", sorted(m.rsplit("/", 1)[1] for m in MAINTENANCE_TABLE))
def test_each_maintenance_rpc_admits_exactly_the_callers_of_the_table(
    intake: Client, review: ServiceProcess, method: str
) -> None:
    allowed = MAINTENANCE_TABLE[f"/{SERVICE_NAME}/{method}"]
    outcome = {caller: call(intake, review.address, method, caller) for caller in CALLERS}
    denied = {c for c, code in outcome.items() if code == grpc.StatusCode.PERMISSION_DENIED}
    assert denied == set(CALLERS) - allowed, outcome
    admitted = {c: code for c, code in outcome.items() if c in allowed}
    assert set(admitted) == set(CALLERS) & allowed and set(admitted.values()) <= ADMITTED, outcome


def test_only_an_administrator_may_requeue_and_a_refused_caller_changes_nothing(
    review: ServiceProcess,
    intake: Client,
    auth: ServiceProcess,
    environment: Environment,
    admin_engine: Engine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auditor = account(admin_engine, "auditor", "outbox-auditor")
    refused = outbox_command(
        capsys,
        monkeypatch,
        auth,
        environment,
        review,
        auditor,
        "requeue",
        "--destination",
        "payments",
        "--all",
        "--reason",
        "権限のない再送",
    )
    assert refused.code == 1 and "PERMISSION_DENIED" in refused.err, refused
    with admin_engine.connect() as connection:
        audited = connection.execute(
            text("SELECT count(*) FROM audit.events WHERE action = 'requeue' AND actor = :a"),
            {"a": auditor},
        ).scalar_one()
    assert audited == 0


# --- hostile input --------------------------------------------------------------------------

HUGE = "k" * 100_000
HOSTILE = [
    pytest.param("destination", {"destination": "nosuchdestination"}, "nosuch", id="unknown"),
    pytest.param("destination", {"destination": "d" * 5000}, "ddddd", id="huge destination"),
    pytest.param("destination", {"destination": "pay\x00ments"}, "pay", id="NUL destination"),
    pytest.param("keys[0]", {"keys": [HUGE]}, "kkkkk", id="huge key"),
    pytest.param("keys[1]", {"keys": ["ok-key", "bad\x00key"]}, "bad", id="NUL in a key"),
    pytest.param("keys", {"keys": [f"k-{i}" for i in range(101)]}, "k-100", id="101 keys"),
    pytest.param("reason", {"reason": "理由\x00隠し"}, "隠し", id="NUL in the reason"),
    pytest.param("reason", {"reason": "長" * 201}, "長長長", id="reason of 201 characters"),
    pytest.param("reason", {"reason": "   "}, None, id="blank reason"),
    pytest.param(
        "scope", {"scope": maintenance_pb2.REQUEUE_SCOPE_UNSPECIFIED}, None, id="no scope"
    ),
    pytest.param(
        "keys",
        {"scope": maintenance_pb2.REQUEUE_SCOPE_ALL, "keys": ["some-key"]},
        "some-key",
        id="all with keys",
    ),
]


@pytest.fixture(scope="module")
def admin_stub(
    intake: Client, review: ServiceProcess
) -> Iterator[tuple[maintenance_pb2_grpc.MaintenanceServiceStub, Any]]:
    with staff_channel(intake.environment.pki, review.address) as channel:
        yield maintenance_pb2_grpc.MaintenanceServiceStub(channel), intake.staff("admin")


def refusal(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def shown(error: grpc.RpcError) -> str:
    """Everything the caller gets back: details, field violations, trailing metadata."""
    parts = [error.details() or ""]
    parts += [f"{v.field} {v.description}" for v in field_violations(error)]
    trailing = error.trailing_metadata() if isinstance(error, grpc.Call) else ()
    parts += [repr(value) for _, value in trailing or ()]
    return "\n".join(parts)


@pytest.mark.parametrize(("field", "changes", "secret"), HOSTILE)
def test_a_hostile_requeue_is_invalid_argument_naming_the_field_without_its_value(
    admin_stub: tuple[maintenance_pb2_grpc.MaintenanceServiceStub, Any],
    admin_engine: Engine,
    field: str,
    changes: dict[str, Any],
    secret: str | None,
) -> None:
    stub, metadata = admin_stub
    fields: dict[str, Any] = {
        "destination": "payments",
        "scope": maintenance_pb2.REQUEUE_SCOPE_KEYS,
        "keys": ["hostile-probe-key"],
        "reason": "敵対的入力の試験",
        **changes,
    }
    with admin_engine.connect() as connection:
        before = connection.execute(
            text("SELECT count(*) FROM audit.events WHERE action = 'requeue'")
        ).scalar_one()
    error = refusal(
        lambda: stub.RequeueParked(
            maintenance_pb2.RequeueParkedRequest(**fields), metadata=metadata, timeout=30
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in {v.field for v in field_violations(error)}
    if secret is not None:
        assert secret not in shown(error)
    with admin_engine.connect() as connection:
        after = connection.execute(
            text("SELECT count(*) FROM audit.events WHERE action = 'requeue'")
        ).scalar_one()
    assert after == before


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        pytest.param({"destination": "nosuchdestination"}, "destination", id="unknown"),
        pytest.param({"destination": "x\x00" * 3000}, "destination", id="huge with NUL"),
        pytest.param({"limit": 1001}, "limit", id="limit above 1000"),
        pytest.param({"limit": -1}, "limit", id="negative limit"),
    ],
)
def test_a_hostile_listing_is_invalid_argument_without_its_value(
    admin_stub: tuple[maintenance_pb2_grpc.MaintenanceServiceStub, Any],
    request_fields: dict[str, Any],
    field: str,
) -> None:
    stub, metadata = admin_stub
    error = refusal(
        lambda: stub.ListParkedEvents(
            maintenance_pb2.ListParkedEventsRequest(**request_fields),
            metadata=metadata,
            timeout=30,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(error)} == {field}
    assert "nosuch" not in shown(error) and "x\x00" not in shown(error)
