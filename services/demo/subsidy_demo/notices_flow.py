"""The demo's notices part (flow steps 8-9): the print operator's day, over gRPC.

After the ward's decisions, waits until the notices service holds a notice for every
decision (review's outbox; notices reads each addressee from intake), then as the
contractor's print operator: renders the print batches (one merged PDF per batch sorted by
postal code, with its manifest) and saves them under `out/notices/`, confirms printing and
mailing (intake's timeline shows 通知書発送), records one notice returned as undeliverable
(宛所不明) and shows it as the call center sees it, reprints it with a reason, records the
notices the batches left out (a character the font lacks) as mailed by hand, deletes the
print data whose retention has passed and shows that none is held any more.

The demo compresses time: print data is deleted on the day its mailing is confirmed
(`NOTICES_RETENTION_DAYS=0`), set when this module is imported, before the services start,
unless the environment says otherwise.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import grpc
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2, intake_pb2_grpc
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy_notices.cli import save_print_file

from subsidy_demo.staff import Metadata, bearer

os.environ.setdefault("NOTICES_RETENTION_DAYS", "0")

PROGRAM = "shinjuku-2025"
BATCH_SIZE = 4000


def step(text_: str) -> None:
    print(f"\n--- {text_}", flush=True)


def _count(admin: Engine, sql: str) -> int:
    with admin.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def _wait_for_notices(admin: Engine) -> int:
    """Until review's outbox has delivered (or parked) every event for notices."""
    started = time.perf_counter()
    pending = (
        "SELECT count(*) FROM review.outbox WHERE destination = 'notices' "
        "AND delivered_at IS NULL AND parked_at IS NULL"
    )
    while _count(admin, pending):
        if time.perf_counter() - started > 1800:
            raise RuntimeError("review's events did not all reach notices")
        time.sleep(2.0)
    decisions = _count(admin, "SELECT count(*) FROM review.decisions")
    have = _count(admin, "SELECT count(*) FROM notices.notices WHERE kind <> 'CORRECTION'")
    letters = _count(admin, "SELECT count(*) FROM notices.notices WHERE kind = 'CORRECTION'")
    parked = _count(
        admin,
        "SELECT count(*) FROM review.outbox WHERE destination = 'notices' AND parked_at IS NOT NULL",
    )
    print(
        f"    {have:,} decision notices for {decisions:,} decisions, {letters:,} correction "
        f"letters, {parked} events refused, after {time.perf_counter() - started:.1f} s"
    )
    return have


def _print_and_mail(
    stub: notices_pb2_grpc.NoticesServiceStub, operator: Metadata, out: Path, left_out: set[str]
) -> list[notices_pb2.PrintBatch]:
    batches: list[notices_pb2.PrintBatch] = []
    while True:
        started = time.perf_counter()
        try:
            batch = stub.CreatePrintBatch(
                notices_pb2.CreatePrintBatchRequest(
                    request_id=uuid.uuid4().hex, program_id=PROGRAM, limit=BATCH_SIZE
                ),
                metadata=operator,
                timeout=1800,
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:  # nothing left waiting
                return batches
            raise
        for problem in batch.problems:
            if problem.application_number not in left_out:
                print(f"    left out: {problem.application_number}: {problem.problem}")
            left_out.add(problem.application_number)
        if not batch.batch_id:
            return batches
        seconds = time.perf_counter() - started
        pdf, manifest = save_print_file(stub, operator, batch.batch_id, out)
        kinds = json.loads(batch.manifest_json)["kinds"]
        print(
            f"    batch {batch.batch_id[:8]}…: {batch.count:,} postcards {kinds} in {seconds:.1f} s "
            f"({batch.count / seconds:.0f}/s), reprints {batch.reprints}\n"
            f"        {pdf} ({pdf.stat().st_size / 1e6:.1f} MB), {manifest}, sha256 {batch.sha256[:16]}…"
        )
        stub.ConfirmPrinted(
            notices_pb2.ConfirmBatchRequest(request_id=uuid.uuid4().hex, batch_id=batch.batch_id),
            metadata=operator,
        )
        mailed = stub.ConfirmMailed(
            notices_pb2.ConfirmBatchRequest(request_id=uuid.uuid4().hex, batch_id=batch.batch_id),
            metadata=operator,
        )
        print(
            f"        印刷済 → 発送済 {mailed.mailed_on}; print data to be deleted after {mailed.delete_after}"
        )
        batches.append(mailed)


def _notices(
    stub: notices_pb2_grpc.NoticesServiceStub, operator: Metadata, number: str
) -> list[notices_pb2.Notice]:
    found = stub.GetNotices(
        notices_pb2.GetNoticesRequest(application_number=number), metadata=operator
    )
    return list(found.notices)


def _timeline_status(
    intake: intake_pb2_grpc.IntakeServiceStub, agent: Metadata, number: str, status: int
) -> bool:
    for _ in range(60):
        timeline = intake.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=number), metadata=agent
        )
        if timeline.status == status:
            return True
        time.sleep(0.5)
    return False


def run_notices(
    addresses: Mapping[str, str],
    credentials: grpc.ChannelCredentials,
    passwords: Mapping[str, str],
    admin: Engine,
    out: Path,
) -> None:
    """The print operator's day (see the module docstring)."""
    with (
        grpc.secure_channel(addresses["auth"], credentials) as auth,
        grpc.secure_channel(addresses["notices"], credentials) as channel,
        grpc.secure_channel(addresses["intake"], credentials) as intake_channel,
    ):
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        intake = intake_pb2_grpc.IntakeServiceStub(intake_channel)

        step("notices: a notice for every decision and correction request (review's outbox)")
        _wait_for_notices(admin)
        # signed in after the wait: staff tokens are short-lived
        operator = bearer(auth, "demo-printer", passwords["demo-printer"])
        agent = bearer(auth, "demo-callcenter", passwords["demo-callcenter"])

        step(f"print operator: batches sorted by postal code, PDF + manifest under {out}/")
        left_out: set[str] = set()
        batches = _print_and_mail(stub, operator, out, left_out)
        numbers = [n for b in batches for n in b.application_numbers]
        print(f"    {len(batches)} batches, {len(numbers):,} postcards mailed")

        step("left out of the batches (外字 and the like): printed and mailed by hand")
        for number in sorted(left_out):
            for waiting in _notices(stub, operator, number):
                if waiting.state == "WAITING" and waiting.problem:
                    stub.RecordManualMailing(
                        notices_pb2.RecordManualMailingRequest(
                            request_id=uuid.uuid4().hex,
                            application_number=number,
                            kind=waiting.kind,
                            reason="フォントにない文字のため手作業で宛名を記入し発送",
                        ),
                        metadata=operator,
                    )
                    print(f"    {number}: mailed by hand ({waiting.problem})")

        step("returned mail (宛所不明): recorded, seen by the call center, reprinted with a reason")
        notice = next(
            n
            for number in numbers
            for n in _notices(stub, operator, number)
            if n.state == "MAILED" and n.kind != notices_pb2.CORRECTION
        )
        number = notice.application_number
        stub.RecordReturnedMail(
            notices_pb2.RecordReturnedMailRequest(
                request_id=uuid.uuid4().hex, application_number=number, kind=notice.kind
            ),
            metadata=operator,
        )
        seen = _timeline_status(intake, agent, number, common_pb2.NOTICE_RETURNED)
        print(
            f"    call center, {number}: status {'NOTICE_RETURNED 宛所不明（返戻）' if seen else 'not yet updated'}"
        )
        reprinted = stub.ReprintNotice(
            notices_pb2.ReprintNoticeRequest(
                request_id=uuid.uuid4().hex,
                application_number=number,
                kind=notice.kind,
                reason="宛所不明で返戻。申請者に確認し再送",
            ),
            metadata=operator,
        )
        print(f"    reprint #{reprinted.reprints} queued")
        _print_and_mail(stub, operator, out, left_out)

        step("print data held by the print path, deleted after mailing + retention")
        done = stub.PurgeExpiredPrintData(
            notices_pb2.PurgeExpiredPrintDataRequest(program_id=PROGRAM), metadata=operator
        )
        print(
            f"    deleted: {done.print_files_deleted} print files, {done.addressees_deleted:,} addressees"
        )
        held = stub.ListHeldPrintData(
            notices_pb2.ListHeldPrintDataRequest(program_id=PROGRAM), metadata=operator
        )
        print(f"    still held: {len(held.batches)} print files, {held.addressees_held} addressees")
