"""gRPC servicer of the intake service: proto <-> domain, error mapping, nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc

from subsidy_intake import inquiries, lookup
from subsidy_intake.bank_changes import payment_account, record_bank_account_change
from subsidy_intake.convert import CHANNEL_CODES, record_from_proto, record_to_proto
from subsidy_intake.corrections import submit_correction
from subsidy_intake.imports import check_header, import_logo_file
from subsidy_intake.inquiries_repository import InquiryRecord
from subsidy_intake.keying import key_paper_form
from subsidy_intake.logo_csv import UnknownProgramError
from subsidy_intake.service import IntakeService, submit
from subsidy_intake.timeline_repository import TimelineEntry
from subsidy_platform.access import current_principal
from subsidy_platform.errors import FieldViolation, InvalidArgument, PlatformError
from subsidy_platform.servicing import rpc_errors

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
V = TypeVar("V", bound=int)


def _translate(error: Exception) -> PlatformError | None:
    if isinstance(error, UnknownProgramError):
        return InvalidArgument([FieldViolation("program_id", str(error))])
    return None


rpc = rpc_errors(_translate)


def _status(name: str) -> common_pb2.ApplicationStatus.ValueType:
    return common_pb2.ApplicationStatus.Value(name)


def enum_name(name_of: Callable[[V], str], value: V, field: str) -> str:
    """The name of a proto enum value (`name_of`: the enum's `Name`); a number outside the
    enum (proto3 enums are open: any int32 arrives) is `InvalidArgument` naming the field."""
    try:
        return str(name_of(value))
    except ValueError:
        raise InvalidArgument([FieldViolation(field, "値が正しくありません")]) from None


def _record(message: common_pb2.ApplicationRecord, field: str = "") -> dict[str, Any]:
    """The v1 record of a proto, its channel checked against the enum first."""
    if message.channel != common_pb2.CHANNEL_UNSPECIFIED:
        enum_name(common_pb2.Channel.Name, message.channel, f"{field}channel")
    return record_from_proto(message)


class IntakeServicer(intake_pb2_grpc.IntakeServiceServicer):
    def __init__(self, service: IntakeService) -> None:
        self.service = service

    @rpc
    def SubmitApplication(
        self, request: intake_pb2.SubmitApplicationRequest, context: grpc.ServicerContext
    ) -> intake_pb2.SubmitApplicationResponse:
        result = submit(
            self.service,
            current_principal(),
            request.program_id,
            request.request_id or None,
            _record(request.application),
        )
        return intake_pb2.SubmitApplicationResponse(
            application_number=result.application_number,
            status=_status(result.status),
            duplicates=[_flag(n, e) for n, e in result.duplicates],
            replayed=result.replayed,
        )

    @rpc
    def ImportLogoCsv(
        self,
        request_iterator: Iterator[intake_pb2.ImportLogoCsvRequest],
        context: grpc.ServicerContext,
    ) -> intake_pb2.ImportReport:
        header, chunks, size = None, [], 0
        for part in request_iterator:
            if part.HasField("header"):
                # checked on arrival: a bad header refuses the upload before its bytes
                check_header(self.service, part.header.program_id, part.header.file_name)
                header = part.header
            else:
                size += len(part.chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise InvalidArgument(
                        [FieldViolation("chunk", "ファイルが大きすぎます (64MB まで)")]
                    )
                chunks.append(part.chunk)
        if header is None:
            raise InvalidArgument(
                [FieldViolation("header", "最初のメッセージで制度IDとファイル名を送ってください")]
            )
        report = import_logo_file(
            self.service, current_principal(), header.program_id, header.file_name, b"".join(chunks)
        )
        return intake_pb2.ImportReport(
            committed=report.committed,
            rows=report.rows,
            imported=report.imported,
            already_present=report.already_present,
            duplicates_flagged=report.duplicates_flagged,
            errors=[
                intake_pb2.LineError(line=e.line, column=e.column or "", message=e.message)
                for e in report.errors
            ],
            file_sha256=report.file_sha256,
            encoding=report.encoding,
            lines=[
                intake_pb2.ImportedLine(
                    line=line.line,
                    logo_answer_id=line.logo_answer_id,
                    application_number=line.application_number,
                    already_present=line.already_present,
                    duplicates=[
                        common_pb2.DuplicateFlag(
                            other_application_number=number,
                            evidence=common_pb2.ReasonCode.Value(evidence),
                        )
                        for number, evidence in line.duplicates
                    ],
                )
                for line in report.lines
            ],
        )

    @rpc
    def KeyPaperForm(
        self, request: intake_pb2.KeyPaperFormRequest, context: grpc.ServicerContext
    ) -> intake_pb2.KeyPaperFormResponse:
        result = key_paper_form(
            self.service,
            current_principal(),
            request.program_id,
            request.form_id,
            _record(request.application),
            resolve=request.resolve,
        )
        return intake_pb2.KeyPaperFormResponse(
            outcome=intake_pb2.KeyingOutcome.Value(result.outcome.name),
            differing_fields=list(result.differing_fields),
            application_number=result.application_number or "",
        )

    @rpc
    def SearchApplications(
        self, request: intake_pb2.SearchApplicationsRequest, context: grpc.ServicerContext
    ) -> intake_pb2.SearchApplicationsResponse:
        by = request.WhichOneof("by")
        results = lookup.search(
            self.service,
            current_principal(),
            request.program_id,
            number=request.application_number if by == "application_number" else None,
            name_kana=request.kana_and_birth_date.name_kana
            if by == "kana_and_birth_date"
            else None,
            birth_date=request.kana_and_birth_date.birth_date
            if by == "kana_and_birth_date"
            else None,
            phone=request.phone if by == "phone" else None,
            purpose=request.purpose,
        )
        return intake_pb2.SearchApplicationsResponse(
            results=[
                intake_pb2.ApplicationSummary(
                    application_number=s.application_number,
                    program_id=s.program_id,
                    status=_status(s.status),
                    received_on=s.received_on,
                    masked_name=s.masked_name,
                    channel=CHANNEL_CODES[s.channel],
                )
                for s in results
            ]
        )

    @rpc
    def GetApplication(
        self, request: intake_pb2.GetApplicationRequest, context: grpc.ServicerContext
    ) -> intake_pb2.ApplicationView:
        view = lookup.get_application(
            self.service,
            current_principal(),
            request.application_number,
            unmask=request.unmask,
            purpose=request.purpose or None,
        )
        return intake_pb2.ApplicationView(
            application_number=request.application_number,
            program_id=view.program_id,
            status=_status(view.status),
            masked=view.masked,
            application=record_to_proto(view.record),
            duplicates=[_flag(n, e) for n, e in view.duplicates],
        )

    @rpc
    def GetTimeline(
        self, request: intake_pb2.GetTimelineRequest, context: grpc.ServicerContext
    ) -> intake_pb2.Timeline:
        timeline = lookup.timeline(self.service, request.application_number)
        return intake_pb2.Timeline(
            application_number=request.application_number,
            status=_status(timeline.status),
            events=[_event(e) for e in timeline.events],
        )

    @rpc
    def RecordInquiry(
        self, request: intake_pb2.RecordInquiryRequest, context: grpc.ServicerContext
    ) -> intake_pb2.Inquiry:
        inquiry = inquiries.record_inquiry(
            self.service,
            current_principal(),
            request_id=request.request_id or None,
            number=request.application_number or None,
            program_id=request.program_id or None,
            channel=request.channel,
            category=request.category,
            summary=request.summary,
            follow_up=request.follow_up_needed,
            contacted_at=request.contacted_at,
        )
        return _inquiry(inquiry, request.application_number, request.summary)

    @rpc
    def ListInquiries(
        self, request: intake_pb2.ListInquiriesRequest, context: grpc.ServicerContext
    ) -> intake_pb2.ListInquiriesResponse:
        listed = inquiries.list_inquiries(
            self.service,
            current_principal(),
            number=request.application_number or None,
            follow_up_only=request.follow_up_only,
            purpose=request.purpose,
        )
        return intake_pb2.ListInquiriesResponse(
            inquiries=[_inquiry(i.inquiry, i.application_number, i.summary) for i in listed]
        )

    @rpc
    def ReportStatusTransition(
        self, request: intake_pb2.ReportStatusTransitionRequest, context: grpc.ServicerContext
    ) -> intake_pb2.TimelineEvent:
        status = enum_name(common_pb2.ApplicationStatus.Name, request.status, "status")
        event = lookup.report_transition(
            self.service,
            current_principal(),
            request.application_number,
            status,
            request.note or None,
            request.request_id,
        )
        return _event(event)

    @rpc
    def GetAttachmentChecklist(
        self, request: intake_pb2.GetAttachmentChecklistRequest, context: grpc.ServicerContext
    ) -> intake_pb2.AttachmentChecklist:
        return _checklist(
            request.application_number,
            lookup.attachment_checklist(self.service, request.application_number),
        )

    @rpc
    def RecordAttachments(
        self, request: intake_pb2.RecordAttachmentsRequest, context: grpc.ServicerContext
    ) -> intake_pb2.AttachmentChecklist:
        checklist = lookup.attachment_checklist(
            self.service, request.application_number, list(request.present)
        )
        return _checklist(request.application_number, checklist)

    @rpc
    def SubmitCorrection(
        self, request: intake_pb2.SubmitCorrectionRequest, context: grpc.ServicerContext
    ) -> intake_pb2.SubmitCorrectionResponse:
        result = submit_correction(
            self.service,
            current_principal(),
            request.request_id,
            request.application_number,
            _record(request.application),
            _record(request.second_keying, "second_keying.")
            if request.HasField("second_keying")
            else None,
            request.note,
        )
        return intake_pb2.SubmitCorrectionResponse(
            application_number=result.application_number,
            applied=result.applied,
            differing_fields=list(result.differing_fields),
            replayed=result.replayed,
        )

    @rpc
    def GetPaymentAccount(
        self, request: intake_pb2.GetPaymentAccountRequest, context: grpc.ServicerContext
    ) -> intake_pb2.PaymentAccount:
        found = payment_account(
            self.service, current_principal(), request.application_number, request.purpose
        )
        account = found.account
        return intake_pb2.PaymentAccount(
            application_number=found.application_number,
            program_id=found.program_id,
            bank_code=account.bank_code or "",
            branch_code=account.branch_code or "",
            type=account.account_type or "",
            number_ciphertext=account.number_ct or "",
            holder_kana_ciphertext=account.holder_ct or "",
            status=_status(found.status),
            account_version=account.version,
        )

    @rpc
    def RecordBankAccountChange(
        self, request: intake_pb2.RecordBankAccountChangeRequest, context: grpc.ServicerContext
    ) -> intake_pb2.RecordBankAccountChangeResponse:
        result = record_bank_account_change(
            self.service,
            current_principal(),
            request.request_id,
            request.application_number,
            _account(request.account) if request.HasField("account") else None,
            _account(request.second_keying) if request.HasField("second_keying") else None,
            request.note,
        )
        return intake_pb2.RecordBankAccountChangeResponse(
            application_number=result.application_number,
            applied=result.applied,
            differing_fields=list(result.differing_fields),
            replayed=result.replayed,
            account_version=result.account_version,
            outcome=intake_pb2.KeyingOutcome.Value(result.outcome.name),
        )


def _account(message: common_pb2.BankAccount) -> dict[str, Any]:
    return {
        "bank_code": message.bank_code,
        "branch_code": message.branch_code,
        "type": message.type,
        "number": message.number,
        "holder_kana": message.holder_kana,
    }


def _flag(number: str, evidence: str) -> common_pb2.DuplicateFlag:
    return common_pb2.DuplicateFlag(
        other_application_number=number, evidence=common_pb2.ReasonCode.Value(evidence)
    )


def _event(event: TimelineEntry) -> intake_pb2.TimelineEvent:
    return intake_pb2.TimelineEvent(
        at=event.at.isoformat(),
        status=_status(event.status),
        actor=event.actor,
        service=event.service,
        note=event.note or "",
    )


def _inquiry(inquiry: InquiryRecord, number: str | None, summary: str) -> intake_pb2.Inquiry:
    return intake_pb2.Inquiry(
        inquiry_id=str(inquiry.id),
        application_number=number or "",
        contacted_at=inquiry.contacted_at.isoformat(),
        channel=inquiry.channel,
        agent=inquiry.agent,
        category=inquiry.category,
        summary=summary,
        follow_up_needed=inquiry.follow_up_needed,
    )


def _checklist(number: str, checklist: lookup.Checklist) -> intake_pb2.AttachmentChecklist:
    return intake_pb2.AttachmentChecklist(
        application_number=number,
        items=[
            intake_pb2.AttachmentItem(
                kind=i.kind, label=i.label, required=i.required, present=i.present
            )
            for i in checklist.items
        ],
        missing=list(checklist.missing),
        complete=not checklist.missing,
    )
