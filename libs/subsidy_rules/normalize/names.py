"""Name normalisation for matching: widths, spaces and common 旧字体.

Names are compared after NFKC (full/half width), with every kind of space removed
and the old character forms most often met in registers (髙, 﨑, 邊, 齋, 澤 ...)
mapped to their common forms. This is a comparison key only; the name as written is
what the ledger keeps and what notices print.
"""

from __future__ import annotations

import unicodedata

_OLD_FORMS = str.maketrans(
    {
        "髙": "高",
        "﨑": "崎",
        "邊": "辺",
        "邉": "辺",
        "齋": "斎",
        "齊": "斉",
        "澤": "沢",
        "濱": "浜",
        "櫻": "桜",
        "國": "国",
        "廣": "広",
        "德": "徳",
        "惠": "恵",
        "藏": "蔵",
        "嶋": "島",
        "嶌": "島",
        "冨": "富",
        "眞": "真",
        "壽": "寿",
        "實": "実",
        "與": "与",
        "榮": "栄",
        "龜": "亀",
        "瀨": "瀬",
        "淺": "浅",
        "檜": "桧",
        "槇": "槙",
        "萬": "万",
    }
)


def normalize_name(text: str) -> str:
    """The comparison form of a personal name."""
    folded = unicodedata.normalize("NFKC", text).translate(_OLD_FORMS)
    return "".join(folded.split())
