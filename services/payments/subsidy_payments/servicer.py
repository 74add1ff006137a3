"""gRPC servicer of the payments service: request -> use case -> response, nothing else."""

from __future__ import annotations

import grpc
from subsidy.events.v1 import events_pb2
from subsidy.payments.v1 import payments_pb2, payments_pb2_grpc

from subsidy_payments import (
    bank_returns,
    batches,
    cross_check,
    instructions,
    reconciliation,
    revocations,
)
from subsidy_payments.repository import Batch, Instruction, RepaymentClaim
from subsidy_payments.service import Payments
from subsidy_platform.access import current_principal
from subsidy_platform.errors import FieldViolation, InvalidArgument
from subsidy_platform.servicing import rpc

STATES = ("PENDING", "BATCHED", "SENT", "PAID", "FAILED", "CANCELLED")
MAX_LIST = 1000
MAX_RETURN_BYTES = 8 * 1024 * 1024


def _batch(batch: Batch) -> payments_pb2.Batch:
    return payments_pb2.Batch(
        batch_id=batch.id,
        program_id=batch.program_id,
        transfer_date=batch.transfer_date.isoformat(),
        state=batch.state,
        count=batch.count,
        total=batch.total,
        largest=batch.largest,
        over_cap=batch.over_cap,
        file_sha256=batch.file_sha256,
        built_by=batch.built_by,
        released_by=batch.released_by or "",
        file_name=batches.file_name(batch),
    )


def _amount(amount: cross_check.Amount) -> payments_pb2.Amount:
    return payments_pb2.Amount(count=amount.count, yen=amount.yen)


MAX_DIFFERENCES = 1000


def cross_reconciliation(
    program_id: str, result: cross_check.CrossCheck
) -> payments_pb2.CrossReconciliation:
    b = result.balance
    return payments_pb2.CrossReconciliation(
        program_id=program_id,
        balanced=result.balanced,
        parked_events=result.parked_events,
        review_granted=_amount(b.review_granted),
        review_revoked=_amount(b.review_revoked),
        revoked_in_payments=_amount(b.revoked_in_payments),
        grants=_amount(b.grants),
        pending=_amount(b.pending),
        batched=_amount(b.batched),
        sent=_amount(b.sent),
        paid=_amount(b.paid),
        returned_awaiting=_amount(b.returned_awaiting),
        stopped=_amount(b.stopped),
        retransferred=_amount(b.retransferred),
        released_files=_amount(b.released_files),
        returned=_amount(b.returned),
        files_unverified=b.files_unverified,
        differences=[
            payments_pb2.Difference(
                application_number=d.application_number,
                kind=payments_pb2.DifferenceKind.Value(d.kind.value),
                batch_id=d.batch_id,
                expected=d.expected,
                found=d.found,
            )
            for d in result.differences[:MAX_DIFFERENCES]
        ],
        differences_total=len(result.differences),
    )


def _instruction(i: Instruction) -> payments_pb2.Instruction:
    return payments_pb2.Instruction(
        instruction_id=i.id,
        application_number=i.application_number,
        program_id=i.program_id,
        amount=i.amount,
        state=i.state,
        batch_id=i.batch_id or 0,
        failure_reason=i.failure_reason or "",
        bank_code=i.bank_code,
        branch_code=i.branch_code,
    )


def _claim(c: RepaymentClaim) -> payments_pb2.RepaymentClaim:
    return payments_pb2.RepaymentClaim(
        application_number=c.application_number,
        program_id=c.program_id,
        instruction_id=c.instruction_id,
        amount=c.amount,
        state=c.state,
        opened_on=c.opened_on.isoformat(),
        repaid_on=c.repaid_on.isoformat() if c.repaid_on else "",
        settled_by=c.settled_by or "",
        revocation_number=c.revocation_number,
    )


class PaymentsServicer(payments_pb2_grpc.PaymentsServiceServicer):
    def __init__(self, payments: Payments) -> None:
        self.payments = payments

    @rpc
    def DecisionReceived(
        self, request: events_pb2.DecisionEvent, context: grpc.ServicerContext
    ) -> events_pb2.Ack:
        instructions.decision_received(self.payments, current_principal(), request)
        return events_pb2.Ack()

    @rpc
    def BankAccountChanged(
        self, request: events_pb2.BankAccountChangedEvent, context: grpc.ServicerContext
    ) -> events_pb2.Ack:
        instructions.bank_account_changed(self.payments, current_principal(), request)
        return events_pb2.Ack()

    @rpc
    def ListInstructions(
        self, request: payments_pb2.ListInstructionsRequest, context: grpc.ServicerContext
    ) -> payments_pb2.ListInstructionsResponse:
        program = self.payments.program(request.program_id)
        if request.state and request.state not in STATES:
            raise InvalidArgument([FieldViolation("state", "状態が正しくありません")])
        if not 0 <= request.limit <= MAX_LIST:
            raise InvalidArgument([FieldViolation("limit", f"1〜{MAX_LIST}件です")])
        if request.after_id < 0:
            raise InvalidArgument([FieldViolation("after_id", "0以上の指図番号です")])
        with self.payments.uow() as work:
            found = work.repo.list_instructions(
                program.id, request.state or None, request.limit or 100, request.after_id
            )
        return payments_pb2.ListInstructionsResponse(instructions=[_instruction(i) for i in found])

    @rpc
    def BuildBatch(
        self, request: payments_pb2.BuildBatchRequest, context: grpc.ServicerContext
    ) -> payments_pb2.Batch:
        return _batch(
            batches.build_batch(
                self.payments,
                current_principal(),
                request.request_id,
                request.program_id,
                request.transfer_date,
                request.max_instructions,
            )
        )

    @rpc
    def GetBatch(
        self, request: payments_pb2.GetBatchRequest, context: grpc.ServicerContext
    ) -> payments_pb2.Batch:
        return _batch(batches.get_batch(self.payments, request.batch_id))

    @rpc
    def ReleaseBatch(
        self, request: payments_pb2.ReleaseBatchRequest, context: grpc.ServicerContext
    ) -> payments_pb2.ReleasedFile:
        released = batches.release_batch(
            self.payments,
            current_principal(),
            request.request_id,
            request.batch_id,
            request.file_sha256,
        )
        return payments_pb2.ReleasedFile(
            batch=_batch(released.batch), content=released.content, replayed=released.replayed
        )

    @rpc
    def CancelBatch(
        self, request: payments_pb2.CancelBatchRequest, context: grpc.ServicerContext
    ) -> payments_pb2.Batch:
        return _batch(batches.cancel_batch(self.payments, current_principal(), request.batch_id))

    @rpc
    def ConfirmBatch(
        self, request: payments_pb2.ConfirmBatchRequest, context: grpc.ServicerContext
    ) -> payments_pb2.Batch:
        return _batch(
            batches.confirm_batch(
                self.payments, current_principal(), request.batch_id, request.confirmed_on
            )
        )

    @rpc
    def ImportReturns(
        self, request: payments_pb2.ImportReturnsRequest, context: grpc.ServicerContext
    ) -> payments_pb2.ImportReturnsResponse:
        if len(request.content) > MAX_RETURN_BYTES:
            raise InvalidArgument([FieldViolation("content", "ファイルが大きすぎます（8MiBまで）")])
        result = bank_returns.import_returns(
            self.payments,
            current_principal(),
            request.request_id,
            request.program_id,
            request.content,
        )
        return payments_pb2.ImportReturnsResponse(
            accepted=result.accepted,
            rows=result.rows,
            failed=result.failed,
            problems=[
                payments_pb2.ReturnRowProblem(row=p.row, field=p.field, problem=p.problem)
                for p in result.problems[:1000]
            ],
            replayed=result.replayed,
        )

    @rpc
    def Reconcile(
        self, request: payments_pb2.ReconcileRequest, context: grpc.ServicerContext
    ) -> payments_pb2.Reconciliation:
        result = reconciliation.reconcile(self.payments, request.program_id)
        return payments_pb2.Reconciliation(
            program_id=result.program_id,
            balanced=result.balanced,
            lines=[
                payments_pb2.ReconcileLine(
                    scope=line.scope,
                    granted=line.totals.granted,
                    paid=line.totals.paid,
                    failed_awaiting=line.totals.failed_awaiting,
                    not_yet_paid=line.totals.not_yet_paid,
                    difference=line.difference,
                    grants=line.totals.grants,
                    awaiting_account=line.totals.awaiting_account,
                )
                for line in result.lines
            ],
        )

    @rpc
    def ReconcileAcross(
        self, request: payments_pb2.ReconcileAcrossRequest, context: grpc.ServicerContext
    ) -> payments_pb2.CrossReconciliation:
        program = self.payments.program(request.program_id)
        result = reconciliation.reconcile_across(self.payments, current_principal(), program.id)
        return cross_reconciliation(program.id, result)

    @rpc
    def ListHeldFiles(
        self, request: payments_pb2.ListHeldFilesRequest, context: grpc.ServicerContext
    ) -> payments_pb2.ListHeldFilesResponse:
        held = batches.held_files(self.payments, request.program_id)
        return payments_pb2.ListHeldFilesResponse(
            files=[
                payments_pb2.HeldFile(
                    batch_id=b.id,
                    state=b.state,
                    file_sha256=b.file_sha256,
                    built_at=b.built_at.isoformat(),
                    confirmed_on=b.confirmed_on.isoformat() if b.confirmed_on else "",
                    delete_after=after.isoformat() if after else "",
                )
                for b, after in held
            ]
        )

    @rpc
    def PurgeFiles(
        self, request: payments_pb2.PurgeFilesRequest, context: grpc.ServicerContext
    ) -> payments_pb2.PurgeFilesResponse:
        deleted = batches.purge_files(self.payments, current_principal(), request.program_id)
        return payments_pb2.PurgeFilesResponse(deleted=deleted)

    @rpc
    def RevocationReceived(
        self, request: events_pb2.RevocationEvent, context: grpc.ServicerContext
    ) -> events_pb2.Ack:
        revocations.revocation_received(self.payments, current_principal(), request)
        return events_pb2.Ack()

    @rpc
    def ListRepaymentClaims(
        self, request: payments_pb2.ListRepaymentClaimsRequest, context: grpc.ServicerContext
    ) -> payments_pb2.ListRepaymentClaimsResponse:
        found = revocations.list_claims(self.payments, request.program_id, request.open_only)
        return payments_pb2.ListRepaymentClaimsResponse(claims=[_claim(c) for c in found])

    @rpc
    def RecordRepayment(
        self, request: payments_pb2.RecordRepaymentRequest, context: grpc.ServicerContext
    ) -> payments_pb2.RepaymentClaim:
        claim = revocations.record_repayment(
            self.payments,
            current_principal(),
            request.request_id,
            request.application_number,
            request.repaid_on,
            request.amount,
        )
        return _claim(claim)
