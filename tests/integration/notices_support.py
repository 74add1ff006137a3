"""Helpers for the notices integration tests: applications at intake, review's events sent
to notices under review's certificate, the operator's batch, and the outboxes run on demand
(synthetic people only)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from intake_support import PROGRAM, Client
from review_support import person, submit
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc

from subsidy_platform.process import ServiceProcess
from subsidy_platform.staff_client import staff_channel
from subsidy_platform.ward_clock import ward_today


def applicant(
    intake: Client, tag: str, postal_code: str = "160-0023", **changes: Any
) -> tuple[str, dict[str, Any]]:
    """An application at intake; (number, the fields that were sent)."""
    fields: dict[str, Any] = {**person(tag), "applicant.postal_code": postal_code, **changes}
    return submit(intake, **fields), fields


def as_review(notices: ServiceProcess, intake: Client) -> Any:
    return staff_channel(intake.environment.pki, notices.address, "review")


def decide(
    notices: ServiceProcess,
    intake: Client,
    number: str,
    *,
    granted: bool,
    amount: int = 0,
    reasons: tuple[str, ...] = (),
) -> None:
    event = events_pb2.DecisionEvent(
        event_id=f"decision-{number}",
        application_number=number,
        program_id=PROGRAM,
        granted=granted,
        amount=amount,
        reasons=[common_pb2.ReasonCode.Value(r) for r in reasons],
        decided_on=ward_today().isoformat(),
        decision_number=f"S2025-D-{uuid.uuid4().int % 10**6:06d}",
    )
    with as_review(notices, intake) as channel:
        notices_pb2_grpc.NoticesServiceStub(channel).DecisionMade(event, timeout=30)


def request_correction(notices: ServiceProcess, intake: Client, number: str) -> None:
    today = ward_today()
    event = events_pb2.CorrectionRequestEvent(
        event_id=f"correction-{uuid.uuid4().hex}",
        application_number=number,
        program_id=PROGRAM,
        items=[
            events_pb2.CorrectionItem(field="receipt", problem="領収書の写しが添付されていません")
        ],
        requested_on=today.isoformat(),
        deadline=today.replace(year=today.year + 1).isoformat(),
    )
    with as_review(notices, intake) as channel:
        notices_pb2_grpc.NoticesServiceStub(channel).CorrectionRequested(event, timeout=30)


def operator_stub(notices: ServiceProcess, intake: Client) -> Any:
    return staff_channel(intake.environment.pki, notices.address)


def download(stub: Any, intake: Client, batch_id: str) -> tuple[str, bytes]:
    manifest, data = "", bytearray()
    for chunk in stub.DownloadPrintFile(
        notices_pb2.DownloadPrintFileRequest(batch_id=batch_id),
        metadata=intake.staff("operator"),
        timeout=120,
    ):
        manifest = manifest or chunk.manifest_json
        data.extend(chunk.data)
    return manifest, bytes(data)


def deliver_statuses(
    notices: ServiceProcess, admin: Engine, *, expect_parked: int | Collection[str] = 0
) -> None:
    """Run notices' outbox now (statuses to intake's timeline); fails when an event parks
    beyond what `expect_parked` allows (a number, or keys)."""
    with admin.begin() as connection:
        connection.execute(
            text(
                "UPDATE notices.outbox SET next_attempt_at = now() WHERE id IN (SELECT id FROM "
                "notices.outbox WHERE delivered_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED)"
            )
        )
    relay = notices.context.relay
    assert relay is not None
    assert relay.drain(timeout=60, expect_parked=expect_parked)
