"""The revocation notice (交付決定取消通知書): printed like the other decision notices, with
its document number, 和暦 dates, the grant revoked, the reason's standard wording and what
follows for the money; read from the rendered page, not from the template."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date

from pypdf import PdfReader
from subsidy_notices.content import NoticeContent
from subsidy_notices.postcard import lay_out, render
from subsidy_notices.wording import TITLES, wording_for

REVOCATION = NoticeContent(
    kind="REVOCATION",
    application_number="S2025-000456",
    program_id="shinjuku-2025",
    document_number=7,
    issued_on=date(2025, 9, 16),
    name="新宿 太郎",
    postal_code="1600022",
    address="東京都新宿区新宿三丁目1番13号 新宿ハイツ102",
    received_on=date(2025, 6, 2),
    items=("防犯カメラ",),
    applied_amount=40_000,
    granted_amount=20_000,
    decision_number="S2025-D-000078",
    reasons=("DUPLICATE_HOUSEHOLD",),
    revocation_number="S2025-R-000003",
)


def _text(content: NoticeContent) -> str:
    card = lay_out(content, wording_for(content.program_id), with_barcode=False)
    reader = PdfReader(io.BytesIO(render([card])))
    return "".join(page.extract_text() for page in reader.pages)


def test_a_revocation_notice_prints_its_title_number_dates_grant_and_reason() -> None:
    text = _text(REVOCATION)
    assert TITLES["REVOCATION"] == "交付決定取消通知書"
    assert "交付決定取消通知書" in text
    assert "新危危第7号" in text and "令和7年9月16日" in text and "令和7年6月2日" in text
    assert "新宿 太郎" in text and "様" in text and "新宿区長" in text
    assert "S2025-D-000078" in text and "20,000円" in text and "S2025-R-000003" in text
    assert "1世帯につき1回限り" in text
    assert "返還" in text and "振込を行いません" in text
    assert "審査請求" in text and "新宿区を被告として" in text


def test_a_revocation_notice_survives_its_stored_form() -> None:
    stored = NoticeContent.from_json(REVOCATION.to_json())
    assert stored == REVOCATION
    older = REVOCATION.to_json().replace(',"revocation_number":"S2025-R-000003"', "")
    assert NoticeContent.from_json(older) == replace(REVOCATION, revocation_number="")
