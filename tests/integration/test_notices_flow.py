"""Notices end to end on real PostgreSQL, OpenBao and gRPC: review's events become notices,
a batch is one PDF sorted by postal code with its manifest, printing and mailing are
confirmed and reach intake's timeline, reprints and returned mail, deletion after the
retention period, and nothing kept or printed that a notice does not show."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import uuid
from datetime import date, timedelta
from pathlib import Path

import grpc
import hvac
import pytest
from intake_support import Client
from notices_support import (
    applicant,
    decide,
    deliver_statuses,
    download,
    operator_stub,
    request_correction,
)
from pypdf import PdfReader
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy_notices.cli import MANIFEST_SUFFIX, remove_purged_copies, save_print_file
from subsidy_notices.content import NoticeContent
from subsidy_notices.declaration import DECLARATION
from subsidy_notices.era import wareki
from subsidy_notices.repository import NoticesRepository

from subsidy_platform.crypto import DataClass, FieldCipher
from subsidy_platform.process import ServiceProcess
from subsidy_platform.rotation import rotate_and_rewrap
from subsidy_platform.vault import provision_vault
from subsidy_platform.ward_clock import ward_today

PROGRAM = "shinjuku-2025"
A5_LANDSCAPE = (595.28, 419.53)


def _batch(stub: notices_pb2_grpc.NoticesServiceStub, intake: Client) -> notices_pb2.PrintBatch:
    batch: notices_pb2.PrintBatch = stub.CreatePrintBatch(
        notices_pb2.CreatePrintBatchRequest(request_id=uuid.uuid4().hex, program_id=PROGRAM),
        metadata=intake.staff("operator"),
        timeout=300,
    )
    return batch


def _confirm(
    stub: notices_pb2_grpc.NoticesServiceStub, intake: Client, batch_id: str
) -> notices_pb2.PrintBatch:
    operator = intake.staff("operator")
    stub.ConfirmPrinted(
        notices_pb2.ConfirmBatchRequest(request_id=uuid.uuid4().hex, batch_id=batch_id),
        metadata=operator,
    )
    mailed: notices_pb2.PrintBatch = stub.ConfirmMailed(
        notices_pb2.ConfirmBatchRequest(request_id=uuid.uuid4().hex, batch_id=batch_id),
        metadata=operator,
    )
    return mailed


def _pages_of(pdf: bytes, number: str) -> str:
    """The text of the two pages (outer and inner) of the notice of `number`."""
    reader = PdfReader(io.BytesIO(pdf))
    texts = [page.extract_text() for page in reader.pages]
    for index in range(0, len(texts), 2):
        if number in texts[index]:
            return texts[index] + "\n" + texts[index + 1]
    raise AssertionError(f"{number} is not in the print file")


def _timeline(intake: Client, number: str) -> list[int]:
    with intake.stub() as stub:
        timeline = stub.GetTimeline(
            intake_pb2.GetTimelineRequest(application_number=number),
            metadata=intake.staff("call_center"),
        )
    return [event.status for event in timeline.events]


def test_a_batch_prints_each_notice_with_its_name_amount_and_date_sorted_by_postal_code(
    intake: Client, notices: ServiceProcess, admin_engine: Engine
) -> None:
    granted, sent = applicant(intake, "通知交付", postal_code="169-0075")
    refused, _ = applicant(intake, "通知不交付", postal_code="160-0022")
    corrected, _ = applicant(intake, "通知補正", postal_code="162-0801")
    decide(notices, intake, granted, granted=True, amount=20_000)
    decide(notices, intake, refused, granted=False, reasons=("NOT_RESIDENT",))
    request_correction(notices, intake, corrected)
    with operator_stub(notices, intake) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        batch = _batch(stub, intake)
        manifest_text, pdf = download(stub, intake, batch.batch_id)
        manifest = json.loads(manifest_text)
        assert manifest["sha256"] == hashlib.sha256(pdf).hexdigest() == batch.sha256
        assert manifest["count"] == batch.count == len(manifest["application_numbers"])
        mine = [n for n in manifest["application_numbers"] if n in (granted, refused, corrected)]
        assert mine == [refused, corrected, granted]  # 160-0022 < 162-0801 < 169-0075
        reader = PdfReader(io.BytesIO(pdf))
        assert len(reader.pages) == 2 * batch.count
        for page in reader.pages:
            assert (
                round(float(page.mediabox.width), 2),
                round(float(page.mediabox.height), 2),
            ) == A5_LANDSCAPE
        grant_text = _pages_of(pdf, granted)
        assert sent["applicant.name"] in grant_text and "様" in grant_text
        assert "20,000円" in grant_text and "交付決定通知書" in grant_text
        assert wareki(ward_today()) in grant_text
        assert "＊＊＊＊" + sent["bank_account.number"][-3:] in grant_text
        refusal_text = _pages_of(pdf, refused)
        assert "不交付決定通知書" in refusal_text and "住民登録されていない" in refusal_text
        assert (
            "審査請求" in refusal_text
            and "3か月以内" in refusal_text
            and "6か月以内" in refusal_text
        )
        assert "領収書の写しが添付されていません" in _pages_of(pdf, corrected)
        mailed = _confirm(stub, intake, batch.batch_id)
    assert mailed.state == notices_pb2.MAILED and mailed.delete_after
    deliver_statuses(notices, admin_engine)
    for number in (granted, refused):
        assert common_pb2.NOTICE_SENT in _timeline(intake, number)
    assert common_pb2.NOTICE_SENT not in _timeline(intake, corrected)  # a letter, no decision


def test_every_font_in_a_print_file_is_embedded(intake: Client, notices: ServiceProcess) -> None:
    number, _ = applicant(intake, "フォント")
    decide(notices, intake, number, granted=True, amount=10_000)
    with operator_stub(notices, intake) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        _, pdf = download(stub, intake, _batch(stub, intake).batch_id)
    reader = PdfReader(io.BytesIO(pdf))
    fonts = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.append(font.get_object())
    assert fonts
    for font in fonts:
        descendants = font.get("/DescendantFonts")
        descriptor = (descendants[0].get_object() if descendants else font)["/FontDescriptor"]
        assert "/FontFile2" in descriptor, font["/BaseFont"]
        assert "IPAex" in str(font["/BaseFont"])


def test_returned_mail_reaches_the_call_centers_timeline_and_a_reprint_needs_a_reason(
    intake: Client, notices: ServiceProcess, admin_engine: Engine
) -> None:
    number, _ = applicant(intake, "返戻")
    decide(notices, intake, number, granted=True, amount=15_000)
    operator = intake.staff("operator")
    with operator_stub(notices, intake) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        first = _batch(stub, intake)
        with pytest.raises(grpc.RpcError) as early:
            stub.RecordReturnedMail(
                notices_pb2.RecordReturnedMailRequest(
                    request_id=uuid.uuid4().hex, application_number=number, kind=notices_pb2.GRANT
                ),
                metadata=operator,
            )
        assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        _confirm(stub, intake, first.batch_id)
        returned = stub.RecordReturnedMail(
            notices_pb2.RecordReturnedMailRequest(
                request_id=uuid.uuid4().hex, application_number=number, kind=notices_pb2.GRANT
            ),
            metadata=operator,
        )
        assert returned.state == "RETURNED"
        with pytest.raises(grpc.RpcError) as reasonless:
            stub.ReprintNotice(
                notices_pb2.ReprintNoticeRequest(
                    request_id=uuid.uuid4().hex, application_number=number, kind=notices_pb2.GRANT
                ),
                metadata=operator,
            )
        assert reasonless.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        request_id = uuid.uuid4().hex
        for _ in range(2):  # the same request twice counts once
            reprinted = stub.ReprintNotice(
                notices_pb2.ReprintNoticeRequest(
                    request_id=request_id,
                    application_number=number,
                    kind=notices_pb2.GRANT,
                    reason="宛所不明で返戻、住所訂正のうえ再送",
                ),
                metadata=operator,
            )
        assert reprinted.reprints == 1
        second = _batch(stub, intake)
        assert number in second.application_numbers and second.reprints >= 1
    deliver_statuses(notices, admin_engine)
    assert common_pb2.NOTICE_RETURNED in _timeline(intake, number)


def test_print_data_is_deleted_after_mailing_plus_the_retention_period(
    intake: Client, notices: ServiceProcess, admin_engine: Engine, tmp_path: Path
) -> None:
    number, _ = applicant(intake, "保存期間")
    decide(notices, intake, number, granted=False, reasons=("BELOW_MINIMUM_COST",))
    operator = intake.staff("operator")
    with operator_stub(notices, intake) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        batch = _batch(stub, intake)
        saved = tmp_path / "notices"
        copies = save_print_file(stub, operator, batch.batch_id, saved)
        assert [stat.S_IMODE(path.stat().st_mode) for path in copies] == [0o600, 0o600]
        assert stat.S_IMODE(saved.stat().st_mode) == 0o700
        other = saved / f"other{MANIFEST_SUFFIX}"  # another program's copy stays
        other.write_text(json.dumps({"program_id": "minato-standing"}), encoding="utf-8")
        purge = notices_pb2.PurgeExpiredPrintDataRequest(program_id=PROGRAM)
        stub.PurgeExpiredPrintData(purge, metadata=operator)  # not mailed: nothing deleted
        assert remove_purged_copies(stub, operator, PROGRAM, saved) == []
        held = stub.ListHeldPrintData(
            notices_pb2.ListHeldPrintDataRequest(program_id=PROGRAM), metadata=operator
        )
        assert batch.batch_id in {b.batch_id for b in held.batches}
        mailed = _confirm(stub, intake, batch.batch_id)
        assert date.fromisoformat(mailed.delete_after) == ward_today() + timedelta(days=7)
        stub.PurgeExpiredPrintData(purge, metadata=operator)  # within the retention: kept
        assert download(stub, intake, batch.batch_id)[1]
        with admin_engine.begin() as connection:  # the retention period has passed
            connection.execute(
                text("UPDATE notices.batches SET delete_after = :d WHERE batch_id = :i"),
                {"d": ward_today() - timedelta(days=1), "i": batch.batch_id},
            )
            connection.execute(
                text("UPDATE notices.notices SET mailed_on = :d WHERE application_number = :n"),
                {"d": ward_today() - timedelta(days=8), "n": number},
            )
        done = stub.PurgeExpiredPrintData(purge, metadata=operator)
        assert done.print_files_deleted >= 1 and done.addressees_deleted >= 1
        held = stub.ListHeldPrintData(
            notices_pb2.ListHeldPrintDataRequest(program_id=PROGRAM), metadata=operator
        )
        assert batch.batch_id not in {b.batch_id for b in held.batches}
        assert sorted(remove_purged_copies(stub, operator, PROGRAM, saved)) == sorted(copies)
        assert not any(path.exists() for path in copies) and other.exists()
        with pytest.raises(grpc.RpcError) as gone:
            download(stub, intake, batch.batch_id)
        assert gone.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with admin_engine.connect() as connection:
        row = connection.execute(
            text("SELECT pdf_ct FROM notices.batches WHERE batch_id = :i"), {"i": batch.batch_id}
        ).one()
        sealed = connection.execute(
            text(
                "SELECT content_ct, addressee_held FROM notices.notices WHERE application_number = :n"
            ),
            {"n": number},
        ).one()
    assert row.pdf_ct is None and sealed.addressee_held is False
    [plain] = _notices_cipher(notices).decrypt(DataClass.CONTACT, [sealed.content_ct])
    kept = NoticeContent.from_json(plain or "")
    assert (kept.name, kept.postal_code, kept.address, kept.account) == ("", "", "", None)
    assert kept.reasons == ("BELOW_MINIMUM_COST",)


def _notices_cipher(notices: ServiceProcess) -> FieldCipher:
    return notices.context.cipher(PROGRAM)


def test_notices_keep_and_print_only_what_a_notice_shows(
    intake: Client, notices: ServiceProcess, admin_engine: Engine
) -> None:
    number, sent = applicant(intake, "最小限")
    decide(notices, intake, number, granted=True, amount=12_000)
    with admin_engine.connect() as connection:
        sealed = connection.execute(
            text("SELECT content_ct FROM notices.notices WHERE application_number = :n"),
            {"n": number},
        ).scalar_one()
        every_row = " ".join(
            connection.execute(text("SELECT n::text FROM notices.notices n")).scalars()
        )
    assert sent["applicant.name"] not in every_row  # ciphertext only
    [plain] = _notices_cipher(notices).decrypt(DataClass.CONTACT, [sealed])
    assert plain is not None
    with operator_stub(notices, intake) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        printed = _pages_of(download(stub, intake, _batch(stub, intake).batch_id)[1], number)
    never = {
        "phone": sent["applicant.phone"],
        "birth date": sent["applicant.birth_date"],
        "account number": sent["bank_account.number"],
        "name kana": sent["applicant.name_kana"],
        "LoGo answer id": sent["logo_answer_id"],
    }
    for what, value in never.items():
        assert value not in plain, what
        assert value not in printed, what
    content = NoticeContent.from_json(plain)
    assert content.name in printed and content.address.split()[0][:6] in printed.replace("\n", "")


def test_a_name_with_a_character_the_font_lacks_is_left_out_and_reported(
    intake: Client, notices: ServiceProcess
) -> None:
    number, _ = applicant(intake, "字形", **{"applicant.name": "𠮷野 花子"})
    decide(notices, intake, number, granted=True, amount=8_000)
    with operator_stub(notices, intake) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        batch = _batch(stub, intake)
        assert number not in batch.application_numbers
        assert any(
            p.application_number == number and "U+20BB7" in p.problem for p in batch.problems
        )
        [notice] = stub.GetNotices(
            notices_pb2.GetNoticesRequest(application_number=number),
            metadata=intake.staff("call_center"),
        ).notices
    assert notice.state == "WAITING" and "U+20BB7" in notice.problem


def test_key_rotation_rewraps_the_notices_and_print_files_which_still_read(
    admin_engine: Engine, vault_admin_client: hvac.Client
) -> None:
    program = f"test-{uuid.uuid4().hex[:10]}"  # its own keys: rotation touches no other test's
    tokens = provision_vault(vault_admin_client, [program])
    cipher = FieldCipher(hvac.Client(url=vault_admin_client.url, token=tokens["notices"]), program)
    number = f"R{uuid.uuid4().int % 10**9:09d}"
    content = NoticeContent(
        kind="GRANT",
        application_number=number,
        program_id=program,
        document_number=1,
        issued_on=ward_today(),
        name="鍵更新 花子",
        postal_code="1600022",
        address="東京都新宿区新宿三丁目1番13号",
        received_on=ward_today(),
        items=("防犯カメラ",),
        applied_amount=10_000,
        granted_amount=5_000,
    )
    pdf = b"%PDF-1.4 synthetic print file " + uuid.uuid4().bytes
    batch_id = str(uuid.uuid4())
    manifest = {"batch_id": batch_id, "sha256": hashlib.sha256(pdf).hexdigest()}
    with Session(admin_engine) as session, session.begin():
        repo = NoticesRepository(session, cipher)
        repo.add_notice(content, f"rotation:{number}", program, 2025)
        stored = repo.notice(number, "GRANT")
        repo.add_batch(program, uuid.uuid4().hex, manifest, pdf, [(stored, False)], "tester")
    counts = rotate_and_rewrap(
        admin_engine,
        FieldCipher(vault_admin_client, program),
        DataClass.CONTACT,
        DECLARATION.ciphertext,
    )
    assert counts["notices.notices"] == 1 and counts["notices.batches"] == 1
    with Session(admin_engine) as session:
        sealed = session.execute(
            text("SELECT pdf_ct FROM notices.batches WHERE batch_id = :b"), {"b": batch_id}
        ).scalar_one()
        assert f":v{counts['version']}:" in sealed
        repo = NoticesRepository(session, cipher)
        assert repo.print_file(batch_id) == pdf
        assert repo.content(stored.id) == content


def test_a_notice_left_out_is_mailed_by_hand_with_a_reason_and_its_addressee_then_deleted(
    intake: Client, notices: ServiceProcess, admin_engine: Engine
) -> None:
    number, _ = applicant(intake, "手作業", **{"applicant.name": "𠮷田 一郎"})
    decide(notices, intake, number, granted=False, reasons=("TAX_ARREARS",))
    operator = intake.staff("operator")
    request = notices_pb2.RecordManualMailingRequest(
        request_id=uuid.uuid4().hex, application_number=number, kind=notices_pb2.REFUSAL
    )
    with operator_stub(notices, intake) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        with pytest.raises(grpc.RpcError) as too_early:  # not left out of a batch (yet)
            stub.RecordManualMailing(
                notices_pb2.RecordManualMailingRequest(
                    request_id=uuid.uuid4().hex,
                    application_number=number,
                    kind=notices_pb2.REFUSAL,
                    reason="外字のため手書き",
                ),
                metadata=operator,
            )
        assert too_early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert number not in _batch(stub, intake).application_numbers
        with pytest.raises(grpc.RpcError) as reasonless:
            stub.RecordManualMailing(request, metadata=operator)
        assert reasonless.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        request.reason = "外字（𠮷）のため手書きで宛名を記入し発送"
        mailed = stub.RecordManualMailing(request, metadata=operator)
        assert mailed.state == "MAILED" and mailed.mailed_on == ward_today().isoformat()
        purge = notices_pb2.PurgeExpiredPrintDataRequest(program_id=PROGRAM)
        stub.PurgeExpiredPrintData(purge, metadata=operator)
        assert _addressee_held(admin_engine, number)  # within the retention
        with admin_engine.begin() as connection:
            connection.execute(
                text("UPDATE notices.notices SET mailed_on = :d WHERE application_number = :n"),
                {"d": ward_today() - timedelta(days=8), "n": number},
            )
        stub.PurgeExpiredPrintData(purge, metadata=operator)
    assert not _addressee_held(admin_engine, number)
    deliver_statuses(notices, admin_engine)
    assert common_pb2.NOTICE_SENT in _timeline(intake, number)


def _addressee_held(engine: Engine, number: str) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text("SELECT addressee_held FROM notices.notices WHERE application_number = :n"),
                {"n": number},
            ).scalar_one()
        )
