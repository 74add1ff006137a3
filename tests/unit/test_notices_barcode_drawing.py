"""The customer barcode drawn on the address face from the rules library's bars and the
manual's dimensions, counted on the rendered picture; and the `barcode` command."""

from __future__ import annotations

from datetime import date

import pypdfium2
import pytest
from subsidy_notices import _customer_barcode as adapter
from subsidy_notices import postcard
from subsidy_notices.cli import main
from subsidy_notices.content import NoticeContent
from subsidy_notices.layout import MM
from subsidy_notices.wording import wording_for

from subsidy_rules import customer_barcode

NOTICE = NoticeContent(
    kind="GRANT",
    application_number="S2025-000321",
    program_id="shinjuku-2025",
    document_number=7,
    issued_on=date(2025, 6, 10),
    name="新宿 太郎",
    postal_code="1600022",
    address="東京都新宿区新宿三丁目1番13号",
    received_on=date(2025, 5, 12),
    items=("防犯カメラ",),
    applied_amount=30_000,
    granted_amount=15_000,
)
DPI = 600


def _dark_runs(row: list[int]) -> int:
    runs, inside = 0, False
    for value in row:
        if value < 128 and not inside:
            runs += 1
        inside = value < 128
    return runs


def test_the_address_face_carries_one_drawn_bar_per_bar_of_the_barcode() -> None:
    kinds = adapter.bar_kinds(NOTICE.postal_code, NOTICE.address)
    card = postcard.lay_out(NOTICE, wording_for("shinjuku-2025"), with_barcode=True)
    image = (
        pypdfium2.PdfDocument(postcard.render([card]))[0]
        .render(scale=DPI / 72, grayscale=True)
        .to_pil()
    )
    size = adapter.dimensions()
    middle_y = image.height - round((postcard.BARCODE_Y + size.full * MM / 2) * DPI / 72)
    left = round(postcard.BARCODE_X * DPI / 72) - 5
    right = round((postcard.BARCODE_X + len(kinds) * size.pitch * MM) * DPI / 72) + 5
    row = [image.getpixel((x, middle_y)) for x in range(left, right)]
    assert _dark_runs(row) == len(kinds)


def test_the_barcode_command_prints_the_characters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["barcode", "100-0013", "千代田区霞が関1-3-2"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == customer_barcode.format_barcode("100-0013", "千代田区霞が関1-3-2")
    assert printed.startswith("STC ") and printed.endswith(" SPC")
