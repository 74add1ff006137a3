"""Intake's events: an application arrived or was corrected (transactional outbox, issue 6).

Written through the unit of work (`work.publish`) in the same transaction as the applications
they describe (subsidy_platform.outbox), delivered to every service subscribed to
`intake.application` (review) with the event id as idempotency key. An event names the
application, its program, received date and channel, and the probable duplicates intake found
(application numbers and evidence); no personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2

from subsidy_intake.convert import CHANNEL_CODES
from subsidy_intake.repository import IntakeRepository, StoredApplication
from subsidy_platform.unit_of_work import Work

TOPIC = "intake.application"


def publish_received(
    work: Work[IntakeRepository],
    applications: Sequence[StoredApplication],
    duplicates: Mapping[int, Sequence[tuple[str, str]]],
) -> None:
    """One RECEIVED event per stored application; `duplicates`: its id -> (number, evidence)."""
    for row in applications:
        _publish(
            work,
            events_pb2.ApplicationEvent.RECEIVED,
            f"received-{row.application_number}",
            row,
            duplicates.get(row.id, ()),
        )


def publish_corrected(
    work: Work[IntakeRepository],
    row: StoredApplication,
    correction_id: str,
    duplicates: Sequence[tuple[str, str]],
) -> None:
    """A CORRECTED event for a correction (補正) keyed in for `row`."""
    _publish(
        work,
        events_pb2.ApplicationEvent.CORRECTED,
        f"corrected-{correction_id}",
        row,
        duplicates,
    )


def _publish(
    work: Work[IntakeRepository],
    kind: events_pb2.ApplicationEvent.Kind.ValueType,
    key: str,
    row: StoredApplication,
    duplicates: Sequence[tuple[str, str]],
) -> None:
    event = events_pb2.ApplicationEvent(
        event_id=key,
        kind=kind,
        application_number=row.application_number,
        program_id=row.program_id,
        received_on=row.received_on.isoformat(),
        channel=CHANNEL_CODES[row.channel],
        duplicates=[
            common_pb2.DuplicateFlag(
                other_application_number=number, evidence=common_pb2.ReasonCode.Value(evidence)
            )
            for number, evidence in sorted(set(duplicates))
        ],
        occurred_at=datetime.now(UTC).isoformat(),
    )
    work.publish(TOPIC, key, event)
