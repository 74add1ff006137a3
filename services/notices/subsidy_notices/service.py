"""What every notices use case shares: its dependencies, the read of an application from
intake, status reports to intake's timeline, and the settings of the print path.

Applications are read from intake under notices' own service identity with a stated
purpose; intake sends contact details with the bank account already masked (notices'
Vault policy has no bank key). Intake's answers map to notices' statuses as review's do:
unknown application NOT_FOUND; intake down or failing UNAVAILABLE (nothing written; the
outbox delivering review's event retries); intake refusing FAILED_PRECONDITION naming
intake's status. Settings come from the environment: `NOTICES_RETENTION_DAYS` (days the
print data is kept after mailing is confirmed, default 7), `NOTICES_TEMPLATES` and
`NOTICES_POSTAGE_OFFICE` (wording.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import grpc
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc

from subsidy_notices.repository import Cipher, NoticesRepository
from subsidy_platform.application_proto import record_from_proto
from subsidy_platform.clients import ServiceClients
from subsidy_platform.errors import (
    Conflict,
    DependencyUnavailable,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from subsidy_platform.limits import shown
from subsidy_platform.unit_of_work import UnitOfWork, Work
from subsidy_platform.ward_clock import ward_today
from subsidy_rules.program import Program

STATUS_TOPIC = "notices.status"
DEFAULT_RETENTION_DAYS = 7
MAX_RETENTION_DAYS = 365
INTAKE_FAILING = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DATA_LOSS,
    }
)
MESSAGE_INTAKE_FAILING = "受付サービスから申請を読み出せません。しばらくしてからやり直してください"
MESSAGE_INTAKE_REFUSED = "受付サービスが申請の読み出しを拒否しました"


def retention_days(environ: Mapping[str, str] = os.environ) -> int:
    """Days print data is kept after mailing (NOTICES_RETENTION_DAYS, 0 to 365)."""
    value = environ.get("NOTICES_RETENTION_DAYS", "").strip()
    if not value:
        return DEFAULT_RETENTION_DAYS
    if not value.isdigit() or int(value) > MAX_RETENTION_DAYS:
        raise ValueError("NOTICES_RETENTION_DAYS must be a whole number of days, 0 to 365")
    return int(value)


@dataclass
class Notices:
    """The notices use cases' dependencies (built once per process by main.py)."""

    uow: UnitOfWork[NoticesRepository]
    cipher_for: Callable[[str], Cipher]
    programs: Mapping[str, Program]
    clients: ServiceClients
    retention_days: int = DEFAULT_RETENTION_DAYS

    def program(self, program_id: str) -> Program:
        program = self.programs.get(program_id)
        if program is None:
            raise InvalidArgument([FieldViolation("program_id", "制度IDが登録されていません")])
        return program

    def repo(self, work: Work[NoticesRepository], program_id: str) -> NoticesRepository:
        return work.repo.with_cipher(self.cipher_for(program_id))

    def read_application(self, number: str, purpose: str) -> tuple[str, dict[str, Any]]:
        """(program id, record) of the application as intake shows a service (bank masked)."""
        stub = self.clients.stub("intake", intake_pb2_grpc.IntakeServiceStub)
        request = intake_pb2.GetApplicationRequest(application_number=number, purpose=purpose)
        try:
            view: intake_pb2.ApplicationView = self.clients.call(
                stub.GetApplication, request, idempotent=True
            )
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
            if code == grpc.StatusCode.NOT_FOUND:
                raise NotFound("申請", shown(number)) from error
            if code in INTAKE_FAILING:
                raise DependencyUnavailable(MESSAGE_INTAKE_FAILING) from error
            raise Conflict(f"{MESSAGE_INTAKE_REFUSED}（{code.name}）") from error
        return view.program_id, record_from_proto(view.application)


def report_status(
    work: Work[NoticesRepository], program_id: str, number: str, status: str, note: str
) -> None:
    """Publish a timeline status to intake (through the outbox)."""
    key = f"notices-{uuid.uuid4().hex}"
    work.publish(
        STATUS_TOPIC,
        key,
        intake_pb2.ReportStatusTransitionRequest(
            request_id=key,
            application_number=number,
            status=common_pb2.ApplicationStatus.Value(status),
            note=note[:200],
        ),
        program_id=program_id,
    )


def today() -> date:
    return ward_today()


def parse_date(value: str, field: str, *, default: date | None = None) -> date:
    if not value and default is not None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            [FieldViolation(field, "日付は YYYY-MM-DD で入力してください")]
        ) from None
