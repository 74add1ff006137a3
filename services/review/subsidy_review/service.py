"""What every review use case shares: the unit of work, the state machine applied to a
case, status reports to intake's timeline, and reads of applications from intake.

A use case is `(review, caller, command) -> result`. It moves a case only through
`move(work, case, command)`, which asks the pure state machine (states.py) for the next
state, stores it, writes an audit event of the application naming the staff member and
the change (so that the auditor's search by application shows every step: a reduced
decision, its rejection or approval, an expiry, an extension, a duplicate resolution)
and, when the timeline status changes, publishes a `review.status` event (intake's
ReportStatusTransition, delivered by the outbox). A move into 交付決定 is first checked
against the household's other applications (households.py: one live grant). Applications
are read from
intake under review's service identity, with a purpose naming the staff member review acts
for; bank details never reach review. Intake's answers map to review's statuses: an
application intake does not know is NOT_FOUND; intake down, slow or failing is UNAVAILABLE
(nothing written; `clients.call` has retried); intake refusing review's read (a permission,
an argument, a destroyed key) is FAILED_PRECONDITION naming intake's status. Never INTERNAL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import grpc
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc

from subsidy_platform.access import Principal, current_principal
from subsidy_platform.application_proto import record_from_proto
from subsidy_platform.clients import ServiceClients
from subsidy_platform.errors import (
    Conflict,
    DependencyUnavailable,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from subsidy_platform.limits import bounded_text, shown
from subsidy_platform.unit_of_work import UnitOfWork, Work
from subsidy_platform.ward_clock import ward_today
from subsidy_review.households import refuse_second_grant
from subsidy_review.repository import Case, Cipher, ReviewRepository
from subsidy_review.states import (
    COMMAND_LABELS,
    LABELS,
    CaseState,
    Command,
    next_state,
    timeline_status,
)
from subsidy_rules.program import Program

STATUS_TOPIC = "review.status"
DECISION_TOPIC = "review.decision"
REVOCATION_TOPIC = "review.revocation"
CORRECTION_TOPIC = "review.correction"
STATE_CHANGE_RPC = "ChangeCaseState"
"""The audit events' `rpc` of a case's state change (`audit_change`)."""
MAX_PURPOSE = 200
T = TypeVar("T")
# Intake could not answer now: worth retrying later.
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


@dataclass
class Review:
    """The review use cases' dependencies (built once per process by main.py)."""

    uow: UnitOfWork[ReviewRepository]
    cipher_for: Callable[[str], Cipher]
    programs: Mapping[str, Program]
    clients: ServiceClients

    def program(self, program_id: str) -> Program:
        program = self.programs.get(program_id)
        if program is None:
            raise InvalidArgument([FieldViolation("program_id", "制度IDが登録されていません")])
        return program

    def repo(self, work: Work[ReviewRepository], program_id: str) -> ReviewRepository:
        return work.repo.with_cipher(self.cipher_for(program_id))

    # intake -------------------------------------------------------------------------

    def intake(self) -> intake_pb2_grpc.IntakeServiceStub:
        return self.clients.stub("intake", intake_pb2_grpc.IntakeServiceStub)

    def ask_intake(self, method: Callable[..., T], request: Any, number: str) -> T:
        """One read from intake about application `number`, its failures as review's
        statuses (module docstring)."""
        try:
            return self.clients.call(method, request, idempotent=True)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
            if code == grpc.StatusCode.NOT_FOUND:
                raise NotFound("申請", shown(number)) from error
            if code in INTAKE_FAILING:
                raise DependencyUnavailable(MESSAGE_INTAKE_FAILING) from error
            raise Conflict(f"{MESSAGE_INTAKE_REFUSED}（{code.name}）") from error

    def read_application(self, number: str, who: Principal, purpose: str) -> dict[str, Any]:
        """The application as review may see it (contact details; bank masked), audited."""
        stated = bounded_text("purpose", purpose, MAX_PURPOSE, required=True)
        view: intake_pb2.ApplicationView = self.ask_intake(
            self.intake().GetApplication,
            intake_pb2.GetApplicationRequest(
                application_number=number, purpose=f"審査 {who.subject}: {stated}"[:MAX_PURPOSE]
            ),
            number,
        )
        return record_from_proto(view.application)

    def missing_attachments(self, number: str) -> list[str]:
        checklist: intake_pb2.AttachmentChecklist = self.ask_intake(
            self.intake().GetAttachmentChecklist,
            intake_pb2.GetAttachmentChecklistRequest(application_number=number),
            number,
        )
        return list(checklist.missing)


def move(
    work: Work[ReviewRepository],
    case: Case,
    command: Command,
    *,
    note: str = "",
    who: Principal | None = None,
    **updates: Any,
) -> CaseState:
    """Apply `command` to `case` (the state machine decides), store it, report the status,
    and audit the change (`audit_change`)."""
    before = CaseState(case.state)
    after = next_state(before, command)
    if after == CaseState.GRANTED:
        refuse_second_grant(work, case)
    work.repo.update_case(case.application_number, state=str(after), **updates)
    if timeline_status(after) != timeline_status(before):
        report_status(work, case.program_id, case.application_number, after, note)
    audit_change(work, who, case.application_number, command, before, after)
    return after


def audit_change(
    work: Work[ReviewRepository],
    who: Principal | None,
    number: str,
    command: Command,
    before: CaseState,
    after: CaseState,
) -> None:
    """Every change a staff member makes to a case is an audit event of the application:
    who (`who`, or the caller of the RPC being handled), what and why (the command and the
    states, in Japanese; never a free text staff wrote). A change that another service's
    event makes (intake's correction or duplicate flag) is audited by that service."""
    actor = who if who is not None else current_principal()
    if actor.kind != "staff":
        return
    work.audit(
        actor,
        STATE_CHANGE_RPC,
        "update",
        application=number,
        fields=("state",),
        purpose=f"{COMMAND_LABELS[command]}（{LABELS[before]}→{LABELS[after]}）",
    )


def report_status(
    work: Work[ReviewRepository], program_id: str, number: str, state: CaseState, note: str = ""
) -> None:
    """Publish the case's timeline status to intake (through the outbox)."""
    key = f"review-{number}-{state.lower()}-{uuid.uuid4().hex[:12]}"
    work.publish(
        STATUS_TOPIC,
        key,
        intake_pb2.ReportStatusTransitionRequest(
            request_id=key,
            application_number=number,
            status=common_pb2.ApplicationStatus.Value(timeline_status(state)),
            note=note[:200],
        ),
        program_id=program_id,
    )


def today() -> date:
    return ward_today()
