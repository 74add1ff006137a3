"""NoticesService over gRPC: request -> use case -> response, nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
from subsidy.events.v1 import events_pb2
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc

from subsidy_notices import batches, events, followups, retention
from subsidy_notices.repository import Batch, StoredNotice
from subsidy_notices.service import Notices
from subsidy_platform.access import current_principal
from subsidy_platform.servicing import rpc

CHUNK = 1024 * 1024
KIND_NAMES = {
    notices_pb2.GRANT: "GRANT",
    notices_pb2.REFUSAL: "REFUSAL",
    notices_pb2.CORRECTION: "CORRECTION",
    notices_pb2.REVOCATION: "REVOCATION",
}


def batch_message(
    batch: Batch, problems: tuple[tuple[str, str], ...] = ()
) -> notices_pb2.PrintBatch:
    return notices_pb2.PrintBatch(
        batch_id=batch.id,
        program_id=batch.program_id,
        state=notices_pb2.BatchState.Value(batch.state),
        count=batch.count,
        reprints=batch.reprints,
        sha256=batch.sha256,
        created_at=batch.created_at.isoformat(timespec="seconds"),
        printed_at=batch.printed_at.isoformat(timespec="seconds") if batch.printed_at else "",
        mailed_on=batch.mailed_on.isoformat() if batch.mailed_on else "",
        delete_after=batch.delete_after.isoformat() if batch.delete_after else "",
        print_file_held=batch.held,
        application_numbers=batch.manifest["application_numbers"],
        problems=[notices_pb2.LayoutProblem(application_number=n, problem=p) for n, p in problems],
        manifest_json=json.dumps(batch.manifest, ensure_ascii=False),
    )


def notice_message(notice: StoredNotice) -> notices_pb2.Notice:
    return notices_pb2.Notice(
        application_number=notice.application_number,
        program_id=notice.program_id,
        kind=notices_pb2.NoticeKind.Value(notice.kind),
        document_number=str(notice.document_number),
        state=notice.state,
        reprints=notice.reprints,
        mailed_on=notice.mailed_on.isoformat() if notice.mailed_on else "",
        returned_on=notice.returned_on.isoformat() if notice.returned_on else "",
        problem=notice.problem or "",
    )


class NoticesServicer(notices_pb2_grpc.NoticesServiceServicer):
    def __init__(self, notices: Notices) -> None:
        self.notices = notices

    @rpc
    def DecisionMade(
        self, request: events_pb2.DecisionEvent, context: grpc.ServicerContext
    ) -> events_pb2.Ack:
        events.apply_decision(self.notices, request)
        return events_pb2.Ack()

    @rpc
    def CorrectionRequested(
        self, request: events_pb2.CorrectionRequestEvent, context: grpc.ServicerContext
    ) -> events_pb2.Ack:
        events.apply_correction(self.notices, request)
        return events_pb2.Ack()

    @rpc
    def RevocationMade(
        self, request: events_pb2.RevocationEvent, context: grpc.ServicerContext
    ) -> events_pb2.Ack:
        events.apply_revocation(self.notices, request)
        return events_pb2.Ack()

    @rpc
    def CreatePrintBatch(
        self, request: notices_pb2.CreatePrintBatchRequest, context: grpc.ServicerContext
    ) -> notices_pb2.PrintBatch:
        result = batches.create_batch(
            self.notices, current_principal(), request.request_id, request.program_id, request.limit
        )
        if result.batch is None:
            return notices_pb2.PrintBatch(
                program_id=request.program_id,
                problems=[
                    notices_pb2.LayoutProblem(application_number=n, problem=p)
                    for n, p in result.problems
                ],
            )
        return batch_message(result.batch, result.problems)

    @rpc
    def DownloadPrintFile(
        self, request: notices_pb2.DownloadPrintFileRequest, context: grpc.ServicerContext
    ) -> Iterator[notices_pb2.PrintFileChunk]:
        manifest, pdf = batches.download(self.notices, current_principal(), request.batch_id)
        chunks = [pdf[start : start + CHUNK] for start in range(0, len(pdf), CHUNK)] or [b""]
        first = notices_pb2.PrintFileChunk(
            manifest_json=json.dumps(manifest, ensure_ascii=False), size=len(pdf), data=chunks[0]
        )
        return iter([first, *(notices_pb2.PrintFileChunk(data=c) for c in chunks[1:])])

    @rpc
    def ConfirmPrinted(
        self, request: notices_pb2.ConfirmBatchRequest, context: grpc.ServicerContext
    ) -> notices_pb2.PrintBatch:
        return batch_message(
            batches.confirm_printed(
                self.notices, current_principal(), request.request_id, request.batch_id
            )
        )

    @rpc
    def ConfirmMailed(
        self, request: notices_pb2.ConfirmBatchRequest, context: grpc.ServicerContext
    ) -> notices_pb2.PrintBatch:
        return batch_message(
            batches.confirm_mailed(
                self.notices,
                current_principal(),
                request.request_id,
                request.batch_id,
                request.mailed_on,
            )
        )

    @rpc
    def ListPrintBatches(
        self, request: notices_pb2.ListPrintBatchesRequest, context: grpc.ServicerContext
    ) -> notices_pb2.ListPrintBatchesResponse:
        found = batches.list_batches(self.notices, request.program_id)
        return notices_pb2.ListPrintBatchesResponse(batches=[batch_message(b) for b in found])

    @rpc
    def ReprintNotice(
        self, request: notices_pb2.ReprintNoticeRequest, context: grpc.ServicerContext
    ) -> notices_pb2.Notice:
        return notice_message(
            followups.reprint(
                self.notices,
                current_principal(),
                request.request_id,
                request.application_number,
                KIND_NAMES.get(request.kind, ""),
                request.reason,
            )
        )

    @rpc
    def RecordReturnedMail(
        self, request: notices_pb2.RecordReturnedMailRequest, context: grpc.ServicerContext
    ) -> notices_pb2.Notice:
        return notice_message(
            followups.record_returned(
                self.notices,
                current_principal(),
                request.request_id,
                request.application_number,
                KIND_NAMES.get(request.kind, ""),
                request.returned_on,
            )
        )

    @rpc
    def RecordManualMailing(
        self, request: notices_pb2.RecordManualMailingRequest, context: grpc.ServicerContext
    ) -> notices_pb2.Notice:
        return notice_message(
            followups.record_manual_mailing(
                self.notices,
                current_principal(),
                request.request_id,
                request.application_number,
                KIND_NAMES.get(request.kind, ""),
                request.mailed_on,
                request.reason,
            )
        )

    @rpc
    def GetNotices(
        self, request: notices_pb2.GetNoticesRequest, context: grpc.ServicerContext
    ) -> notices_pb2.GetNoticesResponse:
        found = followups.notices_of(self.notices, request.application_number)
        return notices_pb2.GetNoticesResponse(notices=[notice_message(n) for n in found])

    @rpc
    def ListHeldPrintData(
        self, request: notices_pb2.ListHeldPrintDataRequest, context: grpc.ServicerContext
    ) -> notices_pb2.ListHeldPrintDataResponse:
        found = retention.held(self.notices, request.program_id)
        return notices_pb2.ListHeldPrintDataResponse(
            batches=[
                notices_pb2.HeldPrintData(
                    batch_id=b.id,
                    state=notices_pb2.BatchState.Value(b.state),
                    count=b.count,
                    delete_after=b.delete_after.isoformat() if b.delete_after else "",
                )
                for b in found.batches
            ],
            addressees_held=found.addressees,
        )

    @rpc
    def PurgeExpiredPrintData(
        self, request: notices_pb2.PurgeExpiredPrintDataRequest, context: grpc.ServicerContext
    ) -> notices_pb2.PurgeExpiredPrintDataResponse:
        files, addressees = retention.purge(
            self.notices, current_principal(), request.program_id, request.as_of
        )
        return notices_pb2.PurgeExpiredPrintDataResponse(
            print_files_deleted=files, addressees_deleted=addressees
        )
