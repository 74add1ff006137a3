"""The V-fold pressure-sealed postcard (圧着はがき) of a notice, drawn with ReportLab (issue 8).

One A5 sheet, 210 x 148 mm, folded in the middle to 105 x 148 mm: two PDF pages per
notice. The outer page carries the sender face (left half: 親展, what the card holds, how
to open it, the sender) and the address face (right half: the 料金後納郵便 indicia with the
name of the post office it is mailed at (wording.py: a card without one is a layout problem,
never printed), 郵便はがき,
the postal code in its seven boxes, the address, the name with 様, the Japan Post customer
barcode and the application number); the inner page carries the notice itself, flowing
from the left half to the right. Only IPAex Gothic is used and it is embedded (the canvas
is created with it as its initial font, so no unembedded standard font is listed).
Layout problems (layout.py) are raised before anything is drawn.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

from reportlab.pdfgen.canvas import Canvas

from subsidy_notices import _customer_barcode as barcode
from subsidy_notices import fonts
from subsidy_notices.content import NoticeContent
from subsidy_notices.layout import MM, Box, LayoutProblem, Line, Panel, fit, flow, width
from subsidy_notices.wording import TITLES, Wording

SHEET = (210 * MM, 148 * MM)
FACE = 105 * MM
ADDRESS_LEFT = FACE + 12 * MM
ADDRESS_ROOM = 85 * MM
POSTAL_BOX = (5.7 * MM, 8.0 * MM)
POSTAL_BOXES_X = tuple(FACE + x * MM for x in (44.0, 51.0, 58.0, 66.6, 73.4, 80.2, 87.0))
POSTAL_BOXES_Y = 128 * MM
BARCODE_X = ADDRESS_LEFT
BARCODE_Y = 40 * MM
ADDRESS_SIZES = (11.0, 10.0, 9.0, 8.0)
POSTAGE_OFFICE_SIZES = (7.0, 6.0, 5.0, 4.5)
POSTAGE_OFFICE_ROOM = 15 * MM
NAME_SIZES = (16.0, 14.0, 12.0, 10.0)
SENDER_PANELS = (
    Panel(10 * MM, 95 * MM, 138 * MM, 62 * MM),
    Panel(10 * MM, 95 * MM, 52 * MM, 10 * MM),
)
INNER_PANELS = (
    Panel(8 * MM, 97 * MM, 141 * MM, 8 * MM),
    Panel(113 * MM, 202 * MM, 141 * MM, 8 * MM),
)


@dataclass(frozen=True, slots=True)
class Page:
    lines: tuple[Line, ...]
    boxes: tuple[Box, ...]


@dataclass(frozen=True, slots=True)
class Postcard:
    """A notice laid out, ready to draw: the outer and the inner page."""

    application_number: str
    postal_code: str
    kind: str
    pages: tuple[Page, Page]
    barcode: bool


def _bars(kinds: str) -> list[Box]:
    size = barcode.dimensions()
    spans = {
        "F": (0.0, size.full),
        "A": (size.full - size.semi, size.full),
        "D": (0.0, size.semi),
        "T": ((size.full - size.timing) / 2, (size.full + size.timing) / 2),
    }
    out = []
    for index, kind in enumerate(kinds):
        low, high = spans[kind]
        out.append(
            Box(
                BARCODE_X + index * size.pitch * MM,
                BARCODE_Y + low * MM,
                size.width * MM,
                (high - low) * MM,
                fill=True,
            )
        )
    return out


def _address_face(
    content: NoticeContent, office: dict[str, str], postage_office: str, with_barcode: bool
) -> tuple[list[Line], list[Box]]:
    lines: list[Line] = []
    boxes: list[Box] = [Box(FACE + 6 * MM, 124 * MM, 17 * MM, 17 * MM)]
    if not postage_office:
        raise LayoutProblem(
            "料金後納郵便の差出事業所名が設定されていません"
            "（NOTICES_POSTAGE_OFFICE または office.yaml の postage_office）"
        )
    office_size, [office_name] = fit(
        postage_office, POSTAGE_OFFICE_SIZES, POSTAGE_OFFICE_ROOM, 1, "料金後納の差出事業所名"
    )
    centre = FACE + 14.5 * MM
    lines.append(
        Line(centre - width(office_name, office_size) / 2, 137 * MM, office_size, office_name)
    )
    mark = office["postage_mark"]
    rows = [mark[i : i + 2] for i in range(0, len(mark), 2)][:3]  # 料金 / 後納 / 郵便
    for row, text in enumerate(rows):
        lines.append(Line(FACE + 11.6 * MM, (132.6 - row * 3.6) * MM, 7.0, text))
    lines.append(Line(FACE + 26 * MM, 137 * MM, 9.0, "郵便はがき"))
    if len(content.postal_code) != len(POSTAL_BOXES_X) or not content.postal_code.isdigit():
        raise LayoutProblem("郵便番号が7桁ではありません")
    for x, digit in zip(POSTAL_BOXES_X, content.postal_code, strict=True):
        boxes.append(Box(x, POSTAL_BOXES_Y, *POSTAL_BOX))
        lines.append(Line(x + 1.6 * MM, POSTAL_BOXES_Y + 2.2 * MM, 12.0, digit))
    boxes.append(Box(FACE + 64.3 * MM, POSTAL_BOXES_Y + 3.8 * MM, 1.6 * MM, 0.4 * MM, fill=True))
    size, address = fit(content.address, ADDRESS_SIZES, ADDRESS_ROOM, 3, "住所")
    y = 116 * MM
    for text in address:
        y -= size * 1.4
        lines.append(Line(ADDRESS_LEFT, y, size, text))
    name_size, [name] = fit(f"{content.name}　様", NAME_SIZES, ADDRESS_ROOM, 1, "氏名")
    y -= 8 * MM
    lines.append(Line(ADDRESS_LEFT + 4 * MM, y, name_size, name))
    if with_barcode:
        try:
            boxes.extend(_bars(barcode.bar_kinds(content.postal_code, content.address)))
        except ValueError as error:
            raise LayoutProblem("カスタマバーコードを作れない住所です") from error
    lines.append(
        Line(
            ADDRESS_LEFT,
            10 * MM,
            6.5,
            f"申請番号 {content.application_number}　{TITLES[content.kind]}",
        )
    )
    return lines, boxes


def lay_out(content: NoticeContent, wording: Wording, *, with_barcode: bool) -> Postcard:
    """Both pages of the notice's postcard, or LayoutProblem (nothing is clipped)."""
    office = dict(wording.office)
    face_lines, face_boxes = _address_face(content, office, wording.postage_office, with_barcode)
    sender = flow(wording.sender(content), SENDER_PANELS, "差出人面")
    inner = flow(wording.notice(content), INNER_PANELS, "通知文")
    outer = Page((*sender, *face_lines), tuple(face_boxes))
    return Postcard(
        content.application_number,
        content.postal_code,
        content.kind,
        (outer, Page(tuple(inner), ())),
        with_barcode,
    )


def new_canvas(target: io.BytesIO) -> Canvas:
    fonts.registered_font()
    canvas = Canvas(
        target,
        pagesize=SHEET,
        initialFontName=fonts.FONT_NAME,
        initialFontSize=8,
        pageCompression=1,
    )
    canvas.setCreator("subsidy-notices")
    return canvas


def draw(canvas: Canvas, card: Postcard) -> None:
    for page in card.pages:
        for box in page.boxes:
            canvas.rect(
                box.x,
                box.y,
                box.width,
                box.height,
                stroke=0 if box.fill else 1,
                fill=1 if box.fill else 0,
            )
        size = 0.0
        for line in page.lines:
            if line.size != size:
                canvas.setFont(fonts.FONT_NAME, line.size)
                size = line.size
            canvas.drawString(line.x, line.y, line.text)
        canvas.showPage()


def render(cards: Iterable[Postcard], title: str = "通知書") -> bytes:
    """One PDF of the cards in the order given (two pages each)."""
    target = io.BytesIO()
    canvas = new_canvas(target)
    canvas.setTitle(title)
    for card in cards:
        draw(canvas, card)
    canvas.save()
    return target.getvalue()
