"""gRPC servicer of the review service: request -> use case -> response, nothing else."""

from __future__ import annotations

from typing import Any

import grpc
from subsidy.common.v1 import common_pb2
from subsidy.events.v1 import events_pb2
from subsidy.review.v1 import review_pb2, review_pb2_grpc

from subsidy_platform.access import current_principal
from subsidy_platform.application_proto import CHANNEL_CODES, record_to_proto
from subsidy_platform.errors import Conflict, FieldViolation, InvalidArgument, PlatformError
from subsidy_platform.servicing import rpc_errors
from subsidy_review import (
    checks,
    corrections,
    decisions,
    duplicates,
    granted_decisions,
    ledger,
    revocations,
    ward,
    worklist,
)
from subsidy_review.duplicates import strength
from subsidy_review.intake_events import apply_application_event
from subsidy_review.repository import Case, Correction
from subsidy_review.service import Review
from subsidy_review.states import LABELS, CaseState, TransitionRefused


def _translate(error: Exception) -> PlatformError | None:
    if isinstance(error, TransitionRefused):
        return Conflict(error.message)
    return None


rpc = rpc_errors(_translate)
DECISION_STATES = {
    granted_decisions.GRANTED_STATE: review_pb2.DECISION_GRANTED,
    granted_decisions.REVOKED_STATE: review_pb2.DECISION_REVOKED,
}
DELIVERIES = {
    "MISSING": review_pb2.EVENT_MISSING,
    "PENDING": review_pb2.EVENT_PENDING,
    "DELIVERED": review_pb2.EVENT_DELIVERED,
    "PARKED": review_pb2.EVENT_PARKED,
}


def _reasons(codes: Any) -> list[common_pb2.ReasonCode.ValueType]:
    return [common_pb2.ReasonCode.Value(c) for c in codes]


def reason_names(values: Any, field: str = "reasons") -> list[str]:
    """The names of a request's reason codes (UNSPECIFIED dropped); a value the enum does
    not define is INVALID_ARGUMENT naming `field`, never a ValueError."""
    names = []
    for value in values:
        if value == common_pb2.REASON_CODE_UNSPECIFIED:
            continue
        try:
            names.append(common_pb2.ReasonCode.Name(value))
        except ValueError:
            raise InvalidArgument([FieldViolation(field, "理由コードが正しくありません")]) from None
    return names


def _correction(c: Correction) -> review_pb2.CorrectionRequest:
    return review_pb2.CorrectionRequest(
        requested_on=c.requested_on.isoformat(),
        deadline=c.deadline.isoformat(),
        items=[events_pb2.CorrectionItem(field=f, problem=p) for f, p in c.items],
        requested_by=c.requested_by,
        corrected_on=c.corrected_on.isoformat() if c.corrected_on else "",
        expired=c.expired,
    )


def case_proto(
    case: Case, found: tuple[list[Correction], int] | None = None, decision: Any = None
) -> review_pb2.Case:
    state = CaseState(case.state)
    message = review_pb2.Case(
        application_number=case.application_number,
        program_id=case.program_id,
        state=review_pb2.CaseState.Value(state.value),
        state_label=LABELS[state],
        received_on=case.received_on.isoformat(),
        channel=CHANNEL_CODES.get(case.channel, common_pb2.CHANNEL_UNSPECIFIED),
        claimed_by=case.claimed_by or "",
        claim_expires_at=case.claim_expires_at.isoformat() if case.claim_expires_at else "",
        checked_on=case.checked_on.isoformat() if case.checked_on else "",
        checked_by=case.checked_by or "",
        attachments_complete=case.attachments_complete,
        rules_amount=case.rules_amount,
        proposal_granted=case.proposal_granted,
        proposal_reasons=_reasons(case.proposal_reasons),
    )
    if found is not None:
        message.corrections.extend(_correction(c) for c in found[0])
        message.open_duplicate_flags = found[1]
    if decision is not None:
        message.decided_on = decision.decided_on.isoformat()
        message.decided_by = decision.decided_by
        message.granted_amount = decision.amount
        message.decision_reasons.extend(_reasons(decision.reasons))
        message.decision_number = decision.decision_number
    return message


FILTERS = {
    review_pb2.WORKLIST_FILTER_UNSPECIFIED: "ALL",
    review_pb2.TO_CHECK: "TO_CHECK",
    review_pb2.FLAGGED_DUPLICATES: "FLAGGED_DUPLICATES",
    review_pb2.MISSING_ATTACHMENTS: "MISSING_ATTACHMENTS",
    review_pb2.AWAITING_CORRECTION_FILTER: "AWAITING_CORRECTION",
    review_pb2.READY_FOR_WARD: "READY_FOR_WARD",
    review_pb2.WITH_THE_WARD: "WITH_THE_WARD",
}


VERDICTS = {
    review_pb2.REDUCTION_VERDICT_APPROVE: decisions.Verdict.APPROVE,
    review_pb2.REDUCTION_VERDICT_REJECT: decisions.Verdict.REJECT,
}
"""An ApproveReducedGrant's verdict; UNSPECIFIED (or a value not defined) maps to None,
which the use case refuses."""

DECISIONS = {
    review_pb2.DECISION_VERDICT_GRANT: decisions.DecisionVerdict.GRANT,
    review_pb2.DECISION_VERDICT_REFUSE: decisions.DecisionVerdict.REFUSE,
}
"""A DecideApplication's verdict; UNSPECIFIED (or a value not defined) maps to None, which
the use case refuses."""


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    def __init__(self, review: Review) -> None:
        self.review = review

    @rpc
    def ApplicationChanged(
        self, request: events_pb2.ApplicationEvent, context: grpc.ServicerContext
    ) -> events_pb2.Ack:
        apply_application_event(self.review, request)
        return events_pb2.Ack()

    @rpc
    def ListWorklist(
        self, request: review_pb2.ListWorklistRequest, context: grpc.ServicerContext
    ) -> review_pb2.ListWorklistResponse:
        page = worklist.list_worklist(
            self.review,
            request.program_id,
            FILTERS.get(request.filter, "?"),
            request.page_size,
            request.page_token,
        )
        return review_pb2.ListWorklistResponse(
            cases=[case_proto(c) for c in page.cases],
            next_page_token=page.next_token,
            total=page.total,
        )

    @rpc
    def ClaimApplication(
        self, request: review_pb2.ClaimRequest, context: grpc.ServicerContext
    ) -> review_pb2.Case:
        case = checks.claim(
            self.review, current_principal(), request.application_number, request.minutes
        )
        return case_proto(case)

    @rpc
    def ReleaseClaim(
        self, request: review_pb2.ClaimRequest, context: grpc.ServicerContext
    ) -> review_pb2.Case:
        return case_proto(
            checks.release(self.review, current_principal(), request.application_number)
        )

    @rpc
    def GetCheck(
        self, request: review_pb2.GetCheckRequest, context: grpc.ServicerContext
    ) -> review_pb2.CheckView:
        result = checks.get_check(
            self.review, current_principal(), request.application_number, request.purpose
        )
        decision = result.decision
        rules = review_pb2.RuleResult()
        if decision is not None:
            rules = review_pb2.RuleResult(
                eligible=decision.eligible,
                amount=decision.amount,
                eligible_cost=decision.eligible_cost,
                reasons=_reasons(decision.reasons),
                messages=[r.message for r in decision.reasons],
            )
        elif result.format_problem:
            rules.messages.append(result.format_problem)
        return review_pb2.CheckView(
            case=case_proto(result.case),
            application=record_to_proto(result.record),
            rules=rules,
            manual_items=[
                review_pb2.ManualItem(
                    kind=kind, label=label, confirmed=kind in result.case.confirmed_items
                )
                for kind, label in checks.MANUAL_ITEMS.items()
            ],
            missing_attachments=result.missing_attachments,
        )

    @rpc
    def RecordCheck(
        self, request: review_pb2.RecordCheckRequest, context: grpc.ServicerContext
    ) -> review_pb2.Case:
        case = checks.record_check(
            self.review,
            current_principal(),
            request.request_id,
            request.application_number,
            list(request.confirmed),
            request.note,
        )
        return case_proto(case)

    @rpc
    def GetDuplicateGroup(
        self, request: review_pb2.GetDuplicateGroupRequest, context: grpc.ServicerContext
    ) -> review_pb2.DuplicateGroup:
        group = duplicates.get_group(
            self.review, current_principal(), request.application_number, request.purpose
        )
        return _group(group)

    @rpc
    def ResolveDuplicates(
        self, request: review_pb2.ResolveDuplicatesRequest, context: grpc.ServicerContext
    ) -> review_pb2.DuplicateGroup:
        which = request.WhichOneof("resolution")
        group = duplicates.resolve(
            self.review,
            current_principal(),
            request.request_id,
            request.application_number,
            request.keep if which == "keep" else None,
            request.clear_reason if which == "clear_reason" else None,
        )
        return _group(group)

    @rpc
    def RequestCorrection(
        self, request: review_pb2.RequestCorrectionRequest, context: grpc.ServicerContext
    ) -> review_pb2.Case:
        case = corrections.request_correction(
            self.review,
            current_principal(),
            request.request_id,
            request.application_number,
            [(i.field, i.problem) for i in request.items],
            request.deadline,
        )
        return case_proto(case)

    @rpc
    def ExtendCorrectionDeadline(
        self, request: review_pb2.ExtendDeadlineRequest, context: grpc.ServicerContext
    ) -> review_pb2.Case:
        case = corrections.extend_deadline(
            self.review,
            current_principal(),
            request.request_id,
            request.application_number,
            request.deadline,
        )
        return case_proto(case)

    @rpc
    def ExpireCorrections(
        self, request: review_pb2.ExpireCorrectionsRequest, context: grpc.ServicerContext
    ) -> review_pb2.ExpireCorrectionsResponse:
        expired = corrections.expire(
            self.review, current_principal(), request.program_id, request.as_of
        )
        return review_pb2.ExpireCorrectionsResponse(expired=expired)

    @rpc
    def GetCase(
        self, request: review_pb2.GetCaseRequest, context: grpc.ServicerContext
    ) -> review_pb2.Case:
        return self._full(request.application_number)

    def _full(self, number: str) -> review_pb2.Case:
        """A case with its corrections, open flags and decision."""
        case, found, flags, decision = ledger.get_case(self.review, number)
        return case_proto(case, (found, flags), decision)

    @rpc
    def ExportForWard(
        self, request: review_pb2.ExportForWardRequest, context: grpc.ServicerContext
    ) -> review_pb2.WardExport:
        export = ward.export_for_ward(
            self.review, current_principal(), request.request_id, request.program_id, request.limit
        )
        return review_pb2.WardExport(
            handover_id=export.handover_id,
            file_name=export.file_name,
            sealed_file=export.sealed,
            password=export.password,
            records=export.records,
            sha256=export.sha256,
        )

    @rpc
    def ImportWardDecisions(
        self, request: review_pb2.ImportWardDecisionsRequest, context: grpc.ServicerContext
    ) -> review_pb2.DecisionImportReport:
        report = ward.import_decisions(
            self.review,
            current_principal(),
            request.request_id,
            request.program_id,
            request.file_name,
            request.sealed_file,
            request.password,
        )
        return review_pb2.DecisionImportReport(
            committed=report.committed,
            rows=report.rows,
            granted=report.granted,
            not_granted=report.not_granted,
            pending_approval=report.pending_approval,
            undecided=report.undecided,
            errors=[
                review_pb2.RowReport(line=e.line, column=e.column, message=e.message)
                for e in report.errors
            ],
            handover_id=report.handover_id,
            sha256=report.sha256,
            encoding=report.encoding,
        )

    @rpc
    def DecideApplication(
        self, request: review_pb2.DecideRequest, context: grpc.ServicerContext
    ) -> review_pb2.Case:
        case = decisions.decide(
            self.review,
            current_principal(),
            request.request_id,
            request.application_number,
            verdict=DECISIONS.get(request.verdict),
            amount=request.amount,
            reasons=reason_names(request.reasons),
            reduction_reason=request.reduction_reason,
            note=request.note,
        )
        return self._full(case.application_number)

    @rpc
    def ApproveReducedGrant(
        self, request: review_pb2.ApproveReducedGrantRequest, context: grpc.ServicerContext
    ) -> review_pb2.Case:
        case = decisions.approve_reduction(
            self.review,
            current_principal(),
            request.request_id,
            request.application_number,
            VERDICTS.get(request.verdict),
        )
        return self._full(case.application_number)

    @rpc
    def ListHandovers(
        self, request: review_pb2.ListHandoversRequest, context: grpc.ServicerContext
    ) -> review_pb2.ListHandoversResponse:
        entries = ledger.list_handovers(self.review, request.program_id)
        return review_pb2.ListHandoversResponse(
            handovers=[
                review_pb2.Handover(
                    handover_id=e.handover_id,
                    at=e.at.isoformat(),
                    direction=e.direction,
                    handler=e.handler,
                    role=e.role,
                    content=e.content,
                    records=e.records,
                    file_name=e.file_name,
                    sha256=e.sha256,
                    program_id=e.program_id,
                )
                for e in entries
            ]
        )

    @rpc
    def ExportHandoverLedger(
        self, request: review_pb2.ExportHandoverLedgerRequest, context: grpc.ServicerContext
    ) -> review_pb2.LedgerFile:
        name, data = ledger.ledger_csv(self.review, request.program_id)
        return review_pb2.LedgerFile(file_name=name, csv=data)

    @rpc
    def ListGrantedDecisions(
        self, request: review_pb2.ListGrantedDecisionsRequest, context: grpc.ServicerContext
    ) -> review_pb2.ListGrantedDecisionsResponse:
        page = granted_decisions.list_granted_decisions(
            self.review,
            current_principal(),
            request.program_id,
            request.after_application_number,
            request.limit,
            request.purpose,
        )
        return review_pb2.ListGrantedDecisionsResponse(
            decisions=[
                review_pb2.GrantedDecision(
                    application_number=d.application_number,
                    amount=d.amount,
                    decision_number=d.decision_number,
                    decided_on=d.decided_on.isoformat(),
                    state=DECISION_STATES.get(
                        granted_decisions.decision_state(d.case_state),
                        review_pb2.DECISION_STATE_UNSPECIFIED,
                    ),
                    delivery=DELIVERIES[d.delivery],
                )
                for d in page.decisions
            ],
            next_after=page.next_after,
            parked_events=page.parked_events,
        )

    @rpc
    def ListPendingClearings(
        self, request: review_pb2.ListPendingClearingsRequest, context: grpc.ServicerContext
    ) -> review_pb2.ListPendingClearingsResponse:
        found = duplicates.pending_clearings(self.review, request.program_id)
        return review_pb2.ListPendingClearingsResponse(
            clearings=[
                review_pb2.PendingClearing(
                    clearing_id=c.clearing_id,
                    program_id=c.program_id,
                    application_numbers=list(c.numbers),
                    evidence=_reasons(c.evidence),
                    requested_by=c.requested_by,
                    requested_at=c.requested_at.isoformat(),
                    reason=c.reason,
                )
                for c in found
            ]
        )

    @rpc
    def ConfirmClearing(
        self, request: review_pb2.ConfirmClearingRequest, context: grpc.ServicerContext
    ) -> review_pb2.DuplicateGroup:
        verdicts = {
            review_pb2.CLEARING_VERDICT_CONFIRM: "CLEARING_VERDICT_CONFIRM",
            review_pb2.CLEARING_VERDICT_REJECT: "CLEARING_VERDICT_REJECT",
        }
        group = duplicates.confirm_clearing(
            self.review,
            current_principal(),
            request.request_id,
            request.clearing_id,
            verdicts.get(request.verdict, ""),
            request.note,
        )
        return _group(group)

    @rpc
    def ListRevocationCases(
        self, request: review_pb2.ListRevocationCasesRequest, context: grpc.ServicerContext
    ) -> review_pb2.ListRevocationCasesResponse:
        found = revocations.list_cases(self.review, request.program_id, request.include_closed)
        return review_pb2.ListRevocationCasesResponse(
            cases=[
                review_pb2.RevocationCase(
                    case_id=c.case_id,
                    program_id=c.program_id,
                    granted=list(c.granted),
                    members=list(c.members),
                    evidence=_reasons(c.evidence),
                    open=c.open,
                )
                for c in found
            ]
        )

    @rpc
    def RevokeGrant(
        self, request: review_pb2.RevokeGrantRequest, context: grpc.ServicerContext
    ) -> review_pb2.Revocation:
        record, still_open = revocations.revoke(
            self.review,
            current_principal(),
            request.request_id,
            request.application_number,
            request.reason,
        )
        return review_pb2.Revocation(
            application_number=record.application_number,
            program_id=record.program_id,
            revocation_number=record.revocation_number,
            revoked_on=record.revoked_on.isoformat(),
            revoked_by=record.revoked_by,
            amount=record.amount,
            case_id=record.case_id,
            case_open=still_open,
        )


def _group(group: duplicates.Group) -> review_pb2.DuplicateGroup:
    first = group.cases[0].application_number if group.cases else ""
    members = []
    for case in group.cases:
        applicant = group.records.get(case.application_number, {}).get("applicant", {})
        agrees = [
            review_pb2.AgreeingFact(
                evidence=common_pb2.ReasonCode.Value(f.evidence), strength=strength(f.evidence)
            )
            for f in group.flags
            if {f.first, f.second} == {first, case.application_number}
        ]
        members.append(
            review_pb2.GroupMember(
                application_number=case.application_number,
                state=review_pb2.CaseState.Value(case.state),
                received_on=case.received_on.isoformat(),
                channel=CHANNEL_CODES.get(case.channel, common_pb2.CHANNEL_UNSPECIFIED),
                name=str(applicant.get("name", "")),
                address=str(applicant.get("address", "")),
                birth_date=str(applicant.get("birth_date", "")),
                agrees_with_first=agrees,
            )
        )
    return review_pb2.DuplicateGroup(
        members=members,
        pairs=[
            review_pb2.DuplicatePair(
                first=f.first,
                second=f.second,
                evidence=common_pb2.ReasonCode.Value(f.evidence),
                strength=strength(f.evidence),
                open=f.open,
            )
            for f in group.flags
        ],
        strength=group.strength,
        resolved=group.resolved,
        pending_clearing_id=group.pending_clearing or "",
    )
