"""Persistence of application timelines (intake owns every application's status history).

Part of intake's repository (repository.py: `repo.timeline`): SQL only here, rows leave as
`TimelineEntry`. Intake's own steps keep the application's status; another service's
report (review, payments, notices) moves it, once per request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from subsidy_intake.orm import ApplicationRow, StatusEventRow
from subsidy_platform.errors import NotFound

if TYPE_CHECKING:
    from subsidy_intake.repository import StoredApplication


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step of an application's timeline."""

    at: datetime
    status: str
    actor: str
    service: str
    note: str | None


DECISIONS = ("GRANTED", "NOT_GRANTED", "WITHDRAWN", "GRANT_REVOKED")
"""The steps that decide whether an application may be paid."""


def _entry(row: StatusEventRow) -> TimelineEntry:
    return TimelineEntry(row.at, row.status, row.actor, row.service, row.note)


class TimelineRepository:
    """The status events of applications through one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def of(self, application_id: int) -> list[TimelineEntry]:
        """An application's steps, oldest first."""
        return [
            _entry(event)
            for event in self.session.scalars(
                select(StatusEventRow)
                .where(StatusEventRow.application_id == application_id)
                .order_by(StatusEventRow.at, StatusEventRow.id)
            )
        ]

    def granted(self, application_id: int) -> bool:
        """Whether the application's latest decision on its timeline is a grant (GRANTED,
        not followed by NOT_GRANTED, WITHDRAWN or GRANT_REVOKED)."""
        latest = self.session.scalars(
            select(StatusEventRow.status)
            .where(
                StatusEventRow.application_id == application_id,
                StatusEventRow.status.in_(DECISIONS),
            )
            .order_by(StatusEventRow.at.desc(), StatusEventRow.id.desc())
            .limit(1)
        ).first()
        return latest == "GRANTED"

    def by_request(self, request_id: str) -> TimelineEntry | None:
        """The step recorded under a request id, if any."""
        event = self.session.scalar(
            select(StatusEventRow).where(StatusEventRow.request_id == request_id)
        )
        return _entry(event) if event is not None else None

    def add_step(
        self, application: StoredApplication, actor: str, note: str | None, request_id: str | None
    ) -> None:
        """An intake step at the application's current status (the status does not change)."""
        self.session.add(
            StatusEventRow(
                application_id=application.id,
                status=application.status,
                actor=actor,
                service="intake",
                note=note,
                request_id=request_id,
            )
        )
        self.session.flush()

    def report(
        self,
        application_id: int,
        status: str,
        *,
        actor: str,
        service: str,
        note: str | None,
        request_id: str,
    ) -> TimelineEntry:
        """Move an application to `status` with its step (another service's report)."""
        application = self.session.get(ApplicationRow, application_id)
        if application is None:
            raise NotFound("申請", str(application_id))
        event = StatusEventRow(
            application_id=application_id,
            status=status,
            actor=actor,
            service=service,
            note=note,
            request_id=request_id,
        )
        self.session.add(event)
        application.status = status
        self.session.flush()
        self.session.refresh(event)
        return _entry(event)
