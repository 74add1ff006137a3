"""Text on the postcard's faces, laid out with the embedded font's own metrics (issue 8).

Nothing is clipped or dropped: a template's text flows from panel to panel, and text that
does not fit its panels, an address or name too long for the address face even at the
smallest allowed size, or a character the font has no glyph for raises `LayoutProblem`
with a message for the operator (which part, which code point: never the text itself).
Japanese lines break between any two characters, except that closing punctuation
(、。」）…) may hang past the margin rather than begin a line (禁則, ぶら下げ), and that what a
resident reads as one thing is never split across lines (`UNBREAKABLE`, issue 15: an amount
was once printed as "18,54 / 0円"): amounts with their 円, era and Western dates, document
numbers (新危危第123号), and any run of digits and Latin letters with the punctuation inside
it and the unit after it (application numbers, phone and postal codes, ＊＊＊＊567, 3か月).
Such a token moves whole to the next line; only a token wider than a whole line (which no
template prints) is broken between its characters, so that nothing is ever clipped.

Marks the templates use (wording.py): `# ` title (centred, larger), `## ` heading, `> `
right-aligned, `===` the next panel, a blank line a gap; any other line is a paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from subsidy_notices import fonts

MM = 72 / 25.4
BODY = 7.6
HEADING = 8.4
TITLE = 11.5
LEADING = 1.42
NO_LINE_END = frozenset("（「『【〔")
NO_LINE_START = frozenset("、。，．）」』】〕！？ー・：；ぁぃぅぇぉっゃゅょァィゥェォッャュョ")
_ALNUM = r"[＊*]*[0-9A-Za-z０-９](?:[0-9A-Za-z０-９,.:/\-]*[0-9A-Za-z０-９])?"
UNBREAKABLE = re.compile(
    r"(?:令和|平成|昭和|大正|明治)(?:元|[0-9]{1,2})年[0-9]{1,2}月[0-9]{1,2}日"  # 令和7年6月10日
    r"|[0-9]{4}年[0-9]{1,2}月[0-9]{1,2}日"  # 2025年6月10日
    r"|[\u3400-\u9fff\u30a1-\u30fa]{0,8}第[0-9０-９]+号"  # 新危危第123号
    rf"|〒?{_ALNUM}(?:円|号|条|項|日|件|か月|ヶ月|年度|年|月|時|分|歳|桁|％|%)?"  # 18,540円
)


class LayoutProblem(ValueError):
    """A notice that cannot be printed as it is (message for the operator, no personal data)."""


@dataclass(frozen=True, slots=True)
class Line:
    x: float
    y: float
    size: float
    text: str


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    width: float
    height: float
    fill: bool = False


@dataclass(frozen=True, slots=True)
class Panel:
    """A rectangle text flows into (points, origin bottom-left)."""

    left: float
    right: float
    top: float
    bottom: float


def width(text: str, size: float) -> float:
    widths = fonts.registered_font().face.charWidths
    return float(sum(widths.get(ord(c), 1000.0) for c in text)) * size / 1000


def check_glyphs(text: str, part: str) -> None:
    missing = fonts.lacking(text)
    if missing:
        codes = " ".join(f"U+{ord(c):04X}" for c in missing[:5])
        raise LayoutProblem(f"{part}にフォントにない文字があります（{codes}）")


def tokens(text: str) -> list[str]:
    """`text` as the units line breaking keeps whole: single characters, and the
    `UNBREAKABLE` tokens (module docstring)."""
    out: list[str] = []
    position = 0
    for match in UNBREAKABLE.finditer(text):
        out.extend(text[position : match.start()])
        out.append(match.group())
        position = match.end()
    out.extend(text[position:])
    return out


def wrap(text: str, size: float, room: float) -> list[str]:
    """Lines of `text` at most `room` wide (closing punctuation may hang; tokens that must
    not break move whole to the next line)."""
    widths = fonts.registered_font().face.charWidths
    scale = size / 1000

    def measure(token: str) -> float:
        return float(sum(widths.get(ord(c), 1000.0) for c in token)) * scale

    units: list[str] = []
    for token in tokens(text):
        # a token wider than a whole line cannot stay whole: it breaks like plain text
        units.extend(token if len(token) > 1 and measure(token) > room else [token])
    lines: list[str] = []
    current: list[str] = []
    used = 0.0
    for unit in units:
        w = measure(unit)
        if current and used + w > room and unit[0] not in NO_LINE_START:
            carried = [current.pop()] if len(current) > 1 and current[-1] in NO_LINE_END else []
            lines.append("".join(current).rstrip(" "))
            current = carried
            used = sum(measure(c) for c in carried)
            if unit == " ":
                continue
        current.append(unit)
        used += w
    if current or not lines:
        lines.append("".join(current))
    return lines


def fit(
    text: str, sizes: Sequence[float], room: float, max_lines: int, part: str
) -> tuple[float, list[str]]:
    """The largest of `sizes` at which `text` takes at most `max_lines` lines."""
    check_glyphs(text, part)
    for allowed in range(1, max_lines + 1):  # fewer lines first, then the larger size
        for size in sizes:
            lines = wrap(text, size, room)
            if len(lines) <= allowed:
                return size, lines
    raise LayoutProblem(f"{part}が長すぎて欄に収まりません")


class _Cursor:
    """Where the next line goes: the current panel and the baseline, moving on when full."""

    def __init__(self, panels: Sequence[Panel], part: str) -> None:
        self.panels = list(panels)
        self.part = part
        self.index = 0
        self.y = self.panels[0].top

    @property
    def panel(self) -> Panel:
        return self.panels[self.index]

    def next_panel(self) -> None:
        if self.index + 1 >= len(self.panels):
            raise LayoutProblem(f"{self.part}が紙面に収まりません")
        self.index += 1
        self.y = self.panel.top

    def down(self, height: float) -> float:
        if self.y - height < self.panel.bottom:
            self.next_panel()
        self.y -= height
        return self.y

    def gap(self, height: float) -> None:
        if self.y != self.panel.top:
            self.y -= height


def flow(marked: str, panels: Sequence[Panel], part: str) -> list[Line]:
    """Lay the marked text of a template into `panels`, in order (module docstring)."""
    check_glyphs(marked, part)
    out: list[Line] = []
    cursor = _Cursor(panels, part)
    for raw in marked.splitlines():
        line = raw.rstrip()
        if line.strip() == "===":
            cursor.next_panel()
            continue
        if not line.strip():
            cursor.gap(BODY * 0.6)
            continue
        if line.startswith("# "):
            size, text, align = TITLE, line[2:].strip(), "center"
        elif line.startswith("## "):
            size, text, align = HEADING, line[3:].strip(), "left"
        elif line.startswith("> "):
            size, text, align = BODY, line[2:].strip(), "right"
        else:
            size, text, align = BODY, line, "left"
        room = cursor.panel.right - cursor.panel.left
        for piece in wrap(text, size, room):
            baseline = cursor.down(size * LEADING)
            panel = cursor.panel
            if align == "center":
                x = panel.left + max(0.0, (panel.right - panel.left - width(piece, size)) / 2)
            elif align == "right":
                x = panel.right - width(piece, size)
            else:
                x = panel.left
            out.append(Line(x, baseline, size, piece))
    return out
