"""Intake's events: an application arrived or was corrected (transactional outbox, issue 6).

Written in the same transaction as the applications they describe (subsidy_platform.outbox),
delivered to every service subscribed to `intake.application` (review) with the event id as
idempotency key. An event names the application, its program, received date and channel, and
the probable duplicates intake found (application numbers and evidence); no personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2

from subsidy_intake.convert import CHANNEL_CODES
from subsidy_intake.orm import ApplicationRow
from subsidy_platform.outbox import enqueue

TOPIC = "intake.application"
PUBLISHED = "published_events"


def publish_received(
    session: Session,
    rows: Sequence[ApplicationRow],
    duplicates: Mapping[int, Sequence[tuple[str, str]]],
) -> None:
    """One RECEIVED event per stored application; `duplicates`: row id -> (number, evidence)."""
    for row in rows:
        _publish(
            session,
            events_pb2.ApplicationEvent.RECEIVED,
            f"received-{row.application_number}",
            row,
            duplicates.get(row.id, ()),
        )


def publish_corrected(
    session: Session,
    row: ApplicationRow,
    correction_id: str,
    duplicates: Sequence[tuple[str, str]],
) -> None:
    """A CORRECTED event for a correction (補正) keyed in for `row`."""
    _publish(
        session,
        events_pb2.ApplicationEvent.CORRECTED,
        f"corrected-{correction_id}",
        row,
        duplicates,
    )


def _publish(
    session: Session,
    kind: events_pb2.ApplicationEvent.Kind.ValueType,
    key: str,
    row: ApplicationRow,
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
    written = enqueue(session, "intake", TOPIC, key, event)
    session.info[PUBLISHED] = session.info.get(PUBLISHED, 0) + written
