"""Sample notices of a program, to preview its wording and layout (synthetic addressee).

`subsidy-notices preview --program P [--out DIR]` renders one notice of each kind
(交付決定, 不交付決定, 補正依頼) with the program's templates (`NOTICES_TEMPLATES` included)
into `DIR/sample-notices.pdf` and, one picture per kind, `DIR/notice-<kind>.png` (the outer
page above the inner page), so that a ward sees a changed sentence before a batch is made.
The pictures in docs/ were made this way.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from subsidy_notices.content import Account, NoticeContent
from subsidy_notices.postcard import lay_out, render
from subsidy_notices.wording import wording_for

DPI = 110


def sample_notices(program_id: str) -> list[NoticeContent]:
    grant = NoticeContent(
        kind="GRANT",
        application_number="S2025-000123",
        program_id=program_id,
        document_number=123,
        issued_on=date(2025, 7, 1),
        name="新宿 花子",
        postal_code="1600022",
        address="東京都新宿区新宿三丁目1番13号 新宿見本ハイツ101",
        received_on=date(2025, 5, 12),
        items=("防犯カメラ", "センサーライト"),
        applied_amount=48_000,
        granted_amount=20_000,
        decision_number="S2025-D-000045",
        account=Account("みずほ", "新宿", "普通", "＊＊＊＊567"),
    )
    refusal = replace(
        grant,
        kind="REFUSAL",
        document_number=45,
        granted_amount=0,
        account=None,
        reasons=("BELOW_MINIMUM_COST",),
        applied_amount=1_800,
        items=("補助錠",),
    )
    correction = replace(
        grant,
        kind="CORRECTION",
        document_number=67,
        granted_amount=0,
        account=None,
        issued_on=date(2025, 6, 2),
        deadline=date(2025, 6, 16),
        corrections=(
            ("receipt", "領収書の写しが添付されていません"),
            ("photo_after_installation", "設置後の写真で機器が確認できません"),
        ),
    )
    return [grant, refusal, correction]


def preview(program_id: str, out: Path) -> list[Path]:
    import pypdfium2
    from PIL import Image

    wording = wording_for(program_id)
    cards = [lay_out(c, wording, with_barcode=True) for c in sample_notices(program_id)]
    out.mkdir(parents=True, exist_ok=True)
    pdf = out / "sample-notices.pdf"
    pdf.write_bytes(render(cards, title="通知書 見本"))
    document = pypdfium2.PdfDocument(str(pdf))
    written = [pdf]
    for index, card in enumerate(cards):
        pages = [document[2 * index + side].render(scale=DPI / 72).to_pil() for side in (0, 1)]
        picture = Image.new("RGB", (pages[0].width, 2 * pages[0].height + 12), "#888888")
        picture.paste(pages[0], (0, 0))
        picture.paste(pages[1], (0, pages[0].height + 12))
        path = out / f"notice-{card.kind.lower()}.png"
        picture.save(path, optimize=True)
        written.append(path)
    document.close()
    return written
