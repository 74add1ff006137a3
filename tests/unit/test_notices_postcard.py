"""The notice postcard as a PDF and as a picture (pure: no service, no database): wording
from the templates, the era date, the embedded font, the page size, layout problems
reported rather than clipped, and the bars of the customer barcode."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from pathlib import Path

import pypdfium2
import pytest
from pypdf import PdfReader
from subsidy_notices import postcard
from subsidy_notices.content import Account, NoticeContent, addressee
from subsidy_notices.era import wareki
from subsidy_notices.layout import MM, LayoutProblem
from subsidy_notices.postcard import lay_out, render
from subsidy_notices.wording import SHIPPED, WordingError, wording_for

GRANT = NoticeContent(
    kind="GRANT",
    application_number="S2025-000123",
    program_id="shinjuku-2025",
    document_number=123,
    issued_on=date(2025, 6, 10),
    name="新宿 花子",
    postal_code="1600022",
    address="東京都新宿区新宿三丁目1番13号 新宿ハイツ101",
    received_on=date(2025, 5, 12),
    items=("防犯カメラ", "センサーライト"),
    applied_amount=48_000,
    granted_amount=20_000,
    decision_number="S2025-D-000045",
    account=Account("みずほ", "新宿", "普通", "＊＊＊＊567"),
)
REFUSAL = replace(GRANT, kind="REFUSAL", granted_amount=0, account=None, reasons=("NOT_RESIDENT",))
CORRECTION = replace(
    GRANT,
    kind="CORRECTION",
    granted_amount=0,
    account=None,
    deadline=date(2025, 6, 24),
    corrections=(("receipt", "領収書の写しが添付されていません"),),
)


def _pdf(*contents: NoticeContent) -> bytes:
    wording = wording_for("shinjuku-2025")
    return render([lay_out(c, wording, with_barcode=False) for c in contents])


def test_dates_are_written_in_the_japanese_era() -> None:
    assert wareki(date(2025, 6, 10)) == "令和7年6月10日"
    assert wareki(date(2019, 5, 1)) == "令和元年5月1日"
    assert wareki(date(2019, 4, 30)) == "平成31年4月30日"


def test_each_kind_of_notice_prints_its_title_addressee_amount_and_dates() -> None:
    reader = PdfReader(io.BytesIO(_pdf(GRANT, REFUSAL, CORRECTION)))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) == 6
    grant, refusal, correction = (pages[i] + pages[i + 1] for i in (0, 2, 4))
    for text in (grant, refusal, correction):
        assert "新宿 花子" in text and "様" in text and "郵便はがき" in text
        assert "令和7年6月10日" in text and "令和7年5月12日" in text
        assert "新危危第123号" in text and "新宿区長" in text and "0120-000-123" in text
    assert "交付決定通知書" in grant and "20,000円" in grant and "＊＊＊＊567" in grant
    assert "不交付決定通知書" in refusal and "住民登録されていない" in refusal
    assert "新宿区長に対して審査請求" in refusal and "新宿区を被告として" in refusal
    assert "1年を経過すると" in refusal and "第82条" in refusal and "第46条" in refusal
    assert "補正依頼通知" in correction and "令和7年6月24日（必着）" in correction


def test_the_sheet_is_a5_folded_to_105_by_148_and_only_the_embedded_ipaex_font_is_used() -> None:
    reader = PdfReader(io.BytesIO(_pdf(GRANT)))
    for page in reader.pages:
        assert round(float(page.mediabox.width) / MM) == 210
        assert round(float(page.mediabox.height) / MM) == 148
        fonts = [f.get_object() for f in page["/Resources"]["/Font"].values()]
        assert fonts
        for font in fonts:
            assert "IPAex" in str(font["/BaseFont"])
            descendants = font.get("/DescendantFonts")
            described = descendants[0].get_object() if descendants else font
            descriptor = described["/FontDescriptor"]
            assert "/FontFile2" in descriptor
    assert pytest.approx(105 * MM) == postcard.FACE


def _picture(pdf: bytes, page: int, scale: float = 300 / 72) -> object:
    document = pypdfium2.PdfDocument(pdf)
    return document[page].render(scale=scale, grayscale=True).to_pil()


def test_the_rendered_address_face_is_not_blank_where_the_address_is_and_blank_elsewhere() -> None:
    image = _picture(_pdf(GRANT), 0, scale=100 / 72)
    px_per_mm = 100 / 25.4

    def dark(left_mm: float, top_mm: float, right_mm: float, bottom_mm: float) -> int:
        box = tuple(round(v * px_per_mm) for v in (left_mm, top_mm, right_mm, bottom_mm))
        region = image.crop(box)  # type: ignore[attr-defined]
        return sum(region.histogram()[:128])  # pixels darker than mid-grey

    assert dark(117, 28, 200, 58) > 200  # address and name
    assert dark(149, 12, 200, 20) > 50  # postal code boxes
    assert dark(110, 70, 200, 100) == 0  # the empty middle of the address face


def test_a_name_with_a_character_the_font_lacks_is_reported_with_its_code_point() -> None:
    with pytest.raises(LayoutProblem, match=r"U\+20BB7"):
        lay_out(replace(GRANT, name="𠮷野 花子"), wording_for("shinjuku-2025"), with_barcode=False)


def test_a_postal_code_that_is_not_seven_digits_is_reported() -> None:
    with pytest.raises(LayoutProblem, match="郵便番号が7桁ではありません"):
        lay_out(
            replace(GRANT, postal_code="16000"), wording_for("shinjuku-2025"), with_barcode=False
        )


def test_full_width_postal_codes_are_folded_to_seven_ascii_digits() -> None:
    record = {
        "applicant": {"name": "新宿 花子", "postal_code": "１６９－００５１", "address": "西早稲田"}
    }
    assert addressee(record) == ("新宿 花子", "1690051", "西早稲田")


def test_an_address_too_long_for_the_address_face_is_reported_not_clipped() -> None:
    long_address = "東京都新宿区西新宿二丁目8番1号 " + "とても長い建物の名前" * 12
    with pytest.raises(LayoutProblem, match="住所が長すぎて"):
        lay_out(
            replace(GRANT, address=long_address), wording_for("shinjuku-2025"), with_barcode=False
        )


def test_notice_text_that_does_not_fit_its_panels_is_reported() -> None:
    many = tuple(("receipt", "領収書の写しが添付されていません。" * 3) for _ in range(20))
    with pytest.raises(LayoutProblem, match="通知文が紙面に収まりません"):
        lay_out(
            replace(CORRECTION, corrections=many), wording_for("shinjuku-2025"), with_barcode=False
        )


def test_a_ward_changes_a_sentence_in_its_templates_folder_without_a_release(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "shinjuku-2025"
    folder.mkdir()
    grant = (SHIPPED / "default" / "grant.j2").read_text(encoding="utf-8")
    (folder / "grant.j2").write_text(
        grant.replace("振り込みます", "お振り込みいたします"), encoding="utf-8"
    )
    wording = wording_for("shinjuku-2025", str(tmp_path))
    text = wording.notice(GRANT)
    assert "お振り込みいたします" in text
    assert "新宿区長" in text  # office.yaml still from the shipped program folder


def test_a_templates_folder_without_the_office_details_is_refused(tmp_path: Path) -> None:
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "office.yaml").write_text("ward: ''\n", encoding="utf-8")
    with pytest.raises(WordingError, match="ward"):
        wording_for("no-such-program", str(tmp_path)).notice(GRANT)
