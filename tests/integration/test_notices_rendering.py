"""What the resident reads is right, checked on the text of the rendered PDF (pypdf), never on
the templates (issue 15): an amount, a date or a document number is never broken across
lines; the 料金後納 mark names its post office (and a card without one is not printed);
（公印省略） is printed where the ward omits its seal; and document numbers (第…号) are unique
per ward and fiscal year across every kind of notice, which a database constraint enforces."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy.exc
import yaml
from intake_support import Client
from notices_support import applicant, decide, download, operator_stub, request_correction
from pypdf import PdfReader
from sqlalchemy import Engine, text
from subsidy.notices.v1 import notices_pb2, notices_pb2_grpc
from subsidy_notices import fonts, postcard
from subsidy_notices.content import Account, NoticeContent
from subsidy_notices.layout import BODY, NO_LINE_START, LayoutProblem, wrap
from subsidy_notices.numbering import fiscal_year
from subsidy_notices.postcard import lay_out, render
from subsidy_notices.wording import POSTAGE_OFFICE_VARIABLE, SHIPPED, wording_for

from subsidy_platform.process import ServiceProcess
from subsidy_platform.ward_clock import ward_today

PROGRAM = "shinjuku-2025"
GRANT = NoticeContent(
    kind="GRANT",
    application_number="S2025-000777",
    program_id=PROGRAM,
    document_number=4321,
    issued_on=date(2025, 7, 1),
    name="改行 花子",
    postal_code="1600022",
    address="東京都新宿区新宿三丁目1番13号",
    received_on=date(2025, 5, 12),
    items=("防犯カメラ", "センサーライト", "面格子"),
    applied_amount=18_540,
    granted_amount=9_000,
    account=Account("みずほ", "新宿", "普通", "＊＊＊＊567"),
)


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _rendered(content: NoticeContent, templates_root: str | None = None) -> tuple[str, str]:
    """(outer page, inner page) text of one notice rendered to PDF."""
    card = lay_out(content, wording_for(PROGRAM, templates_root), with_barcode=False)
    outer, inner = _pages(render([card]))
    return outer, inner


def _char_by_char(line: str, size: float, room: float) -> list[str]:
    """How the line broke before issue 15: between any two characters (the test's oracle)."""
    widths = fonts.registered_font().face.charWidths
    lines, current, used = [], "", 0.0
    for char in line:
        w = widths.get(ord(char), 1000.0) * size / 1000
        if current and used + w > room and char not in NO_LINE_START:
            lines.append(current)
            current, used = "", 0.0
        current += char
        used += w
    return [*lines, current]


def test_an_amount_that_reaches_the_end_of_a_line_moves_whole_to_the_next_line() -> None:
    room = postcard.INNER_PANELS[0].right - postcard.INNER_PANELS[0].left
    sentence = f"　{'、'.join(GRANT.items)}の購入等（購入等に要した費用 18,540円）"
    # the case that was printed as "18,54 / 0円": character by character it would break
    assert not any("18,540円" in line for line in _char_by_char(sentence, BODY, room))
    _, inner = _rendered(GRANT)
    lines = inner.splitlines()
    [amount_line] = [line for line in lines if "18,540円" in line]
    assert amount_line.lstrip().startswith("18,540円")  # moved whole to the next line
    before = lines[lines.index(amount_line) - 1]
    assert before.rstrip().endswith("費用")
    assert "9,000円" in inner


def test_dates_document_numbers_and_phone_numbers_at_the_end_of_a_line_move_whole() -> None:
    room = 100.0  # a narrow column, wider than each token
    for token in (
        "令和7年12月28日",
        "新危危第4321号",
        "0120-000-123",
        "＊＊＊＊567",
        "S2025-000777",
    ):
        for pad in range(1, 12):
            sentence = "あ" * pad + token + "まで"
            if any(token in line for line in _char_by_char(sentence, BODY, room)):
                continue  # this padding does not reach the margin inside the token
            assert any(line.startswith(token) for line in wrap(sentence, BODY, room)), token
            break
        else:
            raise AssertionError(f"no padding puts {token} across the margin")


def test_the_postage_paid_mark_names_its_post_office_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outer, _ = _rendered(GRANT)
    assert "新宿郵便局" in outer  # shinjuku-2025's office.yaml
    assert "料金" in outer and "後納" in outer
    monkeypatch.setenv(POSTAGE_OFFICE_VARIABLE, "新宿北郵便局")
    outer, _ = _rendered(GRANT)
    assert "新宿北郵便局" in outer  # the deployment's setting wins


def test_a_program_without_a_postage_office_is_refused_at_printing(tmp_path: Path) -> None:
    folder = tmp_path / "default"
    folder.mkdir()
    office = (SHIPPED / "default" / "office.yaml").read_text(encoding="utf-8")
    assert "postage_office" not in yaml.safe_load(office)  # no default post office is shipped
    (folder / "office.yaml").write_text(office, encoding="utf-8")
    wording = wording_for("a-ward-without-a-post-office", str(tmp_path))
    with pytest.raises(LayoutProblem, match="料金後納郵便の差出事業所名が設定されていません"):
        lay_out(
            replace(GRANT, program_id="a-ward-without-a-post-office"), wording, with_barcode=False
        )


def test_the_seal_is_omitted_by_default_and_printed_as_such_unless_the_ward_seals(
    tmp_path: Path,
) -> None:
    for kind in ("GRANT", "REFUSAL", "CORRECTION"):
        content = replace(
            GRANT,
            kind=kind,
            reasons=("NOT_RESIDENT",) if kind == "REFUSAL" else (),
            deadline=date(2025, 7, 15) if kind == "CORRECTION" else None,
            corrections=(("receipt", "領収書の写しがありません"),) if kind == "CORRECTION" else (),
        )
        _, inner = _rendered(content)
        lines = inner.splitlines()
        issuer = next(i for i, line in enumerate(lines) if "新宿区長" in line)
        assert lines[issuer + 1].strip() == "（公印省略）", kind
    sealed = tmp_path / PROGRAM
    sealed.mkdir()
    (sealed / "office.yaml").write_text(
        (SHIPPED / PROGRAM / "office.yaml")
        .read_text(encoding="utf-8")
        .replace("seal_omitted: true", "seal_omitted: false"),
        encoding="utf-8",
    )
    _, inner = _rendered(GRANT, str(tmp_path))
    assert "公印省略" not in inner and "新宿区長" in inner


def test_fiscal_years_run_from_april_to_march() -> None:
    assert fiscal_year(date(2026, 3, 31)) == 2025
    assert fiscal_year(date(2026, 4, 1)) == 2026
    assert fiscal_year(date(2025, 12, 31)) == 2025


def _numbers(admin: Engine, numbers: list[str]) -> dict[str, tuple[str, str, int, int]]:
    with admin.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT application_number, kind, ward, document_year, document_number "
                "FROM notices.notices WHERE application_number = ANY(:n)"
            ),
            {"n": numbers},
        ).all()
    return {
        r.application_number: (r.kind, r.ward, r.document_year, r.document_number) for r in rows
    }


def test_document_numbers_are_one_series_per_ward_and_year_across_every_kind_of_notice(
    intake: Client, notices: ServiceProcess, admin_engine: Engine
) -> None:
    granted, _ = applicant(intake, "番号交付")
    refused, _ = applicant(intake, "番号不交付")
    corrected, _ = applicant(intake, "番号補正")
    decide(notices, intake, granted, granted=True, amount=20_000)
    decide(notices, intake, refused, granted=False, reasons=("NOT_RESIDENT",))
    request_correction(notices, intake, corrected)
    stored = _numbers(admin_engine, [granted, refused, corrected])
    assert {kind for kind, *_ in stored.values()} == {"GRANT", "REFUSAL", "CORRECTION"}
    assert {(ward, year) for _, ward, year, _ in stored.values()} == {
        ("新宿区", fiscal_year(ward_today()))
    }
    document_numbers = [number for *_, number in stored.values()]
    assert len(set(document_numbers)) == 3
    with admin_engine.connect() as connection:
        reused = connection.execute(
            text(
                "SELECT ward, document_year, document_number FROM notices.notices "
                "WHERE ward IS NOT NULL GROUP BY 1, 2, 3 HAVING count(*) > 1"
            )
        ).all()
    assert reused == []
    with operator_stub(notices, intake) as channel:
        stub = notices_pb2_grpc.NoticesServiceStub(channel)
        batch = stub.CreatePrintBatch(
            notices_pb2.CreatePrintBatchRequest(request_id=uuid.uuid4().hex, program_id=PROGRAM),
            metadata=intake.staff("operator"),
            timeout=300,
        )
        manifest, pdf = download(stub, intake, batch.batch_id)
    order = json.loads(manifest)["application_numbers"]
    pages = _pages(pdf)
    for number, (_, _, _, document_number) in stored.items():
        outer, inner = pages[2 * order.index(number)], pages[2 * order.index(number) + 1]
        assert number in outer and "新宿郵便局" in outer
        assert f"新危危第{document_number}号" in inner and "（公印省略）" in inner


def test_the_database_refuses_a_second_notice_with_a_number_used_in_the_ward_and_year(
    intake: Client, notices: ServiceProcess, admin_engine: Engine
) -> None:
    number, _ = applicant(intake, "番号制約")
    decide(notices, intake, number, granted=True, amount=10_000)
    [(_, ward, year, document_number)] = _numbers(admin_engine, [number]).values()
    insert = text(
        "INSERT INTO notices.notices (program_id, application_number, kind, document_number, "
        "ward, document_year, event_id, content_ct) VALUES ('other-program', :n, 'CORRECTION', "
        ":d, :w, :y, :e, 'vault:v1:x')"
    )
    values = {"n": number, "d": document_number, "w": ward, "y": year, "e": uuid.uuid4().hex}
    for changes, constraint in (
        ({}, "uq_notices_ward_year_number"),  # the same number, another kind and program
        ({"w": None}, "ck_notices_numbered_in_ward_year"),  # a number outside any series
    ):
        with (
            pytest.raises(sqlalchemy.exc.IntegrityError, match=constraint),
            admin_engine.begin() as connection,
        ):
            connection.execute(insert, {**values, **changes, "e": uuid.uuid4().hex})
    with admin_engine.begin() as connection:  # the next year starts its own series
        connection.execute(insert, {**values, "y": year + 1, "e": uuid.uuid4().hex})
        connection.execute(text("DELETE FROM notices.notices WHERE program_id = 'other-program'"))
