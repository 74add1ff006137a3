"""Intake hardening on a real server: each finding of the adversarial test, shown by one or
more requests (docs/SECURITY.md, "Hardening: intake input and masking").

1. every caller-controlled field is bounded before any work: INVALID_ARGUMENT naming the
   field, the value never echoed, nothing written;
2. digits of other scripts are refused in identifying fields, full-width ones folded, so
   the same bank account is found however its digits were written;
3. amounts are bounded at every entry (proto, LoGo CSV) and what is stored reads back;
4. over-long ids, NUL characters and enum values outside their enum are INVALID_ARGUMENT;
7. the masked view fails closed (address after the town, descriptions, the LoGo answer id);
8. no plaintext copy of the LoGo answer id is kept (external_ref dropped by intake_0004).
"""

from __future__ import annotations

import hashlib
import importlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from intake_support import PROGRAM, Client, record, writes
from sqlalchemy import Engine, text
from subsidy.common.v1 import common_pb2
from subsidy.intake.v1 import intake_pb2
from subsidy_intake.convert import record_to_proto
from subsidy_intake.logo_csv import mapping_for, to_logo_csv

from subsidy_platform.errors import field_violations

MIB = 1024 * 1024
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def person(tag: str, **changes: Any) -> dict[str, Any]:
    """A record nobody else's (kana, address, bank account, answer id and phone from the tag)."""
    n = int(hashlib.sha256(tag.encode()).hexdigest()[:12], 16)
    base = {
        "applicant.name_kana": f"ハードニング {tag}",
        "applicant.address": f"新宿区百人町2丁目{n % 30 + 1}番{n % 9 + 1}号 ハードハイツ{n % 900 + 100}",
        "bank_account.number": f"{n % 10_000_000:07d}",
        "logo_answer_id": f"66{n % 10**8:08d}",
        "applicant.phone": f"080-{n % 10000:04d}-{(n // 7) % 10000:04d}",
    }
    return record(**{**base, **changes})


def submit_record(
    client: Client, request_id: str, rec: dict[str, Any]
) -> intake_pb2.SubmitApplicationResponse:
    with client.stub() as stub:
        response: intake_pb2.SubmitApplicationResponse = stub.SubmitApplication(
            intake_pb2.SubmitApplicationRequest(
                request_id=request_id, program_id=PROGRAM, application=record_to_proto(rec)
            ),
            metadata=client.staff("operator"),
        )
        return response


def refused(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


@pytest.fixture(scope="module")
def stored(intake: Client) -> str:
    """One stored application the requests below may name."""
    return submit_record(intake, "hard-stored", person("hard-stored")).application_number


# --- findings 1 and 4: limits, NUL, enums -------------------------------------------------


def _submit(**changes: Any) -> Callable[[Client, str], Any]:
    def call(client: Client, number: str) -> Any:
        tag = f"hard-{uuid.uuid4().hex}"
        fields: dict[str, Any] = {
            "request_id": tag,
            "program_id": PROGRAM,
            "application": record_to_proto(person(tag)),
        }
        for path, value in changes.items():
            if path.startswith("application."):
                target: Any = fields["application"]
                *parents, last = path.split(".")[1:]
                for part in parents:
                    target = getattr(target, part)
                    if part == "purchases":
                        target = target[0]
                setattr(target, last, value)
            else:
                fields[path] = value
        request = intake_pb2.SubmitApplicationRequest(**fields)
        with client.stub() as stub:
            return stub.SubmitApplication(request, metadata=client.staff("operator"))

    return call


def _rpc(method: str, role: str, build: Callable[[str], Any]) -> Callable[[Client, str], Any]:
    def call(client: Client, number: str) -> Any:
        as_review = role == "service:review"
        metadata = () if as_review else client.staff(role)
        with client.stub("review") if as_review else client.stub() as stub:
            return getattr(stub, method)(build(number), metadata=metadata)

    return call


def _import(program_id: str = PROGRAM, file_name: str = "hard.csv") -> Callable[[Client, str], Any]:
    def call(client: Client, number: str) -> Any:
        header = intake_pb2.ImportLogoCsvRequest.Header(program_id=program_id, file_name=file_name)
        data = to_logo_csv([{**person("hard-import"), "channel": "online"}], mapping_for(PROGRAM))
        parts = iter(
            [
                intake_pb2.ImportLogoCsvRequest(header=header),
                intake_pb2.ImportLogoCsvRequest(chunk=data),
            ]
        )
        with client.stub() as stub:
            return stub.ImportLogoCsv(parts, metadata=client.staff("operator"))

    return call


HUGE = "山" * MIB
# A megabyte is refused by the platform's message bounds before the use case (its path from
# the request: subsidy_platform.message_bounds); values just over a limit by the use case.
CASES: list[tuple[str, Callable[[Client, str], Any], str]] = [
    ("name of a megabyte", _submit(**{"application.applicant.name": HUGE}), "application.applicant.name"),
    ("name_kana with NUL", _submit(**{"application.applicant.name_kana": "シ\x00ン"}), "applicant.name_kana"),
    ("address of 201", _submit(**{"application.applicant.address": "西" * 201}), "applicant.address"),
    ("description of a megabyte", _submit(**{"application.purchases.description": HUGE}), "application.purchases[0].description"),
    ("holder kana of 101", _submit(**{"application.bank_account.holder_kana": "シ" * 101}), "bank_account.holder_kana"),
    ("head name of a megabyte", _submit(**{"application.household.head_name": HUGE}), "application.household.head_name"),
    ("relationship with NUL", _submit(**{"application.household.relationship": "本\x00人"}), "household.relationship"),
    ("email of a megabyte", _submit(**{"application.applicant.email": "a" * MIB}), "application.applicant.email"),
    ("phone of a megabyte", _submit(**{"application.applicant.phone": "0" * MIB}), "application.applicant.phone"),
    ("application id of 65", _submit(**{"application.application_id": "S" * 65}), "application_id"),
    ("LoGo answer id of 65", _submit(**{"application.logo_answer_id": "1" * 65}), "logo_answer_id"),
    ("LoGo answer id with NUL", _submit(**{"application.logo_answer_id": "10\x0001"}), "logo_answer_id"),
    ("request id of 65", _submit(request_id="r" * 65), "request_id"),
    ("request id of a megabyte", _submit(request_id="r" * MIB), "request_id"),
    ("request id with NUL", _submit(request_id="hard\x00x"), "request_id"),
    ("program id of a megabyte", _submit(program_id="p" * MIB), "program_id"),
    ("channel 99", _submit(**{"application.channel": 99}), "channel"),
    ("amount above 10,000,000", _submit(**{"application.purchases.amount": 10_000_001}), "purchases[0].amount"),
    ("amount near int64's end", _submit(**{"application.purchases.amount": 2**62}), "purchases[0].amount"),
    ("points used near int64's end", _submit(**{"application.purchases.points_used": 2**62}), "purchases[0].points_used"),
    ("account number in Arabic-Indic digits", _submit(**{"application.bank_account.number": "7162534".translate(ARABIC_INDIC)}), "bank_account.number"),
    ("branch code in Devanagari digits", _submit(**{"application.bank_account.branch_code": "001".translate(DEVANAGARI)}), "bank_account.branch_code"),
    ("birth date in Arabic-Indic digits", _submit(**{"application.applicant.birth_date": "1980-01-02".translate(ARABIC_INDIC)}), "applicant.birth_date"),
    ("phone in Arabic-Indic digits", _submit(**{"application.applicant.phone": "03-1234-5678".translate(ARABIC_INDIC)}), "applicant.phone"),
    ("form id of 65", _rpc("KeyPaperForm", "operator", lambda n: intake_pb2.KeyPaperFormRequest(form_id="F" * 65, program_id=PROGRAM, application=record_to_proto(person("hard-form")))), "form_id"),
    ("form id with NUL", _rpc("KeyPaperForm", "operator", lambda n: intake_pb2.KeyPaperFormRequest(form_id="P-1\x00", program_id=PROGRAM, application=record_to_proto(person("hard-form")))), "form_id"),
    ("file name of 256", _import(file_name="f" * 252 + ".csv"), "header.file_name"),
    ("file name with NUL", _import(file_name="a\x00.csv"), "header.file_name"),
    ("file name with a folder", _import(file_name="../../etc/passwd"), "header.file_name"),
    ("import program of a megabyte", _import(program_id="p" * MIB), "header.program_id"),
    ("search purpose of a megabyte", _rpc("SearchApplications", "call_center", lambda n: intake_pb2.SearchApplicationsRequest(program_id=PROGRAM, application_number=n, purpose=HUGE)), "purpose"),
    ("search purpose with NUL", _rpc("SearchApplications", "call_center", lambda n: intake_pb2.SearchApplicationsRequest(program_id=PROGRAM, application_number=n, purpose="確認\x00")), "purpose"),
    ("search number of 33", _rpc("SearchApplications", "call_center", lambda n: intake_pb2.SearchApplicationsRequest(program_id=PROGRAM, application_number="S" * 33, purpose="確認")), "application_number"),
    ("search kana of a megabyte", _rpc("SearchApplications", "call_center", lambda n: intake_pb2.SearchApplicationsRequest(program_id=PROGRAM, kana_and_birth_date=intake_pb2.KanaAndBirthDate(name_kana=HUGE, birth_date="1980-01-02"), purpose="確認")), "kana_and_birth_date.name_kana"),
    ("search birth date in Devanagari", _rpc("SearchApplications", "call_center", lambda n: intake_pb2.SearchApplicationsRequest(program_id=PROGRAM, kana_and_birth_date=intake_pb2.KanaAndBirthDate(name_kana="シ", birth_date="1980-01-02".translate(DEVANAGARI)), purpose="確認")), "kana_and_birth_date.birth_date"),
    ("search phone of a megabyte", _rpc("SearchApplications", "call_center", lambda n: intake_pb2.SearchApplicationsRequest(program_id=PROGRAM, phone="0" * MIB, purpose="確認")), "phone"),
    ("view number of a megabyte", _rpc("GetApplication", "call_center", lambda n: intake_pb2.GetApplicationRequest(application_number="S" * MIB)), "application_number"),
    ("view number with NUL", _rpc("GetApplication", "call_center", lambda n: intake_pb2.GetApplicationRequest(application_number="S2025-\x00")), "application_number"),
    ("view purpose of a megabyte", _rpc("GetApplication", "checker", lambda n: intake_pb2.GetApplicationRequest(application_number=n, unmask=True, purpose=HUGE)), "purpose"),
    ("timeline number of 33", _rpc("GetTimeline", "call_center", lambda n: intake_pb2.GetTimelineRequest(application_number="S" * 33)), "application_number"),
    ("inquiry summary of a megabyte", _rpc("RecordInquiry", "call_center", lambda n: intake_pb2.RecordInquiryRequest(application_number=n, channel="電話", category="進捗", summary=HUGE)), "summary"),
    ("inquiry summary with NUL", _rpc("RecordInquiry", "call_center", lambda n: intake_pb2.RecordInquiryRequest(application_number=n, channel="電話", category="進捗", summary="内容\x00")), "summary"),
    ("inquiry request id with NUL", _rpc("RecordInquiry", "call_center", lambda n: intake_pb2.RecordInquiryRequest(request_id="inq\x00", application_number=n, channel="電話", category="進捗", summary="内容")), "request_id"),
    ("inquiry time of a megabyte", _rpc("RecordInquiry", "call_center", lambda n: intake_pb2.RecordInquiryRequest(application_number=n, channel="電話", category="進捗", summary="内容", contacted_at="2" * MIB)), "contacted_at"),
    ("inquiry channel of a megabyte", _rpc("RecordInquiry", "call_center", lambda n: intake_pb2.RecordInquiryRequest(application_number=n, channel="電" * MIB, category="進捗", summary="内容")), "channel"),
    ("inquiry list purpose with NUL", _rpc("ListInquiries", "call_center", lambda n: intake_pb2.ListInquiriesRequest(application_number=n, purpose="\x00")), "purpose"),
    ("status 99", _rpc("ReportStatusTransition", "service:review", lambda n: intake_pb2.ReportStatusTransitionRequest(request_id=f"hard-{uuid.uuid4().hex}", application_number=n, status=99)), "status"),
    ("status report note with NUL", _rpc("ReportStatusTransition", "service:review", lambda n: intake_pb2.ReportStatusTransitionRequest(request_id=f"hard-{uuid.uuid4().hex}", application_number=n, status=common_pb2.UNDER_REVIEW, note="\x00")), "note"),
    ("status report request id of 129", _rpc("ReportStatusTransition", "service:review", lambda n: intake_pb2.ReportStatusTransitionRequest(request_id="r" * 129, application_number=n, status=common_pb2.UNDER_REVIEW)), "request_id"),
    ("attachment kinds: 21", _rpc("RecordAttachments", "operator", lambda n: intake_pb2.RecordAttachmentsRequest(application_number=n, present=["receipt"] * 21)), "present"),
    ("attachment kind of a megabyte", _rpc("RecordAttachments", "operator", lambda n: intake_pb2.RecordAttachmentsRequest(application_number=n, present=["r" * MIB])), "present[0]"),
    ("correction note with NUL", _rpc("SubmitCorrection", "operator", lambda n: intake_pb2.SubmitCorrectionRequest(request_id=f"hard-{uuid.uuid4().hex}", application_number=n, application=record_to_proto(person("hard-stored")), note="\x00")), "note"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_value_beyond_its_limit_is_invalid_names_the_field_and_writes_nothing(
    intake: Client,
    admin_engine: Engine,
    stored: str,
    call: Callable[[Client, str], Any],
    field: str,
) -> None:
    before = writes(admin_engine)
    error = refused(lambda: call(intake, stored))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    violations = field_violations(error)
    assert [v.field for v in violations] == [field]
    said = (error.details() or "") + "".join(v.description for v in violations)
    assert len(said) < 300  # the value is never repeated
    for fragment in ("山山", "SSS", "\x00", "٠", "०", "rrr", "ppp"):
        assert fragment not in said
    assert writes(admin_engine) == before


def test_an_unknown_well_formed_number_is_not_found_and_named(intake: Client) -> None:
    timeline = _rpc(
        "GetTimeline",
        "call_center",
        lambda n: intake_pb2.GetTimelineRequest(application_number="S2025-999997"),
    )
    error = refused(lambda: timeline(intake, ""))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "S2025-999997" in (error.details() or "")


def test_an_unknown_program_is_refused_without_repeating_it(intake: Client) -> None:
    error = refused(lambda: _submit(program_id="nerima-2099-" + "x" * 40)(intake, ""))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(error)] == ["program_id"]
    assert "nerima" not in "".join(v.description for v in field_violations(error))


# --- finding 2: digits ----------------------------------------------------------------------


def test_the_same_bank_account_in_full_width_digits_is_flagged_and_stored_in_ascii(
    intake: Client, admin_engine: Engine
) -> None:
    first = person("hard-bank-1")
    number = first["bank_account"]["number"]
    submit_record(intake, "hard-bank-1", first)
    second = person(
        "hard-bank-2",
        **{
            "bank_account.number": number.translate(FULLWIDTH),
            "bank_account.bank_code": "0001".translate(FULLWIDTH),
        },
    )
    response = submit_record(intake, "hard-bank-2", second)
    assert common_pb2.SAME_BANK_ACCOUNT in {d.evidence for d in response.duplicates}
    with admin_engine.connect() as connection:
        bank_code = connection.execute(
            text("SELECT bank_code FROM intake.applications WHERE application_number = :n"),
            {"n": response.application_number},
        ).scalar_one()
    assert bank_code == "0001"


@pytest.mark.parametrize("digits", [ARABIC_INDIC, DEVANAGARI])
def test_the_same_bank_account_in_digits_of_another_script_is_refused(
    intake: Client, admin_engine: Engine, digits: dict[int, str]
) -> None:
    number = person("hard-bank-1")["bank_account"]["number"]
    before = writes(admin_engine)
    error = refused(
        lambda: submit_record(
            intake,
            f"hard-bank-{uuid.uuid4().hex}",
            person("hard-bank-3", **{"bank_account.number": number.translate(digits)}),
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(error)] == ["bank_account.number"]
    assert writes(admin_engine) == before


# --- finding 3: amounts ---------------------------------------------------------------------


def test_a_csv_amount_of_ten_to_the_21_is_refused_at_its_line_and_nothing_is_stored(
    intake: Client, admin_engine: Engine
) -> None:
    good = {**person("hard-csv-1"), "channel": "online"}
    huge = {**person("hard-csv-2"), "channel": "online"}
    huge["purchases"] = [{**huge["purchases"][0], "amount": 10**21}]
    before = writes(admin_engine)
    report = _upload(intake, "hard-amount.csv", to_logo_csv([good, huge], mapping_for(PROGRAM)))
    assert not report.committed
    assert [(e.line, e.column) for e in report.errors] == [(3, "金額1")]
    assert writes(admin_engine) == before


def test_the_largest_amounts_allowed_are_stored_and_read_back(intake: Client) -> None:
    big = person("hard-big")
    big["purchases"] = [
        {**big["purchases"][0], "amount": 10_000_000, "points_used": 10_000_000} for _ in range(10)
    ]
    response = submit_record(intake, "hard-big", big)
    with intake.stub() as stub:
        view = stub.GetApplication(
            intake_pb2.GetApplicationRequest(
                application_number=response.application_number, unmask=True, purpose="上限の確認"
            ),
            metadata=intake.staff("checker"),
        )
    assert sum(p.amount for p in view.application.purchases) == 100_000_000


def _upload(client: Client, name: str, data: bytes) -> intake_pb2.ImportReport:
    def parts() -> Iterator[intake_pb2.ImportLogoCsvRequest]:
        yield intake_pb2.ImportLogoCsvRequest(
            header=intake_pb2.ImportLogoCsvRequest.Header(program_id=PROGRAM, file_name=name)
        )
        yield intake_pb2.ImportLogoCsvRequest(chunk=data)

    with client.stub() as stub:
        report: intake_pb2.ImportReport = stub.ImportLogoCsv(
            parts(), metadata=client.staff("operator"), timeout=120
        )
        return report


# --- finding 7: the masked view -------------------------------------------------------------


def test_the_call_centers_view_shows_the_address_only_down_to_the_town(intake: Client) -> None:
    rec = person(
        "hard-mask",
        **{"applicant.address": "東京都新宿区西新宿弐丁目八番壱号 メゾン・ド・ハード壱〇壱"},
    )
    rec["purchases"][0]["description"] = "ハード様邸 玄関用"
    number = submit_record(intake, "hard-mask", rec).application_number
    with intake.stub() as stub:
        view = stub.GetApplication(
            intake_pb2.GetApplicationRequest(application_number=number),
            metadata=intake.staff("call_center"),
        )
    assert view.masked
    assert view.application.applicant.address == "東京都新宿区西新宿＊＊＊"
    assert view.application.purchases[0].description == "＊＊＊"
    assert view.application.logo_answer_id == "＊＊＊"
    shown = str(view)
    for secret in ("弐丁目", "メゾン", "玄関用", rec["logo_answer_id"]):
        assert secret not in shown


# --- finding 8: no plaintext copy of the LoGo answer id ------------------------------------


def test_no_column_holds_the_logo_answer_id_or_the_senders_id_in_plaintext(
    intake: Client, admin_engine: Engine
) -> None:
    online = {**person("hard-plain-1"), "channel": "online"}
    report = _upload(intake, "hard-plain.csv", to_logo_csv([online], mapping_for(PROGRAM)))
    assert report.committed and report.imported == 1
    sent = {**person("hard-plain-2"), "application_id": "CALLER-REF-0001"}
    number = submit_record(intake, "hard-plain-2", sent).application_number
    with admin_engine.connect() as connection:
        columns = set(
            connection.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'intake' AND table_name = 'applications'"
                )
            ).scalars()
        )
        rows = connection.execute(
            text("SELECT a.*::text FROM intake.applications a WHERE application_number = :n"),
            {"n": number},
        ).scalars()
        every_row = " ".join(
            connection.execute(text("SELECT a::text FROM intake.applications a")).scalars()
        )
    assert "external_ref" not in columns
    assert list(rows)
    for plaintext in (online["logo_answer_id"], sent["logo_answer_id"], "CALLER-REF-0001"):
        assert plaintext not in every_row


def test_the_migration_blanks_and_drops_the_plaintext_column(
    intake: Client, admin_engine: Engine
) -> None:
    """intake_0004 on a table whose rows still have external_ref (rolled back afterwards)."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    migration = importlib.import_module(
        "subsidy_intake.migrations.versions.intake_0004_drop_external_ref"
    )
    with admin_engine.connect() as connection:
        transaction = connection.begin()
        try:
            context = MigrationContext.configure(connection)
            with Operations.context(context):
                migration.downgrade()
                connection.execute(
                    text("UPDATE intake.applications SET external_ref = 'SJ2025-L' || id")
                )
                migration.upgrade()
            columns = set(
                connection.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = 'intake' AND table_name = 'applications'"
                    )
                ).scalars()
            )
            assert "external_ref" not in columns
        finally:
            transaction.rollback()
